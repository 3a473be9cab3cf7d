"""Exact unlearning by retraining (chapter 05-retraining).

U(h, D, D_f) = A(D_r): forget D_f by training a fresh model from scratch on the retain set
D_r = D \\ D_f with the same recipe as the original. Exact, and the costliest option.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from ..config import Profile
from ..data import AgeData, ForgetSet
from ..models import build_model
from ..training import fit
from .base import Hyperparameters as _Base


@dataclass(frozen=True)
class Hyperparameters(_Base):
    """Retraining has no hyperparameters of its own: it is the profile's training recipe."""

    method: ClassVar[str] = "retrain"


def train_from_scratch(data: AgeData, indices, profile: Profile, seed: int, device=None,
                       val_indices=None, desc: str = "training", progress: bool = True):
    """A fresh model trained on ``indices`` with the profile's recipe: (model, history)."""
    recipe = profile.training
    model = build_model(profile.model.architecture, profile.model.width, seed=seed)
    history = fit(model, data, indices, epochs=recipe.epochs, lr=recipe.lr,
                  batch_size=recipe.batch_size, seed=seed, device=device,
                  schedule=recipe.schedule, weight_decay=recipe.weight_decay,
                  crop_padding=recipe.crop_padding, val_indices=val_indices,
                  init_output=True, desc=desc, progress=progress)
    return model, history


def training_images(profile: Profile, n_forget: int, n_retain: int) -> int:
    """Images passed through a training step: the profile's epochs over D_r."""
    return profile.training.epochs * n_retain


def unlearn(original: nn.Module, data: AgeData, forget: ForgetSet, profile: Profile, seed: int = 0,
            device=None, progress: bool = True, **hyperparameters) -> nn.Module:
    """Retrain from scratch on D_r; ``original`` is not used (it is the point of retraining)."""
    Hyperparameters.from_profile(profile, **hyperparameters)     # refuses any given value
    model, _ = train_from_scratch(data, forget.retain, profile, seed, device=device,
                                  desc="retraining on D_r", progress=progress)
    return model
