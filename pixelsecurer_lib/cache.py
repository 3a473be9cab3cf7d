"""The trained-model cache (chapter 04-original-model, "Where models come from").

``get_or_train(spec, build, train)`` returns the model trained under ``spec``: loaded in a
second if any chapter (or script) trained it before, or if the release ships a checkpoint
of exactly this spec (``SHIPPED_CHECKPOINTS``), trained and stored otherwise.
``cached_predictions(key, n, compute)`` does the same for a model's predictions on a set of
images, so a later chapter does not predict again what an earlier one did (the release ships
the predictions its chapters make with the shipped models, too).

The key is a hash of the whole spec, which names everything that determines the weights:
data fingerprint (for the synthetic set its identity once its pixels match the release's
reference, ``data.reference``; else a hash of every image's bytes), split, forget spec, profile, model,
hyperparameters, seed, and ``TRAINING_CODE_VERSION``. Files are written under a temporary
name and renamed, with a SHA-256 checksum beside them. Nothing loaded can run code: weights
are read with ``torch.load(weights_only=True)`` and predictions with
``numpy.load(allow_pickle=False)``. A corrupt, truncated, edited or mismatched file is
recomputed with a warning, never used. Only writers take a file lock (two processes never
train the same model at once); reading needs none, so a read-only cache that already holds
every model simply works.
"""
from __future__ import annotations

import hashlib
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch
from torch import nn

from ._io import (CorruptFile, StorageError, file_lock, load_array, load_tensors,
                  remove_leftovers, save_array, save_tensors)
from .config import cache_dir, use_shipped_checkpoints

TRAINING_CODE_VERSION = 5
MODEL_FORMAT = "pixelsecurer-model/2"     # weights-only payload; /1 was a pickled dict
# Small cpu-profile checkpoints shipped with the release (``make checkpoints`` writes them), so
# that a chapter opened alone in Colab need not train: used only when their key matches exactly.
# ``predictions/`` beside ``models/`` holds what the chapters predicted with them (keyed by model
# key and image set), so that it need not predict again either.
SHIPPED_CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"


def shipped_manifest() -> Optional[Dict[str, Any]]:
    """The shipped checkpoints' MANIFEST (plain JSON: command, machine, chapter times, models),
    or None when the release ships none (or this user cannot read them)."""
    try:
        return json.loads((SHIPPED_CHECKPOINTS / "MANIFEST.json").read_text())
    except (OSError, ValueError):
        return None


def shipped_cost_note() -> str:
    """What training without the shipped checkpoints costs, from their MANIFEST's chapter times."""
    manifest = shipped_manifest()
    if not manifest or not manifest.get("chapter_seconds"):
        return "every model a page needs is trained here"
    minutes = sum(manifest["chapter_seconds"].values()) / 60
    cores = manifest.get("machine", {}).get("cpus", "?")
    return (f"every model a page needs is trained here: minutes per chapter instead of seconds "
            f"(training all of them for the whole book took the release {minutes:.0f} min on "
            f"{cores} cores)")


