"""What a chapter starts with: profile, device, data, split, and its models (every chapter).

``ctx = psl.setup_chapter(seed=0)`` seeds everything, picks the device once, prints one line
saying which profile, data set and device the page runs on, and returns a
:class:`ChapterContext`. The context loads the data lazily and hands out models, every one
through the one path of the trained-model cache (:func:`pixelsecurer_lib.cache.get_or_train`):

* ``ctx.original()`` -- A(D), the model trained on the whole training part;
* ``ctx.retrained(forget)`` -- A(D_r), exact unlearning;
* ``ctx.unlearned(method, forget, **hyperparameters)`` -- U(A(D), D, D_f) for a method, with
  the models the method declares it needs (Blindspot's B) trained first.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, Optional

import numpy as np
import torch

from .cache import TrainedModel, cached_predictions, get_or_train
from .config import SYNTHETIC, Profile, get_profile, resolve_data_root, static_build
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
    data_root: Optional[str] = None          # an AgeDB folder; None: the synthetic set
    progress: bool = True
    _data: Optional[AgeData] = field(default=None, repr=False)
    _split: Optional[Split] = field(default=None, repr=False)
    _forget: Dict[str, ForgetSet] = field(default_factory=dict, repr=False)
    _predictions: Dict[Any, np.ndarray] = field(default_factory=dict, repr=False)

    # -- data ---------------------------------------------------------------------------
    @property
    def data(self) -> AgeData:
        if self._data is None:
            self._data = load_dataset(self.profile, root=self.data_root or SYNTHETIC,
                                      progress=self.progress)
        return self._data

    @property
    def split(self) -> Split:
        """The training / validation / test split: AgeDB-DIR's when the folder has one."""
        if self._split is None:
            kind = "agedb-dir" if self.data.predefined_split is not None else "image"
            self._split = make_split(self.data, kind=kind, seed=SPLIT_SEED,
                                     val_fraction=self.profile.data.val_fraction,
                                     test_fraction=self.profile.data.test_fraction)
        return self._split

    def forget_set(self, spec) -> ForgetSet:
        """D_f and D_r for a forget spec such as ``"age:0-30"`` (see ``data.splits``)."""
        if isinstance(spec, ForgetSet):
            return spec
        key = str(spec)
        if key not in self._forget:
            self._forget[key] = forget_split(self.data, self.split, spec, seed=SPLIT_SEED)
        return self._forget[key]

    # -- models: one path through the cache ---------------------------------------------
    def _model(self, role: str, seed: int, train: Callable, forget: Optional[ForgetSet] = None,
               **settings) -> TrainedModel:
        """The model ``role`` for ``seed``: loaded if trained before, else ``train()`` (which
        returns a model, or a model and its history) and stored. The cache key covers the
        data, split, model, training recipe, seed, forget set and ``settings``."""
        spec = {"role": role, "data": self.data.fingerprint, "source": self.data.source,
                "image_size": self.data.image_size, "split": self.split.key(),
                "model": asdict(self.profile.model), "training": asdict(self.profile.training),
                "seed": int(seed), **settings}
        if forget is not None:
            spec["forget"] = forget.key()

        def fit_into(model):
            result = train()
            trained, history = result if isinstance(result, tuple) else (result, [])
            model.load_state_dict(trained.state_dict())
            return {"history": history}

        trained = get_or_train(spec, self._build, fit_into)
        trained.model.to(self.device).eval()
        return trained

    def _build(self):
        return build_model(self.profile.model.architecture, self.profile.model.width)

    def original(self, seed: Optional[int] = None) -> TrainedModel:
        """A(D): the model trained on the whole training part (cached)."""
        from .unlearning.retrain import train_from_scratch

        seed = self.seed if seed is None else seed
        return self._model("original", seed, lambda: train_from_scratch(
            self.data, self.split.train, self.profile, seed, self.device,
            val_indices=self.split.val, desc="original model on D", progress=self.progress))

    def retrained(self, forget, seed: Optional[int] = None) -> TrainedModel:
        """A(D_r): exact unlearning by retraining from scratch on the retain set (cached)."""
        from .unlearning.retrain import train_from_scratch

        seed = self.seed if seed is None else seed
        forget = self.forget_set(forget)
        return self._model("retrain", seed, lambda: train_from_scratch(
            self.data, forget.retain, self.profile, seed, self.device,
            val_indices=forget.val_retain, desc=f"retraining without {forget.spec}",
            progress=self.progress), forget=forget)

    def unlearned(self, method: str, forget, seed: Optional[int] = None,
                  **hyperparameters) -> TrainedModel:
        """U(A(D), D, D_f) for ``method`` (``finetune``, ``amnesiac``, ``blindspot``, ``neggrad``,
        or ``retrain``/``original``), cached. ``.seconds`` is the method's own wall time plus
        the training of what it needs first (Blindspot's B)."""
        from .unlearning import get_method, hyperparameters as checked, prerequisites

        seed = self.seed if seed is None else seed
        if method == "original":
            return self.original(seed)
        hp = checked(method, self.profile, **hyperparameters)     # ValueError on bad values
        if method == "retrain":
            return self.retrained(forget, seed)
        forget = self.forget_set(forget)
        original = self.original(seed)
        needed = {p.argument: self._prerequisite(p, forget, seed)
                  for p in prerequisites(method, hp)}
        unlearn = get_method(method)
        trained = self._model(
            f"unlearn:{method}", seed,
            lambda: unlearn(original.model, self.data, forget, self.profile, seed=seed,
                            device=self.device, progress=self.progress, **hp.to_dict(),
                            **{name: n.model for name, n in needed.items()}),
            forget=forget, original=original.key, hyperparameters=hp.to_dict(),
            prerequisites={name: n.key for name, n in needed.items()})
        trained.seconds += sum(n.seconds for n in needed.values())
        return trained

    def _prerequisite(self, prerequisite, forget: ForgetSet, seed: int) -> TrainedModel:
        trained = self._model(prerequisite.role, seed, lambda: prerequisite.train(
            self.data, forget, self.profile, seed, self.device, self.progress),
            forget=forget, settings=prerequisite.settings)
        if prerequisite.prepare is not None:
            prerequisite.prepare(trained.model)
        return trained

    def blindspot_model(self, forget, seed: Optional[int] = None, **hyperparameters) -> TrainedModel:
        """Blindspot's model B: a fresh model trained briefly on D_r only (cached, frozen)."""
        from .unlearning import hyperparameters as checked, prerequisites

        seed = self.seed if seed is None else seed
        hp = checked("blindspot", self.profile, **hyperparameters)
        (blind,) = prerequisites("blindspot", hp)
        return self._prerequisite(blind, self.forget_set(forget), seed)

    # -- predictions ----------------------------------------------------------------------
    def predict(self, model, indices) -> np.ndarray:
        """Predicted ages of ``model`` (or a TrainedModel) on ``indices``, without augmentation.

        Predictions of a TrainedModel are kept (in memory and in the cache, per model key and
        index set), so asking again, in this session or a later chapter, costs nothing.
        """
        indices = np.asarray(indices, dtype=np.int64)
        if not isinstance(model, TrainedModel):
            return predict(model, self.data, indices, device=self.device,
                           batch_size=self.profile.eval_batch_size)
        key = f"{model.key}-{hashlib.sha1(indices.tobytes()).hexdigest()[:16]}"
        if key not in self._predictions:
            self._predictions[key] = cached_predictions(
                key, len(indices), lambda: predict(model.model, self.data, indices,
                                                   device=self.device,
                                                   batch_size=self.profile.eval_batch_size))
        return self._predictions[key].copy()

    def describe(self) -> str:
        from . import __version__

        if self.data_root or self._data is not None and self._data.source == "agedb":
            data = f"AgeDB at {self.data_root or self._data.root}"
        else:
            data = (f"synthetic AgeDB-shaped set ({self.profile.data.subjects} subjects, "
                    f"{self.profile.data.image_size} px)")
        return (f"PixelSecurer {__version__} | profile: {self.profile.describe()} | data: {data} | "
                f"device: {self.device.type} | seed: {self.seed}")


