"""What a chapter starts with: profile, device, data, split, and its models (every chapter).

``ctx = psl.setup_chapter(seed=0)`` seeds everything, picks the device once, prints one line
saying which profile, data set and device the page runs on, and returns a
:class:`ChapterContext`. The context loads the data lazily and hands out models through the
trained-model cache:

* ``ctx.original()`` -- A(D), the model trained on the whole training part;
* ``ctx.retrained(forget)`` -- A(D_r), exact unlearning;
* ``ctx.unlearned(method, forget, **hyperparameters)`` -- U(A(D), D, D_f) for a method.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

import numpy as np
import torch

from .cache import TrainedModel, get_or_train
from .config import Profile, get_profile
from .data import AgeData, ForgetSet, Split, forget_split, load_dataset, make_split
from .models import build_model
from .training import choose_device, predict, seed_everything

SPLIT_SEED = 0


@dataclass
class ChapterContext:
    """Profile, device and data of a chapter, with cached access to its models."""

    profile: Profile
    device: torch.device
    seed: int = 0
    data_root: Optional[str] = None
    split_kind: str = "image"
    progress: bool = True
    _data: Optional[AgeData] = field(default=None, repr=False)
    _split: Optional[Split] = field(default=None, repr=False)
    _forget: Dict[str, ForgetSet] = field(default_factory=dict, repr=False)
    _predictions: Dict[Any, np.ndarray] = field(default_factory=dict, repr=False)

    # -- data ---------------------------------------------------------------------------
    @property
    def data(self) -> AgeData:
        if self._data is None:
            self._data = load_dataset(self.profile, root=self.data_root, progress=self.progress)
        return self._data

    @property
    def split(self) -> Split:
        if self._split is None:
            kind = self.split_kind
            if kind == "image" and self.data.predefined_split is not None:
                kind = "agedb-dir"
            self._split = make_split(self.data, kind=kind, seed=SPLIT_SEED,
                                     val_fraction=self.profile.val_fraction,
                                     test_fraction=self.profile.test_fraction)
        return self._split

    def forget_set(self, spec) -> ForgetSet:
        """D_f and D_r for a forget spec such as ``"age:0-30"`` (see ``data.splits``)."""
        if isinstance(spec, ForgetSet):
            return spec
        key = str(spec)
        if key not in self._forget:
            self._forget[key] = forget_split(self.data, self.split, spec, seed=SPLIT_SEED)
        return self._forget[key]

    # -- models -------------------------------------------------------------------------
    def _base_spec(self, seed: int) -> Dict[str, Any]:
        return {"data": self.data.fingerprint, "source": self.data.source,
                "image_size": self.data.image_size, "split": self.split.key(),
                "profile": self.profile.to_dict(), "seed": int(seed)}

    def _build(self):
        return build_model(self.profile.model, self.profile.width)

    def original(self, seed: Optional[int] = None) -> TrainedModel:
        """A(D): the model trained on the whole training part (cached)."""
        from .unlearning.retrain import train_from_scratch

        seed = self.seed if seed is None else seed
        spec = {"role": "original", **self._base_spec(seed)}

        def train(model):
            trained, history = train_from_scratch(self.data, self.split.train, self.profile, seed,
                                                  self.device, val_indices=self.split.val,
                                                  desc="original model on D",
                                                  progress=self.progress)
            model.load_state_dict(trained.state_dict())
            return {"history": history}

        return self._to_device(get_or_train(spec, self._build, train))

    def retrained(self, forget, seed: Optional[int] = None) -> TrainedModel:
        """A(D_r): exact unlearning by retraining from scratch on the retain set (cached)."""
        from .unlearning.retrain import train_from_scratch

        seed = self.seed if seed is None else seed
        forget = self.forget_set(forget)
        spec = {"role": "retrain", "forget": forget.key(), **self._base_spec(seed)}

        def train(model):
            trained, history = train_from_scratch(self.data, forget.retain, self.profile, seed,
                                                  self.device, val_indices=forget.val_retain,
                                                  desc=f"retraining without {forget.spec}",
                                                  progress=self.progress)
            model.load_state_dict(trained.state_dict())
            return {"history": history}

        return self._to_device(get_or_train(spec, self._build, train))

    def unlearned(self, method: str, forget, seed: Optional[int] = None,
                  **hyperparameters) -> TrainedModel:
        """U(A(D), D, D_f) for ``method`` (``finetune``, ``amnesiac``, ``blindspot``, ``neggrad``,
        or ``retrain``/``original``), cached. The method's own wall time is in ``.seconds``."""
        from .unlearning import get_method

        seed = self.seed if seed is None else seed
        if method == "original":
            return self.original(seed)
        if method == "retrain":
            return self.retrained(forget, seed)
        unlearn = get_method(method)
        hyperparameters = self._normalise_hyperparameters(method, hyperparameters)
        forget = self.forget_set(forget)
        original = self.original(seed)
        spec = {"role": f"unlearn:{method}", "forget": forget.key(), "original": original.key,
                "hyperparameters": hyperparameters, **self._base_spec(seed)}

        extra_args, extra_seconds = {}, 0.0
        if method == "blindspot":
            blind = self.blindspot_model(forget, seed)
            extra_args, extra_seconds = {"blind": blind.model}, blind.seconds
            spec["blindspot_model"] = blind.key

        def train(model):
            result = unlearn(original.model, self.data, forget, self.profile, seed=seed,
                             device=self.device, progress=self.progress, **extra_args,
                             **hyperparameters)
            model.load_state_dict(result.state_dict())
            return {}

        trained = get_or_train(spec, self._build, train)
        trained.seconds += extra_seconds      # Blindspot's cost includes training B
        return self._to_device(trained)

    def _normalise_hyperparameters(self, method: str, hyperparameters: Dict[str, Any]) -> Dict[str, Any]:
        """Drop settings equal to the defaults and write numbers one way, so that
        ``lam=50``, ``lam=50.0`` and no ``lam`` at all share one cached model."""
        from .unlearning import hyperparameter_defaults

        defaults = hyperparameter_defaults(method, self.profile)
        unknown = sorted(set(hyperparameters) - set(defaults))
        if unknown:
            raise ValueError(f"method {method!r} has no hyperparameter {', '.join(unknown)}: "
                             f"expected some of {', '.join(defaults)}")
        out = {}
        for name, value in hyperparameters.items():
            if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
                value = int(value) if name in ("k", "epochs") else float(value)
            if value != defaults[name]:
                out[name] = value
        return out

    def blindspot_model(self, forget, seed: Optional[int] = None) -> TrainedModel:
        """Blindspot's model B: a fresh model trained briefly on D_r only (cached, frozen)."""
        from .unlearning.blindspot import train_blindspot_model

        seed = self.seed if seed is None else seed
        forget = self.forget_set(forget)
        spec = {"role": "blindspot-model", "forget": forget.key(), **self._base_spec(seed)}

        def train(model):
            blind = train_blindspot_model(self.data, forget, self.profile, seed, self.device,
                                          progress=self.progress)
            model.load_state_dict(blind.state_dict())
            return {}

        from .unlearning.blindspot import freeze

        trained = self._to_device(get_or_train(spec, self._build, train))
        freeze(trained.model)
        return trained

    def _to_device(self, trained: TrainedModel) -> TrainedModel:
        trained.model.to(self.device).eval()
        return trained

    # -- predictions ----------------------------------------------------------------------
    def predict(self, model, indices) -> np.ndarray:
        """Predicted ages of ``model`` (or a TrainedModel) on ``indices``, without augmentation.

        Predictions of a TrainedModel are remembered (per model key and index set), so asking
        again within a session costs nothing.
        """
        indices = np.asarray(indices, dtype=np.int64)
        if not isinstance(model, TrainedModel):
            return predict(model, self.data, indices, device=self.device,
                           batch_size=self.profile.eval_batch_size)
        key = f"{model.key}-{hashlib.sha1(indices.tobytes()).hexdigest()[:16]}"
        if key not in self._predictions:
            self._predictions[key] = _cached_predictions(
                key, lambda: predict(model.model, self.data, indices, device=self.device,
                                     batch_size=self.profile.eval_batch_size))
        return self._predictions[key].copy()

    def describe(self) -> str:
        from . import __version__

        if self.data_root or self._data is not None and self._data.source == "agedb":
            data = f"AgeDB at {self.data_root or self._data.root}"
        else:
            data = (f"synthetic AgeDB-shaped set ({self.profile.subjects} subjects, "
                    f"{self.profile.image_size} px)")
        return (f"PixelSecurer {__version__} | profile: {self.profile.describe()} | data: {data} | "
                f"device: {self.device.type} | seed: {self.seed}")


