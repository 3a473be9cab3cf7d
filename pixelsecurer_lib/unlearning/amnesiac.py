"""Gaussian-amnesiac unlearning (chapter 07-gaussian-amnesiac).

Tarun et al. (2023), after Graves et al. (2021): give every forget sample a wrong label and
train briefly on the relabelled data set.

1. For each (x, y) in D_f draw y~ ~ N(mu, sigma^2), where mu and sigma are the mean and the
   standard deviation of the ages of the whole training set D; clip y~ to the valid age
   range [a_min, a_max] (the reference code does not clip; we do, since a negative age is
   not a label).
2. Train the original model M on D~ = D_r ∪ {(x, y~)} with the L1 loss for a short time
   (reference: 1 epoch, Adam lr 1e-3, retain data included).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from torch import nn

from ..config import Profile
from ..data import AgeData, ForgetSet
from ..training import fit
from .base import Hyperparameters as _Base, boolean, hyperparameter, positive_float, positive_int

AGE_RANGE = (0.0, 101.0)


def gaussian_labels(data: AgeData, forget: ForgetSet, seed: int = 0, clip: bool = True) -> np.ndarray:
    """Targets for every image: true ages, except D_f relabelled with clipped Gaussian draws."""
    train = np.concatenate([forget.forget, forget.retain])
    mu = float(data.ages[train].mean())
    sigma = float(data.ages[train].std(ddof=1))
    rng = np.random.default_rng(seed)
    draws = rng.normal(mu, sigma, size=len(forget.forget))
    if clip:
        draws = np.clip(draws, *AGE_RANGE)
    targets = data.ages.astype(np.float32).copy()
    targets[forget.forget] = draws
    return targets


@dataclass(frozen=True)
class Hyperparameters(_Base):
    """Gaussian amnesiac's settings; the defaults are the reference values (plus clipping)."""

    method: ClassVar[str] = "amnesiac"
    epochs: int = hyperparameter(1, positive_int, "epochs over the relabelled D")
    lr: float = hyperparameter(1e-3, positive_float, "Adam learning rate")
    clip: bool = hyperparameter(True, boolean, "clip the Gaussian labels to the age range")


def training_images(profile: Profile, n_forget: int, n_retain: int) -> int:
    """Images passed through a training step at the profile's settings: epochs over all of D."""
    return Hyperparameters.from_profile(profile).epochs * (n_forget + n_retain)


def unlearn(original: nn.Module, data: AgeData, forget: ForgetSet, profile: Profile, seed: int = 0,
            device=None, progress: bool = True, epochs=None, lr=None, clip=None) -> nn.Module:
    """A copy of ``original`` trained on D with D_f's labels replaced by Gaussian draws."""
    hp = Hyperparameters.from_profile(profile, epochs=epochs, lr=lr, clip=clip)
    model = copy.deepcopy(original)
    targets = gaussian_labels(data, forget, seed=seed, clip=hp.clip)
    train = np.concatenate([forget.forget, forget.retain])
    fit(model, data, train, targets=targets, epochs=hp.epochs, lr=hp.lr,
        batch_size=profile.training.batch_size, seed=seed, device=device,
        crop_padding=profile.training.crop_padding, desc="Gaussian amnesiac", progress=progress)
    return model
