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

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from .base import (Hyperparameters as _Base, Method, hyperparameter, optional, positive_float,
                   positive_int, register)


@dataclass(frozen=True)
class Hyperparameters(_Base):
    """NegGrad+'s settings (tau None: the standard deviation of the training ages)."""

    method: ClassVar[str] = "neggrad"
    epochs: int = hyperparameter(1, positive_int, "epochs over D")
    lr: float = hyperparameter(1e-3, positive_float, "Adam learning rate")
    tau: float = hyperparameter(None, optional(positive_float), "cap of the forget loss (years)")


@register
class NegGradPlus(Method):
    """A copy of A(D) trained on D with the bounded NegGrad+ loss above: only the loss differs."""

    name = "neggrad"
    label = "NegGrad+"
    color = "#9467bd"
    trains_on = "forget_and_retain"
    in_default_comparison = False
    Hyperparameters = Hyperparameters

    def loss(self, data, forget_set):
        tau = float(data.ages[forget_set.train].std()) if self.hp.tau is None else self.hp.tau
        if tau <= 0:
            raise ValueError(f"NegGrad+ tau must be positive, got {tau} (all training ages are "
                             "equal)")
        is_forget = forget_set.mask(len(data))

        def neggrad_loss(model, x, y, batch_idx):
            flags = torch.from_numpy(is_forget[batch_idx]).to(x.device)
            out = model(x)
            zero = out.new_zeros(())
            l_r = F.l1_loss(out[~flags], y[~flags]) if (~flags).any() else zero
            l_f = F.l1_loss(out[flags], y[flags]) if flags.any() else zero
            share = flags.float().mean()
            return (1 - share) * l_r - share * torch.clamp(l_f, max=tau)

        return neggrad_loss
