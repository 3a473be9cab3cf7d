"""The trained-model cache (chapter 04-original-model, "Where models come from").

``get_or_train(spec, build, train)`` returns the model trained under ``spec``: loaded in a
second if any chapter (or script) trained it before, trained and stored otherwise.

The key is a hash of the whole spec, which names everything that determines the weights:
data fingerprint, split, forget spec, profile, model, hyperparameters, seed, and
``TRAINING_CODE_VERSION``. Files are written under a temporary name and renamed, with a
SHA-256 checksum beside them; a corrupt, truncated or mismatched file is retrained with a
warning, never used. A file lock stops two processes from training the same model at once.
"""
from __future__ import annotations

import hashlib
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from torch import nn

from ._io import file_lock, load_verified, save_with_checksum
from .config import cache_dir

TRAINING_CODE_VERSION = 5


def _canonical(spec: Dict[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True, default=str, separators=(",", ":"))


def spec_key(spec: Dict[str, Any]) -> str:
    """The cache key of a spec: a SHA-256 over its canonical JSON and the code version."""
    payload = _canonical({"spec": spec, "code_version": TRAINING_CODE_VERSION})
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def model_path(spec: Dict[str, Any]) -> Path:
    """Where the model for ``spec`` is (or would be) stored."""
    return cache_dir() / "models" / f"{spec_key(spec)}.pt"


@dataclass
class TrainedModel:
    """A model together with how it was made."""

    model: nn.Module
    spec: Dict[str, Any]
    key: str
    seconds: float                      # wall time of the training that produced it
    history: List[Dict] = field(default_factory=list)
    extra: Dict[str, Any] = field(default_factory=dict)
    from_cache: bool = False


def get_or_train(spec: Dict[str, Any], build: Callable[[], nn.Module],
                 train: Callable[[nn.Module], Optional[Dict[str, Any]]]) -> TrainedModel:
    """Load the model trained under ``spec``, or build it with ``build()`` and ``train(model)``.

    ``train`` trains the model in place and may return a dict with ``history`` and any other
    JSON-able facts (kept in ``extra``). Its wall time is measured and stored with the model.
    """
    spec = json.loads(_canonical(spec))
    key = spec_key(spec)
    path = model_path(spec)
    with file_lock(path.with_suffix(".lock")):
        if path.exists():
            try:
                payload = load_verified(path)
                if _canonical(payload.get("spec", {})) != _canonical(spec):
                    raise ValueError(f"{path}: stored spec differs from the requested one")
                model = build()
                model.load_state_dict(payload["state_dict"])
                model.eval()
                return TrainedModel(model=model, spec=spec, key=key, seconds=payload["seconds"],
                                    history=payload.get("history", []),
                                    extra=payload.get("extra", {}), from_cache=True)
            except (ValueError, KeyError, RuntimeError) as exc:
                warnings.warn(f"ignoring cached model ({exc}); retraining", stacklevel=2)
        model = build()
        start = time.perf_counter()
        result = train(model) or {}
        seconds = time.perf_counter() - start
        model.eval()
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        history = result.pop("history", [])
        save_with_checksum({"spec": spec, "state_dict": state, "seconds": seconds,
                            "history": history, "extra": result}, path)
        return TrainedModel(model=model, spec=spec, key=key, seconds=seconds, history=history,
                            extra=result, from_cache=False)
