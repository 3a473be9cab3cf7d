"""The original model A(D) (chapter 04-original-model).

Not an unlearning method: the model every method starts from, trained from scratch on the
whole training part D with the profile's recipe (the algorithm A of chapter 02). It is
registered beside the methods because every comparison lists it (as the "before").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import Hyperparameters as _Base, Method, register


@dataclass(frozen=True)
class Hyperparameters(_Base):
    """The original model has no hyperparameters of its own: it is the profile's recipe."""

    method: ClassVar[str] = "original"


@register
class Original(Method):
    """A(D): a fresh model trained on the training part (and validated on the validation part)."""

    name = "original"
    label = "Original"
    color = "#7f7f7f"
    edits_original = False
    forgets = False
    trains_on = "train"
    Hyperparameters = Hyperparameters