def _canonical(spec: Dict[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True, default=str, separators=(",", ":"))


def spec_key(spec: Dict[str, Any]) -> str:
    """The cache key of a spec: a SHA-256 over its canonical JSON, the code version and the
    file format (files of an older format are then simply not looked at)."""
    payload = _canonical({"spec": spec, "code_version": TRAINING_CODE_VERSION,
                          "format": MODEL_FORMAT})
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def model_path(spec: Dict[str, Any]) -> Path:
    """Where the model for ``spec`` is (or would be) stored."""
    return cache_dir() / "models" / f"{spec_key(spec)}.pt"


def shipped_model_path(key: str) -> Path:
    """Where a checkpoint shipped with the package for ``key`` would be."""
    return SHIPPED_CHECKPOINTS / "models" / f"{key}.pt"


def _may_use_shipped(path: Path) -> bool:
    """True when the release ships ``path`` and it may be used (``PIXELSECURER_CHECKPOINTS``);
    a package folder this user cannot read counts as shipping nothing."""
    try:
        return use_shipped_checkpoints() and path.is_file()
    except OSError:
        return False


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
    path: Optional[Path] = None         # the file it was loaded from or stored to

    @property
    def shipped(self) -> bool:
        """True when it was loaded from the checkpoints shipped with the release."""
        return self.path is not None and SHIPPED_CHECKPOINTS in self.path.parents


def _load_model(path: Path, spec: Dict[str, Any], key: str,
                build: Callable[[], nn.Module]) -> TrainedModel:
    """The stored model at ``path``; CorruptFile unless it is exactly what ``spec`` asks for."""
    payload = load_tensors(path, MODEL_FORMAT)
    try:
        meta = json.loads(payload["meta"])
        state = payload["state_dict"]
        if not isinstance(meta, dict) or not isinstance(state, dict) or not all(
                isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
            raise TypeError("unexpected structure")
        seconds = float(meta["seconds"])
        history, extra = list(meta.get("history", [])), dict(meta.get("extra", {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptFile(f"{path}: not a stored model ({exc})") from None
    if _canonical(meta.get("spec", {})) != _canonical(spec):
        raise CorruptFile(f"{path}: stored spec differs from the requested one")
    model = build()
    try:
        model.load_state_dict(state)
    except RuntimeError:
        raise CorruptFile(f"{path}: weights do not fit the model") from None
    model.eval()
    return TrainedModel(model=model, spec=spec, key=key, seconds=seconds, history=history,
                        extra=extra, from_cache=True, path=path)


def get_or_train(spec: Dict[str, Any], build: Callable[[], nn.Module],
                 train: Callable[[nn.Module], Optional[Dict[str, Any]]]) -> TrainedModel:
    """Load the model trained under ``spec``, or build it with ``build()`` and ``train(model)``.

    ``train`` trains the model in place and may return a dict with ``history`` and any other
    JSON-able facts (kept in ``extra``). Its wall time is measured and stored with the model.
    """
    spec = json.loads(_canonical(spec))
    key = spec_key(spec)
    path = model_path(spec)
    if path.exists():                       # readers need no lock: files appear by rename
        try:
            return _load_model(path, spec, key, build)
        except CorruptFile:
            pass                            # re-checked (and reported) under the lock below
    shipped = shipped_model_path(key)
    if _may_use_shipped(shipped):                   # the release's own checkpoint of this exact spec
        try:
            return _load_model(shipped, spec, key, build)
        except CorruptFile as exc:
            warnings.warn(f"ignoring shipped checkpoint ({exc}); training", stacklevel=2)
    with file_lock(path.with_suffix(".lock")):
        if path.exists():
            try:
                return _load_model(path, spec, key, build)   # another process trained it
            except CorruptFile as exc:
                warnings.warn(f"ignoring cached model ({exc}); retraining", stacklevel=2)
        remove_leftovers(path)              # of a writer killed mid-save, under this lock
        model = build()
        start = time.perf_counter()
        result = dict(train(model) or {})
        seconds = time.perf_counter() - start
        model.eval()
        history = result.pop("history", [])
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        meta = {"spec": spec, "seconds": seconds, "history": history, "extra": result}
        forget_predictions(key)             # any kept for an earlier model of this key
        trained = TrainedModel(model=model, spec=spec, key=key, seconds=seconds, history=history,
                               extra=result, from_cache=False, path=path)
        try:
            save_tensors({"format": MODEL_FORMAT, "meta": json.dumps(meta, default=float),
                          "state_dict": state}, path)
        except StorageError as exc:         # full disk, read-only folder: keep it in memory
            warnings.warn(f"model not cached ({exc}); it is used from memory", stacklevel=2)
            trained.path = None
        return trained


def forget_predictions(model_key: str) -> None:
    """Remove the cached predictions of the model ``model_key``: a model trained again (its file
    was damaged) may differ from the one they were made with (another thread count, another
    CPU), so they would no longer be its predictions."""
    folder = cache_dir() / "predictions"
    for path in folder.glob(f"{model_key}-*"):
        try:
            path.unlink()
        except OSError:
            pass


def cached_predictions(key: str, count: int, compute: Callable[[], np.ndarray],
                       shipped_model: bool = True) -> np.ndarray:
    """``count`` predictions stored under ``key`` (``cache/predictions/KEY.npy``), or computed
    by ``compute()`` and stored. A file that fails its checksum, has another length or holds
    non-finite values is recomputed with a warning. When the cache folder cannot be written,
    the predictions are still returned (just not kept). The release's shipped predictions are
    used only for a model loaded from the shipped checkpoints (``shipped_model``)."""
    path = cache_dir() / "predictions" / f"{key}.npy"
    if path.exists():
        try:
            return load_array(path, shape=(count,), dtype=np.float32)
        except CorruptFile as exc:
            warnings.warn(f"ignoring cached predictions ({exc}); predicting again", stacklevel=2)
    shipped = SHIPPED_CHECKPOINTS / "predictions" / f"{key}.npy"
    if shipped_model and _may_use_shipped(shipped):                   # a shipped model's predictions, on the same images
        try:
            return load_array(shipped, shape=(count,), dtype=np.float32)
        except CorruptFile as exc:
            warnings.warn(f"ignoring shipped predictions ({exc}); predicting", stacklevel=2)
    predictions = np.asarray(compute(), dtype=np.float32)
    try:
        save_array(predictions, path)
    except ValueError as exc:               # StorageError: read-only or full cache folder
        warnings.warn(f"predictions not cached ({exc})", stacklevel=2)
    return predictions
