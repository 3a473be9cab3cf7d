"""Unlearning methods: each module has ``unlearn(original, data, forget, profile, seed, ...)``.

``METHODS`` maps a method name to its function. ``original`` is not a method (it is the
model before unlearning) but experiments list it beside them.
"""
from . import amnesiac, blindspot, finetune, neggrad, retrain

METHODS = {
    "retrain": retrain.unlearn,
    "finetune": finetune.unlearn,
    "amnesiac": amnesiac.unlearn,
    "blindspot": blindspot.unlearn,
    "neggrad": neggrad.unlearn,
}

METHOD_LABELS = {
    "original": "Original",
    "retrain": "Retrain (exact)",
    "finetune": "Fine-tune",
    "amnesiac": "Gaussian amnesiac",
    "blindspot": "Blindspot",
    "neggrad": "NegGrad+",
}


def get_method(name: str):
    """The ``unlearn`` function of a method; ValueError listing the valid names otherwise."""
    key = str(name).strip().lower()
    if key not in METHODS:
        raise ValueError(f"unknown method {name!r}: expected one of {', '.join(METHODS)}")
    return METHODS[key]
