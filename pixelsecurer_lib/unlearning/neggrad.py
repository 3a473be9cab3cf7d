"""NegGrad+, a baseline (chapter 08-results).

Kurmanji et al. (2023): descend on the retain loss while ascending on the forget loss. A
regression loss has no upper bound, so plain ascent would push forget predictions to
infinity; we bound it. For a batch with forget share l_f:

L = (1 - l_f) * L_r - l_f * min(L_f, tau),

where L_r and L_f are the L1 losses on the batch's retain and forget samples against the true
ages, and tau (default: the standard deviation of the training ages, the error of a model
that only knows the mean) caps the ascent: once the forget error exceeds tau, that term has
no gradient.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import Profile
from ..data import AgeData, ForgetSet
from ..training import fit
from .base import Hyperparameters as _Base, hyperparameter, optional, positive_float, positive_int


@dataclass(frozen=True)
class Hyperparameters(_Base):
    """NegGrad+'s settings (tau None: the standard deviation of the training ages)."""

    method: ClassVar[str] = "neggrad"
    epochs: int = hyperparameter(1, positive_int, "epochs over D")
    lr: float = hyperparameter(1e-3, positive_float, "Adam learning rate")
    tau: float = hyperparameter(None, optional(positive_float), "cap of the forget loss (years)")


def training_images(profile: Profile, n_forget: int, n_retain: int) -> int:
    """Images passed through a training step at the profile's settings: epochs over all of D."""
    return Hyperparameters.from_profile(profile).epochs * (n_forget + n_retain)


def unlearn(original: nn.Module, data: AgeData, forget: ForgetSet, profile: Profile, seed: int = 0,
            device=None, progress: bool = True, tau=None, epochs=None, lr=None) -> nn.Module:
    """A copy of ``original`` trained with the bounded NegGrad+ loss above."""
    hp = Hyperparameters.from_profile(profile, tau=tau, epochs=epochs, lr=lr)
    train = np.concatenate([forget.forget, forget.retain])
    tau = float(data.ages[train].std()) if hp.tau is None else hp.tau
    if tau <= 0:
        raise ValueError(f"NegGrad+ tau must be positive, got {tau} (all training ages are equal)")
    is_forget_all = np.zeros(len(data), dtype=bool)
    is_forget_all[forget.forget] = True

    def loss_fn(m, x, y, batch_idx):
        flags = torch.from_numpy(is_forget_all[batch_idx]).to(x.device)
        out = m(x)
        zero = out.new_zeros(())
        l_r = F.l1_loss(out[~flags], y[~flags]) if (~flags).any() else zero
        l_f = F.l1_loss(out[flags], y[flags]) if flags.any() else zero
        share = flags.float().mean()
        return (1 - share) * l_r - share * torch.clamp(l_f, max=tau)

    model = copy.deepcopy(original)
    fit(model, data, train, epochs=hp.epochs, lr=hp.lr,
        batch_size=profile.training.batch_size, seed=seed, device=device,
        crop_padding=profile.training.crop_padding, loss_fn=loss_fn, desc="NegGrad+",
        progress=progress)
    return model
