"""Unlearning methods, each one registered object (chapters 05-08; see ``base.Method``).

Importing this package registers every method, in the order below; that order is the order of
every table and figure. Everything a caller needs about the methods is read from the registry:

* :func:`names` -- every registered name (``original`` and ``retrain`` included, since every
  comparison lists them), or only those that edit A(D) (``edits_original=True``), or those of
  the default comparison;
* :func:`labels`, :func:`colors` -- how tables and figures name and draw them;
* :func:`configured` -- a method with its checked hyperparameters under a profile;
* :func:`cost_ratio` -- its counted training work against retraining's.

Adding a method is one new module here (a ``Hyperparameters`` dataclass and a ``Method``
subclass decorated with ``@register``), its import below, and its test: see the README's
"Adding a method".
"""
from typing import Dict, List

from . import original, retrain, finetune, amnesiac, blindspot, neggrad  # noqa: F401 (registers)
from .base import Hyperparameters, Method, Prerequisite, method_class, registered  # noqa: F401


def names(edits_original=None, default_only: bool = False) -> List[str]:
    """Registered method names in registration order; ``edits_original`` True/False keeps only
    the methods that do (or do not) start from A(D); ``default_only`` keeps the default
    comparison of the CLI and ``run_experiment``."""
    return [name for name, cls in registered().items()
            if (edits_original is None or cls.edits_original == edits_original)
            and (not default_only or cls.in_default_comparison)]


def labels() -> Dict[str, str]:
    """How the book names each method in tables and figures."""
    return {name: cls.label for name, cls in registered().items()}


def colors() -> Dict[str, str]:
    """Each method's colour in the book's figures."""
    return {name: cls.color for name, cls in registered().items()}


def configured(name: str, profile, **given) -> Method:
    """The method ``name`` with the hyperparameters it runs with under ``profile``, ``given``
    applied and every value checked (ValueError naming a bad one)."""
    return method_class(name).configured(profile, **given)


def hyperparameters(name: str, profile, **given) -> Hyperparameters:
    """The checked hyperparameters ``name`` runs with under ``profile``, with ``given`` applied."""
    return configured(name, profile, **given).hp


def training_images(name: str, profile, n_forget: int, n_retain: int) -> int:
    """How many images ``name`` passes through a training step under ``profile``'s settings,
    for a forget set of ``n_forget`` and a retain set of ``n_retain`` images (``Method``)."""
    return int(configured(name, profile).training_images(profile, n_forget, n_retain))


def cost_ratio(name: str, profile, n_forget: int, n_retain: int) -> float:
    """``training_images`` of a method divided by that of retraining on D_r."""
    return (training_images(name, profile, n_forget, n_retain)
            / training_images("retrain", profile, n_forget, n_retain))
