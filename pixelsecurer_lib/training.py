"""Training, prediction and evaluation (chapter 04-original-model).

The training algorithm A of chapter 02 made concrete: minimise the L1 loss
L(h, D) = (1/|D|) sum_{(x, y) in D} |h(x) - y| (the mean absolute error in years) with Adam.
Training images get light augmentation (horizontal flip, padded random crop); evaluation
never does. The reference code of Tarun et al. agrees for its MAEs, which come from
unaugmented test loaders; augmentation enters only the inputs of its W1 and of its
membership attack (where members are augmented but non-members are not, chapter 09).

Everything random is drawn from generators seeded by ``seed``, so on the CPU the same seed
gives the same weights and the same predictions.
"""
from __future__ import annotations

import copy
import random
import time
from typing import Callable, Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .config import TrainingRecipe, device_name
from .data.agedb import AgeData

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
SCHEDULES = ("constant", "onecycle", "plateau")
CHECKPOINTS = ("last", "best")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def choose_device(requested: Optional[str] = None) -> torch.device:
    """CUDA, then Apple MPS, then the CPU; ``requested`` (or ``PIXELSECURER_DEVICE``) overrides."""
    if isinstance(requested, torch.device):
        requested = requested.type if requested.index is None else str(requested)
    name = device_name(requested)
    base = name.split(":")[0]
    if base not in DEVICE_CHOICES:
        raise ValueError(f"unknown device {name!r}: expected one of {', '.join(DEVICE_CHOICES)}")
    mps_ok = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if base == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_ok:
            return torch.device("mps")
        return torch.device("cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but CUDA is not available here: "
                         "expected one of auto, cpu" + (", mps" if mps_ok else ""))
    if base == "mps" and not mps_ok:
        raise ValueError("device 'mps' was requested but Apple MPS is not available here: "
                         "expected one of auto, cpu" + (", cuda" if torch.cuda.is_available() else ""))
    return torch.device(name)


