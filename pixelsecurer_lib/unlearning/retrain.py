"""Exact unlearning by retraining (chapter 05-retraining).

U(h, D, D_f) = A(D_r): forget D_f by training a fresh model from scratch on the retain set
D_r = D \\ D_f with the same recipe as the original. Exact, and the costliest option.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import Hyperparameters as _Base, Method, register


@dataclass(frozen=True)
class Hyperparameters(_Base):
    """Retraining has no hyperparameters of its own: it is the profile's training recipe."""

    method: ClassVar[str] = "retrain"


@register
class Retrain(Method):
    """A(D_r): a fresh model trained on D_r alone (validated on the validation part's D_r)
    with the profile's recipe. ``original`` is not used: that is the point of retraining."""

    name = "retrain"
    label = "Retrain (exact)"
    color = "#000000"
    edits_original = False
    trains_on = "retain"
    Hyperparameters = Hyperparameters
