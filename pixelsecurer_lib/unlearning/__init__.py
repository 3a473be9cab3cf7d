"""Unlearning methods: each module has ``unlearn(original, data, forget, profile, seed, ...)``.

``METHODS`` maps a method name to its function; each method's module also owns its
``Hyperparameters`` (reference values, the profile's departures, checked once) and may declare
``prerequisites(hp)``, the models it needs before it runs (Blindspot: its model B). ``original``
is not a method (it is the model before unlearning) but experiments list it beside them.
"""
from . import amnesiac, blindspot, finetune, neggrad, retrain
from .base import Hyperparameters, Prerequisite  # noqa: F401

MODULES = {"retrain": retrain, "finetune": finetune, "amnesiac": amnesiac,
           "blindspot": blindspot, "neggrad": neggrad}
METHODS = {name: module.unlearn for name, module in MODULES.items()}

METHOD_LABELS = {
    "original": "Original",
    "retrain": "Retrain (exact)",
    "finetune": "Fine-tune",
    "amnesiac": "Gaussian amnesiac",
    "blindspot": "Blindspot",
    "neggrad": "NegGrad+",
}


def module_of(name: str):
    """The module of a method (ValueError listing the valid names otherwise)."""
    key = str(name).strip().lower()
    if key not in MODULES:
        raise ValueError(f"unknown method {name!r}: expected one of {', '.join(MODULES)}")
    return MODULES[key]


def get_method(name: str):
    """The ``unlearn`` function of a method; ValueError listing the valid names otherwise."""
    return module_of(name).unlearn


def hyperparameters(name: str, profile, **given) -> Hyperparameters:
    """The checked hyperparameters ``name`` runs with under ``profile``, with ``given`` applied."""
    return module_of(name).Hyperparameters.from_profile(profile, **given)


def hyperparameter_defaults(name: str, profile) -> dict:
    """The hyperparameters a method uses when none are given, under ``profile``."""
    return hyperparameters(name, profile).to_dict()


def prerequisites(name: str, hp: Hyperparameters):
    """The models ``name`` needs before it runs with ``hp`` (a list of Prerequisite)."""
    declare = getattr(module_of(name), "prerequisites", None)
    return list(declare(hp)) if declare is not None else []


def training_images(name: str, profile, n_forget: int, n_retain: int) -> int:
    """How many images ``name`` passes through a training step under ``profile``'s settings,
    for a forget set of ``n_forget`` and a retain set of ``n_retain`` images: a count of work
    that does not depend on the machine (chapters 06 and 08 compare it with the wall time)."""
    return int(module_of(name).training_images(profile, n_forget, n_retain))


def cost_ratio(name: str, profile, n_forget: int, n_retain: int) -> float:
    """``training_images`` of a method divided by that of retraining on D_r."""
    return (training_images(name, profile, n_forget, n_retain)
            / training_images("retrain", profile, n_forget, n_retain))
