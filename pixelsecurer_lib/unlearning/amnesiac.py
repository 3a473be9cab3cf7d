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

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..data import AgeData, ForgetSet
from .base import (Hyperparameters as _Base, Method, boolean, hyperparameter, positive_float,
                   positive_int, register)

AGE_RANGE = (0.0, 101.0)


def gaussian_labels(data: AgeData, forget_set: ForgetSet, seed: int = 0,
                    clip: bool = True) -> np.ndarray:
    """Targets for every image: true ages, except D_f relabelled with clipped Gaussian draws."""
    train = forget_set.train
    mu = float(data.ages[train].mean())
    sigma = float(data.ages[train].std(ddof=1))
    rng = np.random.default_rng(seed)
    draws = rng.normal(mu, sigma, size=len(forget_set.forget))
    if clip:
        draws = np.clip(draws, *AGE_RANGE)
    targets = data.ages.astype(np.float32).copy()
    targets[forget_set.forget] = draws
    return targets


@dataclass(frozen=True)
class Hyperparameters(_Base):
    """Gaussian amnesiac's settings; the defaults are the reference values (plus clipping)."""

    method: ClassVar[str] = "amnesiac"
    epochs: int = hyperparameter(1, positive_int, "epochs over the relabelled D")
    lr: float = hyperparameter(1e-3, positive_float, "Adam learning rate")
    clip: bool = hyperparameter(True, boolean, "clip the Gaussian labels to the age range")


@register
class GaussianAmnesiac(Method):
    """A copy of A(D) trained on D with the L1 loss, D_f's ages replaced by Gaussian draws:
    only the targets differ from fine-tuning."""

    name = "amnesiac"
    label = "Gaussian amnesiac"
    color = "#2ca02c"
    trains_on = "forget_and_retain"
    Hyperparameters = Hyperparameters

    def targets(self, data, forget_set, seed):
        return gaussian_labels(data, forget_set, seed=seed, clip=self.hp.clip)
