"""Fine-tuning, a baseline (chapter 08-results).

Continue training the original model M on the retain set only, for a few epochs at a small
learning rate: minimise L_r = (1/|D_r|) sum_{(x,y) in D_r} |M(x) - y|. Forgetting happens only
through catastrophic forgetting of D_f. Reference: 5 epochs, Adam lr 1e-3.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import (Hyperparameters as _Base, Method, hyperparameter, positive_float, positive_int,
                   register)


@dataclass(frozen=True)
class Hyperparameters(_Base):
    """Fine-tuning's settings; the defaults are the reference values."""

    method: ClassVar[str] = "finetune"
    epochs: int = hyperparameter(5, positive_int, "epochs over D_r")
    lr: float = hyperparameter(1e-3, positive_float, "Adam learning rate")


@register
class FineTune(Method):
    """A copy of A(D) trained on D_r with the L1 loss: nothing else differs."""

    name = "finetune"
    label = "Fine-tune"
    color = "#1f77b4"
    trains_on = "retain"
    Hyperparameters = Hyperparameters
