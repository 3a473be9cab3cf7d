"""What every unlearning method shares: validated hyperparameters and declared prerequisites.

Each method module defines a frozen ``Hyperparameters`` dataclass whose defaults are the
reference values of Tarun et al. (2023); ``Hyperparameters.from_profile(profile, **given)``
applies the profile's departures (``Profile.method_settings``) and then the values given by the
caller, and checks every value once: an epoch count must be a whole number of at least 1, a
learning rate a finite positive number, and so on. ``lam=nan``, ``epochs=-1`` or ``epochs=1.7``
are refused with a ValueError naming the method and the hyperparameter.

A method that needs a model of its own before it runs (Blindspot: its blindspot model B)
declares it with :class:`Prerequisite`; the chapter context trains it once through the
trained-model cache and passes it to ``unlearn``.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Dict, Optional

import numpy as np


def _number(method: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{method} hyperparameter {name}={value!r}: expected a number")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{method} hyperparameter {name}={value!r}: expected a finite number")
    return value


def positive_int(method: str, name: str, value) -> int:
    """A whole number of at least 1 (1.0 is accepted as 1; 1.7 and -1 are not)."""
    number = _number(method, name, value)
    if number != int(number) or number < 1:
        raise ValueError(f"{method} hyperparameter {name}={value!r}: expected a whole number >= 1")
    return int(number)


def positive_float(method: str, name: str, value) -> float:
    number = _number(method, name, value)
    if number <= 0:
        raise ValueError(f"{method} hyperparameter {name}={value!r}: expected a number > 0")
    return number


def non_negative_float(method: str, name: str, value) -> float:
    number = _number(method, name, value)
    if number < 0:
        raise ValueError(f"{method} hyperparameter {name}={value!r}: expected a number >= 0")
    return number


def optional(check: Callable) -> Callable:
    """``check``, but None passes through (None means "derived from the data" or "all")."""
    def checked(method: str, name: str, value):
        return None if value is None else check(method, name, value)
    return checked


def boolean(method: str, name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{method} hyperparameter {name}={value!r}: expected True or False")
    return bool(value)


def hyperparameter(default, check: Callable, doc: str = ""):
    """A dataclass field with its check (used by :class:`Hyperparameters`)."""
    return field(default=default, metadata={"check": check, "doc": doc})


@dataclass(frozen=True)
class Hyperparameters:
    """Base of each method's hyperparameters: checked and normalised on construction."""

    method: ClassVar[str] = "method"

    def __post_init__(self):
        for f in dataclasses.fields(self):
            check = f.metadata.get("check")
            if check is not None:
                object.__setattr__(self, f.name, check(self.method, f.name, getattr(self, f.name)))

    @classmethod
    def from_profile(cls, profile, **given) -> "Hyperparameters":
        """The reference values, then the profile's departures, then every given value that is
        not None. ValueError for a name the method does not have."""
        names = [f.name for f in dataclasses.fields(cls)]
        settings = {**profile.settings_of(cls.method),
                    **{k: v for k, v in given.items() if v is not None}}
        unknown = sorted(set(settings) - set(names))
        if unknown:
            expected = ", ".join(names) if names else "none"
            raise ValueError(f"method {cls.method!r} has no hyperparameter {', '.join(unknown)}: "
                             f"expected some of {expected}")
        return cls(**settings)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Prerequisite:
    """A model a method needs before it runs, trained once through the trained-model cache.

    ``train(data, forget, profile, seed, device, progress)`` returns the trained model;
    ``settings`` is everything besides data, split, forget set, model and seed that determines
    it (part of its cache key); ``argument`` is the keyword of ``unlearn`` that receives it,
    and ``role`` names it in the cache. Its training time counts towards the method's cost.
    """

    argument: str
    role: str
    settings: Dict[str, Any]
    train: Callable
    prepare: Optional[Callable] = None      # applied to the model after loading (e.g. freeze)
