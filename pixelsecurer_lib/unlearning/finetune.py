"""Fine-tuning, a baseline (chapter 08-results).

Continue training the original model M on the retain set only, for a few epochs at a small
learning rate: minimise L_r = (1/|D_r|) sum_{(x,y) in D_r} |M(x) - y|. Forgetting happens only
through catastrophic forgetting of D_f. Reference: 5 epochs, Adam lr 1e-3.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from ..config import Profile
from ..data import AgeData, ForgetSet
from ..training import fit
from .base import Hyperparameters as _Base, hyperparameter, positive_float, positive_int


@dataclass(frozen=True)
class Hyperparameters(_Base):
    """Fine-tuning's settings; the defaults are the reference values."""

    method: ClassVar[str] = "finetune"
    epochs: int = hyperparameter(5, positive_int, "epochs over D_r")
    lr: float = hyperparameter(1e-3, positive_float, "Adam learning rate")


def training_images(profile: Profile, n_forget: int, n_retain: int) -> int:
    """Images passed through a training step at the profile's settings: epochs over D_r."""
    return Hyperparameters.from_profile(profile).epochs * n_retain


def unlearn(original: nn.Module, data: AgeData, forget: ForgetSet, profile: Profile, seed: int = 0,
            device=None, progress: bool = True, epochs=None, lr=None) -> nn.Module:
    """A copy of ``original`` trained on D_r for ``epochs`` at ``lr`` (profile defaults)."""
    hp = Hyperparameters.from_profile(profile, epochs=epochs, lr=lr)
    model = copy.deepcopy(original)
    fit(model, data, forget.retain, epochs=hp.epochs, lr=hp.lr,
        batch_size=profile.training.batch_size, seed=seed, device=device,
        crop_padding=profile.training.crop_padding, desc="fine-tuning on D_r", progress=progress)
    return model
