"""Exact unlearning by retraining (chapter 05-retraining).

U(h, D, D_f) = A(D_r): forget D_f by training a fresh model from scratch on the retain set
D_r = D \\ D_f with the same recipe as the original. Exact, and the costliest option.
"""
from __future__ import annotations

from torch import nn

from ..config import Profile
from ..data import AgeData, ForgetSet
from ..models import build_model
from ..training import fit


def train_from_scratch(data: AgeData, indices, profile: Profile, seed: int, device=None,
                       val_indices=None, desc: str = "training", progress: bool = True):
    """A fresh model trained on ``indices`` with the profile's recipe: (model, history)."""
    model = build_model(profile.model, profile.width, seed=seed)
    history = fit(model, data, indices, epochs=profile.epochs, lr=profile.lr,
                  batch_size=profile.batch_size, seed=seed, device=device,
                  schedule=profile.schedule, weight_decay=profile.weight_decay,
                  crop_padding=crop_padding(profile), val_indices=val_indices,
                  init_output=True, desc=desc, progress=progress)
    return model, history


def crop_padding(profile: Profile) -> int:
    """Padding of the random crop: the reference's 16 px in the paper profile, 4 px otherwise."""
    return 16 if profile.name == "paper" else 4


def with_defaults(defaults: dict, **given) -> dict:
    """The hyperparameters a method runs with: ``defaults`` overridden by every given value
    that is not None."""
    return {**defaults, **{name: value for name, value in given.items() if value is not None}}


def defaults(profile: Profile) -> dict:
    """Retraining has no hyperparameters of its own: it is the profile's recipe."""
    return {}


def training_images(profile: Profile, n_forget: int, n_retain: int) -> int:
    """Images passed through a training step: the profile's epochs over D_r."""
    return profile.epochs * n_retain


def unlearn(original: nn.Module, data: AgeData, forget: ForgetSet, profile: Profile, seed: int = 0,
            device=None, progress: bool = True, **hyperparameters) -> nn.Module:
    """Retrain from scratch on D_r; ``original`` is not used (it is the point of retraining)."""
    if hyperparameters:
        raise ValueError(f"retrain takes no hyperparameters, got {sorted(hyperparameters)}")
    model, _ = train_from_scratch(data, forget.retain, profile, seed, device=device,
                                  desc="retraining on D_r", progress=progress)
    return model
