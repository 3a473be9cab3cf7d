"""The anamnesis index (AIN): how fast does a model relearn what it forgot? (chapter 09)

Chundawat et al. (2023) introduced the index and Tarun et al. (2023) report it for deep
regression. Let A(D) be the original model, U the unlearned model, A(D_r) the retrained one,
and L_f(h) the mean absolute error of h on the validation images of the forget set. Each model
is fine-tuned (Adam, lr 10^-3, batch 256, at most 10 epochs) and after every step L_f is
measured; the *relearn time* r(h) is the number of steps until

    L_f(h) <= (1 + alpha) * L_f(A(D)),      alpha = 0.05 by default,

i.e. until h is back within alpha of the original model's forget error. Then

    AIN = r(U) / r(A(D_r)).

An AIN near 1 means U relearns D_f as slowly as a model that never saw it (good forgetting);
an AIN near 0 means the forgotten knowledge is still there, ready to come back in a few steps;
well above 1 suggests the method damaged the model beyond forgetting.

As in the reference code, the relearning data is the whole training part D (not D_f alone),
the check happens after each step (so r >= 1), and a model that never gets within alpha keeps
the cap (all steps of ``max_epochs``) with ``reached`` False. Unlike the reference, the models
passed in are left untouched (each is relearned on a copy) and the batches are drawn from a
seeded generator, so the same seed gives the same step counts on the CPU.
"""
from __future__ import annotations

import copy
from typing import Dict, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data.agedb import AgeData
from .training import augment, choose_device, predict, to_input

DEFAULT_ALPHA = 0.05
DEFAULT_LR = 1e-3
DEFAULT_BATCH_SIZE = 256
DEFAULT_MAX_EPOCHS = 10


def relearn_steps(model: nn.Module, data: AgeData, train_indices, eval_indices,
                  target_mae: float, *, lr: float = DEFAULT_LR,
                  batch_size: int = DEFAULT_BATCH_SIZE, max_epochs: int = DEFAULT_MAX_EPOCHS,
                  seed: int = 0, crop_padding: int = 4, device=None) -> Dict[str, float]:
    """Steps of fine-tuning a copy of ``model`` on ``train_indices`` until its MAE on
    ``eval_indices`` is at most ``target_mae``: ``steps``, ``reached``, ``final_mae``."""
    train_indices = np.asarray(train_indices, dtype=np.int64)
    eval_indices = np.asarray(eval_indices, dtype=np.int64)
    if len(train_indices) == 0 or len(eval_indices) == 0:
        raise ValueError("relearning needs non-empty training and evaluation index sets")
    if max_epochs < 1 or batch_size < 1:
        raise ValueError(f"max_epochs and batch_size must be positive, got {max_epochs}, {batch_size}")
    device = choose_device(device)
    net = copy.deepcopy(model).to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(int(seed))
    ages = torch.as_tensor(data.ages, dtype=torch.float32)
    eval_ages = data.ages[eval_indices].astype(np.float64)
    steps, current = 0, float("nan")
    for _ in range(max_epochs):
        order = train_indices[torch.randperm(len(train_indices), generator=generator).numpy()]
        for start in range(0, len(order), batch_size):
            batch = torch.from_numpy(order[start:start + batch_size])
            net.train()
            x = augment(to_input(data.images[batch], device), generator, crop_padding)
            loss = F.l1_loss(net(x), ages[batch].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
            current = float(np.abs(predict(net, data, eval_indices, device=device)
                                   - eval_ages).mean())
            if current <= target_mae:
                return {"steps": steps, "reached": True, "final_mae": current}
    return {"steps": steps, "reached": False, "final_mae": current}


def anamnesis_index(original: nn.Module, unlearned: nn.Module, retrained: nn.Module,
                    data: AgeData, train_indices, eval_indices, *, alpha: float = DEFAULT_ALPHA,
                    seed: int = 0, device=None, **relearn) -> Dict[str, float]:
    """AIN = r(unlearned) / r(retrained), with the target (1 + alpha) * L_f(original).

    ``train_indices``: the relearning data (the reference: the whole training part D);
    ``eval_indices``: where L_f is measured (the reference: the forget part of the validation
    set). ``relearn`` passes ``lr``, ``batch_size``, ``max_epochs``, ``crop_padding`` on to
    :func:`relearn_steps`. Returns ``ain``, ``target_mae``, ``original_forget_mae`` and the
    two relearn results (``unlearned_*``, ``retrained_*``).
    """
    if alpha < 0:
        raise ValueError(f"alpha must be 0 or more, got {alpha}")
    eval_indices = np.asarray(eval_indices, dtype=np.int64)
    if len(eval_indices) == 0:
        raise ValueError("the anamnesis index needs forget images to measure L_f on")
    device = choose_device(device)
    original_mae = float(np.abs(predict(original, data, eval_indices, device=device)
                                - data.ages[eval_indices]).mean())
    target = (1.0 + alpha) * original_mae
    runs = {name: relearn_steps(model, data, train_indices, eval_indices, target, seed=seed,
                                device=device, **relearn)
            for name, model in (("unlearned", unlearned), ("retrained", retrained))}
    out: Dict[str, Optional[float]] = {
        "ain": runs["unlearned"]["steps"] / runs["retrained"]["steps"],
        "target_mae": target, "original_forget_mae": original_mae, "alpha": alpha}
    for name, run in runs.items():
        out.update({f"{name}_{k}": v for k, v in run.items()})
    return out


def methods_anamnesis(ctx, methods, forget, seed: int = 0, *, alpha: float = DEFAULT_ALPHA,
                      **relearn) -> list:
    """AIN of each of ``methods`` on the forget spec ``forget`` for one seed, from a chapter
    context (one row per method). Relearning uses the training part D; L_f is measured on the
    validation images of D_f (the reference's choice; the test images of D_f when the
    validation part has none). The retrained model is relearned once and shared by all rows."""
    if alpha < 0:
        raise ValueError(f"alpha must be 0 or more, got {alpha}")
    fs = ctx.forget_set(forget)
    evaluation = fs.val_forget if len(fs.val_forget) else fs.test_forget
    if len(evaluation) == 0:
        raise ValueError(f"forget set {fs.spec} has no validation or test images to measure L_f on")
    relearn.setdefault("crop_padding", ctx.profile.training.crop_padding)
    original_mae = float(np.abs(ctx.predict(ctx.original(seed), evaluation)
                                - ctx.data.ages[evaluation]).mean())
    target = (1.0 + alpha) * original_mae

    def steps(model):
        return relearn_steps(model, ctx.data, ctx.split.train, evaluation, target, seed=seed,
                             device=ctx.device, **relearn)

    retrained = steps(ctx.retrained(fs, seed).model)
    rows = []
    for method in methods:
        run = steps(ctx.unlearned(method, fs, seed).model)
        rows.append({"forget": str(fs.spec), "method": method, "seed": seed,
                     "ain": run["steps"] / retrained["steps"], "alpha": alpha,
                     "target_mae": target, "original_forget_mae": original_mae,
                     "eval_images": int(len(evaluation)),
                     **{f"unlearned_{k}": v for k, v in run.items()},
                     **{f"retrained_{k}": v for k, v in retrained.items()}})
    return rows