def setup_chapter(seed: int = 0, load_data: bool = True, profile=None, device=None,
                  data_root=None, progress: Optional[bool] = None,
                  verbose: bool = True, cache=None) -> ChapterContext:
    """Seed everything, choose the device once, print what the page runs on; return the context.

    The profile comes from ``profile``, else ``PIXELSECURER_PROFILE`` (default ``cpu``); the data
    from ``data_root`` (an AgeDB folder, or ``"synthetic"``), else ``PIXELSECURER_AGEDB``, else
    the synthetic set; the device from ``device``, else ``PIXELSECURER_DEVICE`` (default: CUDA,
    then MPS, then CPU). ``progress`` (default: when a person runs the page, see
    ``interactive``) shows progress bars on long work; the static HTML build leaves them out,
    since nobody watches them there. ``cache`` (a folder, e.g. on Google Drive in Colab) keeps
    generated data and trained models there from now on.
    """
    from .config import use_cache_dir

    if cache is not None:
        use_cache_dir(cache)
    seed_everything(seed)
    from .plots import use_book_style

    use_book_style()                  # figures sized for the book's column
    if progress is None:
        progress = interactive()
    root = resolve_data_root(data_root)
    ctx = ChapterContext(profile=get_profile(profile), device=choose_device(device), seed=seed,
                         data_root=str(root) if root is not None else None,
                         progress=bool(progress))
    if load_data:
        ctx.data  # noqa: B018 - load (or generate) now, so the next cells start at once
    if verbose:
        print(ctx.describe())
    return ctx


def interactive() -> bool:
    """True when a person runs the notebook (Jupyter, Colab); False while the static HTML book
    is built (``make book`` sets ``PIXELSECURER_STATIC=1``), where a slider would be dead."""
    return not static_build()