def _cached_predictions(key: str, compute) -> np.ndarray:
    """Predictions stored beside the models (``cache/predictions/KEY.npy``), so that a later
    chapter does not predict again what an earlier one did. A bad file is recomputed."""
    from ._io import atomic_path
    from .config import cache_dir

    path = cache_dir() / "predictions" / f"{key}.npy"
    if path.exists():
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError):
            pass
    preds = np.asarray(compute(), dtype=np.float32)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, preds)
    return preds


def setup_chapter(seed: int = 0, load_data: bool = True, profile=None, device=None,
                  data_root=None, progress: Optional[bool] = None,
                  verbose: bool = True, cache=None) -> ChapterContext:
    """Seed everything, choose the device once, print what the page runs on; return the context.

    The profile comes from ``PIXELSECURER_PROFILE`` (default ``cpu``), the data from
    ``PIXELSECURER_AGEDB`` (default: the synthetic set), the device from
    ``PIXELSECURER_DEVICE`` (default: CUDA, then MPS, then CPU). ``progress`` (default: when a
    person runs the page, see ``interactive``) shows progress bars on long work; the static
    HTML build leaves them out, since nobody watches them there. ``cache`` (a folder, e.g. on
    Google Drive in Colab) keeps generated data and trained models there from now on.
    """
    import os

    from .config import use_cache_dir

    if cache is not None:
        use_cache_dir(cache)

    seed_everything(seed)
    from .plots import use_book_style

    use_book_style()                  # figures sized for the book's column
    if progress is None:
        progress = interactive()
    ctx = ChapterContext(profile=get_profile(profile), device=choose_device(device), seed=seed,
                         data_root=str(data_root) if data_root else os.environ.get(
                             "PIXELSECURER_AGEDB") or None, progress=bool(progress))
    if load_data:
        ctx.data  # noqa: B018 - load (or generate) now, so the next cells start at once
    if verbose:
        print(ctx.describe())
    return ctx


def interactive() -> bool:
    """True when a person runs the notebook (Jupyter, Colab); False while the static HTML book
    is built (``make book`` sets ``PIXELSECURER_STATIC=1``), where a slider would be dead."""
    import os

    return os.environ.get("PIXELSECURER_STATIC", "").strip() not in ("1", "true", "yes")
