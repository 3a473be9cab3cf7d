"""Unlearning methods: each module has ``unlearn(original, data, forget, profile, seed, ...)``.

``METHODS`` maps a method name to its function. ``original`` is not a method (it is the
model before unlearning) but experiments list it beside them.
"""
from . import amnesiac, blindspot, finetune, neggrad, retrain

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


def hyperparameter_defaults(name: str, profile) -> dict:
    """The hyperparameters a method uses when none are given, under ``profile``."""
    get_method(name)
    return MODULES[str(name).strip().lower()].defaults(profile)


def get_method(name: str):
    """The ``unlearn`` function of a method; ValueError listing the valid names otherwise."""
    key = str(name).strip().lower()
    if key not in METHODS:
        raise ValueError(f"unknown method {name!r}: expected one of {', '.join(METHODS)}")
    return METHODS[key]
