"""What the autograder of the unlearning assignment measures (shipped beside the notebook).

The tests of ``unlearning-assignment`` (public and hidden) call these functions instead of
trusting variables of the notebook: they build their own context for the assigned forget set
and seed, run the notebook's ``unlearn`` once on a copy of the original model that is in
training mode, and count the images that pass through a training step while it runs.

``FORGET`` and ``SEED`` are the class's variant: ``make assignment FORGET=age:LO-HI
VARIANT_SEED=N`` rewrites them here and in the notebook (``course/assign.py``).
"""
from __future__ import annotations

import copy
import inspect

import numpy as np
import torch
from torch import nn

FORGET = "age:0-30"
SEED = 0

COMMON_PARAMETERS = ("original", "data", "forget", "profile", "seed", "device", "progress")
_RUNS: dict = {}


def context():
    """The assignment's context (profile from the environment, the assigned seed), cached."""
    if "ctx" not in _RUNS:
        import pixelsecurer_lib as psl
        ctx = psl.setup_chapter(seed=SEED, progress=False, verbose=False)
        _RUNS["ctx"] = ctx
        _RUNS["fs"] = ctx.forget_set(FORGET)
    return _RUNS["ctx"], _RUNS["fs"]


def hyperparameters(unlearn):
    """The parameters of ``unlearn`` after the common signature (``**hp`` not included)."""
    params = list(inspect.signature(unlearn).parameters.values())
    return [p for p in params[len(COMMON_PARAMETERS):]
            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]


def count_training_images(function, *args, **kwargs):
    """Call ``function`` and count the images that went through a training step meanwhile.

    An image counts once per forward pass of an outermost module that is in training mode
    with gradients on (the same count as ``psl.unlearning.training_images``); frozen
    teachers (eval mode or ``torch.no_grad``) do not count. Returns (result, count).
    """
    depth = [0]
    count = [0]

    def before(module, inputs):
        if depth[0] == 0 and module.training and torch.is_grad_enabled() and inputs:
            x = inputs[0]
            if isinstance(x, torch.Tensor) and x.dim() == 4:
                count[0] += int(x.shape[0])
        depth[0] += 1

    def after(module, inputs, output):
        depth[0] = max(0, depth[0] - 1)

    handles = [nn.modules.module.register_module_forward_pre_hook(before),
               nn.modules.module.register_module_forward_hook(after)]
    try:
        result = function(*args, **kwargs)
    finally:
        for handle in handles:
            handle.remove()
    return result, count[0]


def graded_run(unlearn):
    """Run ``unlearn`` as the grader does, once per function: on a training-mode copy of the
    original model, with the assigned forget set and seed, without progress bars.

    A call that raises (or is stopped by the grader's time limit) is remembered, so the other
    tests fail at once instead of calling it again. Returns a dict: ``model`` (what it returned), ``given`` (the model it was given),
    ``state_before`` (the given model's weights before the call), ``images`` (counted
    training images), ``ctx``, ``fs`` and ``original`` (the cached A(D)).
    """
    key = ("run", id(unlearn))
    if key in _RUNS and _RUNS[key]["function"] is unlearn:
        if "error" in _RUNS[key]:         # failed (or ran out of time) once: fail at once again
            raise RuntimeError(f"unlearn failed when the grader called it: {_RUNS[key]['error']}")
        return _RUNS[key]
    ctx, fs = context()
    original = ctx.original()
    given = copy.deepcopy(original.model).train()
    state_before = {k: v.detach().clone() for k, v in given.state_dict().items()}
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    try:
        model, images = count_training_images(unlearn, given, ctx.data, fs, ctx.profile, seed=SEED,
                                              device=ctx.device, progress=False)
    except Exception as exc:
        _RUNS[key] = {"function": unlearn, "error": f"{type(exc).__name__}: {exc}"}
        raise
    run = {"function": unlearn, "model": model, "given": given, "state_before": state_before,
           "images": images, "ctx": ctx, "fs": fs, "original": original}
    _RUNS[key] = run
    return run


def retraining_images():
    """Images that retraining on D_r passes through a training step (the library's count)."""
    import pixelsecurer_lib as psl
    ctx, fs = context()
    return psl.unlearning.training_images("retrain", ctx.profile, len(fs.forget), len(fs.retain))


def forget_outputs(model):
    """The model's predictions on D_f (a copy in eval mode, so the model is not changed)."""
    ctx, fs = context()
    return ctx.predict(copy.deepcopy(model).eval(), fs.forget)
