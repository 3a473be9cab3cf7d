"""Which models a chapter uses and how each is made, all through one path of the cache
(chapters 04-07).

* ``original`` -- A(D): trained from scratch on the whole training part;
* ``retrained`` -- A(D_r): exact unlearning, trained from scratch on the retain set;
* ``unlearned`` -- U(A(D), D, D_f) for a method, after the models the method declares it
  needs (``prerequisites``; Blindspot's B) have been made the same way.

Each is ``get_or_train(spec, ...)`` with a spec that names the data, split, model, training
recipe, seed, forget set and whatever else determines the weights. ``ChapterContext`` calls
these; they take the context for its data, split, profile, device and progress setting.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict
from typing import Callable

import numpy as np

from .cache import TrainedModel, cached_predictions, get_or_train
from .models import build_model
from .training import predict


def get_model(ctx, role: str, seed: int, train: Callable, forget=None, **settings) -> TrainedModel:
    """The model ``role`` for ``seed``: loaded if trained before, else ``train()`` (which returns
    a model, or a model and its history) and stored; moved to the context's device."""
    spec = {"role": role, "data": ctx.data.fingerprint, "source": ctx.data.source,
            "image_size": ctx.data.image_size, "split": ctx.split.key(),
            "model": asdict(ctx.profile.model), "training": asdict(ctx.profile.training),
            "seed": int(seed), **settings}
    if forget is not None:
        spec["forget"] = forget.key()

    def fit_into(model):
        result = train()
        trained, history = result if isinstance(result, tuple) else (result, [])
        model.load_state_dict(trained.state_dict())
        return {"history": history}

    def build():
        return build_model(ctx.profile.model.architecture, ctx.profile.model.width)

    trained = get_or_train(spec, build, fit_into)
    trained.model.to(ctx.device).eval()
    return trained


def original(ctx, seed: int) -> TrainedModel:
    """A(D): the model trained on the whole training part."""
    from .unlearning.retrain import train_from_scratch

    return get_model(ctx, "original", seed, lambda: train_from_scratch(
        ctx.data, ctx.split.train, ctx.profile, seed, ctx.device, val_indices=ctx.split.val,
        desc="original model on D", progress=ctx.progress))


def retrained(ctx, forget, seed: int) -> TrainedModel:
    """A(D_r): exact unlearning by retraining from scratch on the retain set."""
    from .unlearning.retrain import train_from_scratch

    return get_model(ctx, "retrain", seed, lambda: train_from_scratch(
        ctx.data, forget.retain, ctx.profile, seed, ctx.device, val_indices=forget.val_retain,
        desc=f"retraining without {forget.spec}", progress=ctx.progress), forget=forget)


def prerequisite(ctx, needed, forget, seed: int) -> TrainedModel:
    """A model a method declared it needs (a ``Prerequisite``), made once through the cache."""
    trained = get_model(ctx, needed.role, seed, lambda: needed.train(
        ctx.data, forget, ctx.profile, seed, ctx.device, ctx.progress),
        forget=forget, settings=needed.settings)
    if needed.prepare is not None:
        needed.prepare(trained.model)
    return trained


def unlearned(ctx, method: str, forget, seed: int, **hyperparameters) -> TrainedModel:
    """U(A(D), D, D_f) for ``method``, its hyperparameters checked first (ValueError). For
    ``original`` and ``retrain`` the models above. ``.seconds`` is the method's own wall time
    plus that of what it needed first (Blindspot's B)."""
    from .unlearning import get_method, hyperparameters as checked, prerequisites

    if method == "original":
        return original(ctx, seed)
    hp = checked(method, ctx.profile, **hyperparameters)
    forget = ctx.forget_set(forget)
    if method == "retrain":
        return retrained(ctx, forget, seed)
    original_model = original(ctx, seed)
    needed = {p.argument: prerequisite(ctx, p, forget, seed) for p in prerequisites(method, hp)}
    unlearn = get_method(method)
    trained = get_model(
        ctx, f"unlearn:{method}", seed,
        lambda: unlearn(original_model.model, ctx.data, forget, ctx.profile, seed=seed,
                        device=ctx.device, progress=ctx.progress, **hp.to_dict(),
                        **{name: n.model for name, n in needed.items()}),
        forget=forget, original=original_model.key, hyperparameters=hp.to_dict(),
        prerequisites={name: n.key for name, n in needed.items()})
    trained.seconds += sum(n.seconds for n in needed.values())
    return trained


def blindspot_model(ctx, forget, seed: int, **hyperparameters) -> TrainedModel:
    """Blindspot's model B (its declared prerequisite), made once through the cache."""
    from .unlearning import hyperparameters as checked, prerequisites

    (blind,) = prerequisites("blindspot", checked("blindspot", ctx.profile, **hyperparameters))
    return prerequisite(ctx, blind, forget, seed)


def predictions(ctx, model, indices) -> np.ndarray:
    """Predicted ages of ``model`` (an ``nn.Module`` or a TrainedModel) on ``indices``. A
    TrainedModel's are kept in memory (``ctx._predictions``) and in the cache, per model key
    and index set."""
    indices = np.asarray(indices, dtype=np.int64)

    def compute(net):
        return predict(net, ctx.data, indices, device=ctx.device,
                       batch_size=ctx.profile.eval_batch_size)

    if not isinstance(model, TrainedModel):
        return compute(model)
    key = f"{model.key}-{hashlib.sha1(indices.tobytes()).hexdigest()[:16]}"
    if key not in ctx._predictions:
        ctx._predictions[key] = cached_predictions(key, len(indices), lambda: compute(model.model))
    return ctx._predictions[key].copy()
