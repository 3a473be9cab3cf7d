"""What every method shares: the :class:`Method` object, its registry, validated
hyperparameters and declared prerequisites (chapters 05-08).

**A method is one registered object.** Each module of this package defines one subclass of
:class:`Method` and registers it with ``@register`` where it is defined. The class declares,
once: its ``name`` and ``label``, its ``color`` in the figures, whether it ``edits_original``
(starts from A(D)) or trains a fresh model, its frozen ``Hyperparameters`` (defaults: the
reference values of its paper or code, cited in its module), the images it trains on
(``trains_on``), and what makes it different: its training ``targets``, its ``loss`` and the
models it needs first (``prerequisites``; Blindspot's B). Everything else (copying the
original, the training loop, the recipe) is the same path for every method, the original and
the retrained model included: :meth:`Method.train`. Every list of methods in the library, the
CLI, the chapters and the bench is read from the registry (:func:`registered`).

``Hyperparameters.from_profile(profile, **given)`` applies the profile's departures
(``Profile.method_settings``) and then the values given by the caller, and checks every value
once: an epoch count must be a whole number of at least 1, a learning rate a finite positive
number, and so on. ``lam=nan``, ``epochs=-1`` or ``epochs=1.7`` are refused with a ValueError
naming the method and the hyperparameter.
"""
from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Dict, List, Optional, Tuple, Type

import numpy as np
from torch import nn


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

    ``train(data, forget_set, profile, seed, device, progress)`` returns the trained model;
    ``settings`` is everything besides data, split, forget set, model and seed that determines
    it (part of its cache key); ``argument`` is the keyword of :meth:`Method.loss` that receives
    it, and ``role`` names it in the cache. ``images(profile, n_forget, n_retain)`` counts the
    images its training passes through a step; that work and its training time count towards
    the method's cost.
    """

    argument: str
    role: str
    settings: Dict[str, Any]
    train: Callable
    images: Callable
    prepare: Optional[Callable] = None      # applied to the model after loading (e.g. freeze)


def short_recipe(profile, epochs: int, lr: float):
    """A short training run on top of the profile's recipe (an unlearning edit, Blindspot's B):
    ``epochs`` at a constant Adam rate ``lr``, no weight decay, the profile's batch and crop."""
    return dataclasses.replace(profile.training, epochs=epochs, lr=lr, schedule="constant",
                               weight_decay=0.0)


# -- the method object ------------------------------------------------------------------------
TRAINS_ON = ("train", "retain", "forget_and_retain")