def to_input(images_uint8: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 images -> float in [-1, 1] (the reference's Normalize(0.5, 0.5)), on ``device``.

    The result is in channels-last memory order, which makes convolutions faster on CPUs.
    """
    x = images_uint8.to(device, non_blocking=True).float().div_(127.5).sub_(1.0)
    return x.contiguous(memory_format=torch.channels_last)


def augment(x: torch.Tensor, generator: torch.Generator, padding: int) -> torch.Tensor:
    """Random horizontal flip and a random crop of the zero-padded image (training only)."""
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=generator) < 0.5
    if flip.any():
        x = x.clone()
        x[flip.to(x.device)] = x[flip.to(x.device)].flip(-1)
    if padding <= 0:
        return x
    # zero padding in [0, 255] space is -1 after normalisation (black), like the reference
    padded = F.pad(x, (padding, padding, padding, padding), value=-1.0)
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator).tolist()
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator).tolist()
    out = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])
    return out.contiguous(memory_format=torch.channels_last)


LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor, np.ndarray], torch.Tensor]


def l1_loss_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_idx) -> torch.Tensor:
    """The default loss: L1 between predicted and target ages."""
    return F.l1_loss(model(x), y)


def fit(model: nn.Module, data: AgeData, indices, recipe: TrainingRecipe, *, seed: int,
        device=None, targets: Optional[np.ndarray] = None, loss: Optional[LossFn] = None,
        val_indices=None, init_output: bool = False, desc: str = "training",
        progress: bool = True, checkpoint: str = "last") -> List[Dict]:
    """Train ``model`` in place on ``data`` restricted to ``indices`` with ``recipe`` (epochs,
    batch size, Adam learning rate, schedule, weight decay, crop padding: a
    :class:`~pixelsecurer_lib.config.TrainingRecipe`) and return its history.

    ``checkpoint`` says which weights the model ends with: ``"last"`` (the last epoch's; what
    every profile uses, for the original, retrained and unlearned models alike) or ``"best"``
    (the epoch with the lowest ``val_mae`` on ``val_indices``, the reference code's rule: it
    saves the model whenever the validation loss improves). ``"best"`` needs ``val_indices``;
    the chosen epoch's history record gets ``"restored": True``.

    ``targets`` (length ``len(data)``) replaces the ages as labels (Gaussian amnesiac uses
    this). ``loss(model, x, y, batch_indices)`` replaces the L1 loss (Blindspot uses this).
    ``init_output`` starts the output bias at the mean target age (a fresh model then starts
    from the mean instead of from 0; the reference starts from 0 and needs more epochs).
    """
    if not isinstance(recipe, TrainingRecipe):
        raise ValueError(f"fit needs a TrainingRecipe (e.g. profile.training), got "
                         f"{type(recipe).__name__}")
    epochs, batch_size, lr = recipe.epochs, recipe.batch_size, recipe.lr
    schedule = recipe.schedule
    _check_fit_arguments(schedule, checkpoint, val_indices)
    indices = np.asarray(indices, dtype=np.int64)
    if len(indices) == 0:
        raise ValueError("cannot train on an empty set of images")
    device = choose_device(device)
    labels = torch.as_tensor(data.ages if targets is None else targets, dtype=torch.float32)
    loss_fn = loss or l1_loss_fn
    generator = torch.Generator().manual_seed(int(seed))
    torch.manual_seed(int(seed))
    model.to(device, memory_format=torch.channels_last)
    if init_output and hasattr(model, "head"):
        with torch.no_grad():
            model.head.bias.fill_(float(labels[indices].mean()))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=recipe.weight_decay)
    steps_per_epoch = (len(indices) + batch_size - 1) // batch_size
    schedule, scheduler = _scheduler(optimizer, schedule, lr, epochs * steps_per_epoch)
    bar = tqdm(total=epochs * steps_per_epoch, desc=desc, disable=not progress, leave=False,
               unit="batch")
    history, best = [], None
    for epoch in range(epochs):
        order = indices[torch.randperm(len(indices), generator=generator).numpy()]
        batches = [order[b * batch_size:(b + 1) * batch_size] for b in range(steps_per_epoch)]
        start = time.perf_counter()
        train_loss = _train_epoch(
            model, data, batches, labels, optimizer, loss_fn, device, generator,
            recipe.crop_padding, scheduler if schedule == "onecycle" else None, bar)
        record = {"epoch": epoch + 1, "train_loss": train_loss,
                  "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - start}
        best = _end_of_epoch(model, data, record, val_indices, device, schedule, scheduler,
                             checkpoint, best)
        history.append(record)
    bar.close()
    if checkpoint == "best" and best is not None:
        model.load_state_dict(best[2])
        history[best[1]]["restored"] = True
    model.eval()
    return history


def _end_of_epoch(model, data, record, val_indices, device, schedule, scheduler, checkpoint,
                  best):
    """Validate (``val_mae`` into ``record``), step a plateau schedule, and keep the best
    weights so far for ``checkpoint="best"``: the new ``best`` (val_mae, epoch, weights)."""
    if val_indices is not None and len(val_indices):
        record["val_mae"] = evaluate_mae(model, data, val_indices, device=device)
    if schedule == "plateau":
        scheduler.step(record.get("val_mae", record["train_loss"]))
    if checkpoint == "best" and (best is None or record["val_mae"] < best[0]):
        best = (record["val_mae"], record["epoch"] - 1, copy.deepcopy(model.state_dict()))
    return best


def _check_fit_arguments(schedule: str, checkpoint: str, val_indices) -> None:
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}: expected one of {', '.join(SCHEDULES)}")
    if checkpoint not in CHECKPOINTS:
        raise ValueError(f"unknown checkpoint rule {checkpoint!r}: expected one of "
                         f"{', '.join(CHECKPOINTS)}")
    if checkpoint == "best" and (val_indices is None or len(val_indices) == 0):
        raise ValueError("checkpoint='best' needs val_indices to pick the best epoch")


def _scheduler(optimizer, schedule: str, lr: float, total_steps: int):
    """(schedule, scheduler): one-cycle steps every batch, plateau once per epoch on the
    validation MAE (or the training loss), constant has none."""
    if schedule == "onecycle" and total_steps < 4:
        schedule = "constant"          # too few steps to warm up and anneal
    if schedule == "onecycle":
        # a quarter of the steps warming up, but at least two (fewer divide by zero in torch)
        return schedule, torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=lr, total_steps=total_steps, pct_start=max(0.25, 2.0 / total_steps))
    if schedule == "plateau":
        return schedule, torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=0.1, patience=10)
    return schedule, None


def _train_epoch(model, data, batches, labels, optimizer, loss_fn, device, generator,
                 crop_padding, step_scheduler, bar) -> float:
    """One pass over ``batches`` (index arrays); the mean training loss. ``step_scheduler``
    (one-cycle) steps after every batch."""
    model.train()
    total, count = 0.0, 0
    for batch_idx in batches:
        x = to_input(data.images[torch.from_numpy(batch_idx)], device)
        x = augment(x, generator, crop_padding)
        y = labels[torch.from_numpy(batch_idx)].to(device)
        loss = loss_fn(model, x, y, batch_idx)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step_scheduler is not None:
            step_scheduler.step()
        total += float(loss.detach()) * len(batch_idx)
        count += len(batch_idx)
        bar.update(1)
        bar.set_postfix(loss=f"{total / count:.2f}")
    return total / count


def inference_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode with every Conv2d directly followed by a BatchNorm2d
    (inside an ``nn.Sequential``) folded into one convolution.

    In eval mode batch normalisation is a fixed affine map, so folding it into the convolution
    gives the same outputs up to float rounding (about 1e-7 relative) and saves a third of the
    prediction time on a CPU. The model itself is left untouched.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    fused = copy.deepcopy(model).eval()
    for module in fused.modules():
        if not isinstance(module, nn.Sequential):
            continue
        for i in range(len(module) - 1):
            conv, bn = module[i], module[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and \
                    bn.running_mean is not None:
                module[i] = fuse_conv_bn_eval(conv, bn)
                module[i + 1] = nn.Identity()
    return fused


@torch.no_grad()
def predict(model: nn.Module, data: AgeData, indices, device=None,
            batch_size: int = 512) -> np.ndarray:
    """Predicted ages (float32) for ``indices``, in eval mode, without augmentation."""
    indices = np.asarray(indices, dtype=np.int64)
    device = choose_device(device)
    model.to(device, memory_format=torch.channels_last)
    net = inference_copy(model)
    out = []
    for start in range(0, len(indices), batch_size):
        batch_idx = torch.from_numpy(indices[start:start + batch_size])
        out.append(net(to_input(data.images[batch_idx], device)).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)


def evaluate_mae(model: nn.Module, data: AgeData, indices, device=None) -> float:
    """Mean absolute error in years on ``indices`` (NaN for an empty set)."""
    indices = np.asarray(indices, dtype=np.int64)
    if len(indices) == 0:
        return float("nan")
    preds = predict(model, data, indices, device=device)
    return float(np.abs(preds - data.ages[indices]).mean())