class Method:
    """One method, configured with its checked hyperparameters (``Method.configured``).

    A subclass declares (class attributes): ``name``, ``label``, ``color``, ``edits_original``,
    ``Hyperparameters``, ``trains_on`` (``"retain"``: D_r; ``"forget_and_retain"``: D, in the
    order D_f then D_r; ``"train"``: the whole training part, for the original model A(D)),
    ``forgets`` (False only for the original model, which needs no forget set) and
    ``in_default_comparison``. It overrides only what makes it different: :meth:`targets`,
    :meth:`loss`, :meth:`prerequisites`, or, for a method that is not a training run,
    :meth:`train` itself.
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    color: ClassVar[str] = "#aaaaaa"
    edits_original: ClassVar[bool] = True
    forgets: ClassVar[bool] = True
    trains_on: ClassVar[str] = "forget_and_retain"
    in_default_comparison: ClassVar[bool] = True
    Hyperparameters: ClassVar[Type[Hyperparameters]] = Hyperparameters

    def __init__(self, hp: Hyperparameters):
        if not isinstance(hp, self.Hyperparameters):
            raise ValueError(f"method {self.name!r} needs {self.Hyperparameters.__qualname__}, "
                             f"got {type(hp).__name__}")
        self.hp = hp

    @classmethod
    def configured(cls, profile, **given) -> "Method":
        """This method with the hyperparameters it runs with under ``profile`` (reference values,
        the profile's departures, then ``given``), checked (ValueError)."""
        return cls(cls.Hyperparameters.from_profile(profile, **given))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.hp!r})"

    # -- what a method may override --------------------------------------------------------------
    def recipe(self, profile):
        """The training recipe: the profile's for a fresh model; for an edit of A(D), the
        method's epochs and learning rate at a constant rate, batch and crop of the profile."""
        if not self.edits_original:
            return profile.training
        return short_recipe(profile, self.hp.epochs, self.hp.lr)

    def images(self, split, forget_set) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """(training images, validation images) of the one training run."""
        if self.trains_on == "train":
            return split.train, split.val
        if self.trains_on == "retain":
            return forget_set.retain, (None if self.edits_original else forget_set.val_retain)
        return forget_set.train, None

    def targets(self, data, forget_set, seed: int) -> Optional[np.ndarray]:
        """Training labels for every image of ``data`` (None: the true ages)."""
        return None

    def loss(self, data, forget_set, **needed):
        """The per-batch loss ``loss(model, x, y, batch_indices)`` (None: L1 to the targets).
        ``needed`` holds the prerequisite models by argument name."""
        return None

    def prerequisites(self) -> List[Prerequisite]:
        """The models this method needs before it runs (trained once through the cache)."""
        return []

    def training_images(self, profile, n_forget: int, n_retain: int) -> int:
        """Images passed through a training step: the recipe's epochs over the images it
        trains on, plus those of its prerequisites (a count that does not depend on the machine;
        chapters 06 and 08 compare it with the wall time)."""
        sizes = {"train": n_forget + n_retain, "retain": n_retain,
                 "forget_and_retain": n_forget + n_retain}
        own = self.recipe(profile).epochs * sizes[self.trains_on]
        return own + sum(p.images(profile, n_forget, n_retain) for p in self.prerequisites())

    def train(self, original: Optional[nn.Module], data, split, forget_set, profile, seed: int,
              device=None, progress: bool = True, **needed):
        """The model this method makes, and its training history: a copy of ``original``
        (``edits_original``) or a fresh model, trained once with :func:`training.fit` on
        :meth:`images` with :meth:`recipe`, :meth:`targets` and :meth:`loss`."""
        from ..models import build_model
        from ..training import fit

        if self.edits_original:
            model = copy.deepcopy(original)
        else:
            model = build_model(profile.model.architecture, profile.model.width, seed=seed)
        train, val = self.images(split, forget_set)
        history = fit(model, data, train, self.recipe(profile), seed=seed, device=device,
                      targets=self.targets(data, forget_set, seed),
                      loss=self.loss(data, forget_set, **needed), val_indices=val,
                      init_output=not self.edits_original, desc=self.label, progress=progress)
        return model, history


_REGISTRY: Dict[str, Type[Method]] = {}


def register(cls: Type[Method]) -> Type[Method]:
    """Class decorator: add a method to the registry (its ``name`` must be new)."""
    if not cls.name or cls.name in _REGISTRY:
        raise ValueError(f"cannot register method {cls.name!r}: expected a new, non-empty name")
    if cls.trains_on not in TRAINS_ON:
        raise ValueError(f"method {cls.name!r}: trains_on={cls.trains_on!r}, expected one of "
                         f"{', '.join(TRAINS_ON)}")
    if cls.Hyperparameters.method != cls.name:
        raise ValueError(f"method {cls.name!r}: its Hyperparameters are declared for "
                         f"{cls.Hyperparameters.method!r}")
    _REGISTRY[cls.name] = cls
    return cls


def registered() -> Dict[str, Type[Method]]:
    """Every registered method by name, in registration order."""
    return dict(_REGISTRY)


def method_class(name: str) -> Type[Method]:
    """The registered method called ``name`` (ValueError listing the valid names otherwise)."""
    key = str(name).strip().lower()
    if key not in _REGISTRY:
        raise ValueError(f"unknown method {name!r}: expected one of {', '.join(_REGISTRY)}")
    return _REGISTRY[key]
