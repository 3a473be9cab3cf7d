"""What a chapter starts with (every chapter): ``ctx = psl.setup_chapter(seed=0)`` seeds
everything, picks the device once, prints what the page runs on, and returns a
:class:`ChapterContext`, which loads the data lazily and hands out the models of
:mod:`pixelsecurer_lib.recipes` (``ctx.original()``, ``ctx.retrained(forget)``,
``ctx.unlearned(method, forget, **hyperparameters)``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

import numpy as np
import torch

from . import recipes
from .cache import TrainedModel
from .config import (SYNTHETIC, Profile, get_profile, interactive, resolve_data_root,
                     static_build, use_cache_dir)
from .data import AgeData, ForgetSet, Split, forget_split, load_dataset, make_split
from .training import choose_device, seed_everything

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

    # -- models: each made once, through the cache (see ``recipes``) ---------------------
    def _seed(self, seed: Optional[int]) -> int:
        return self.seed if seed is None else int(seed)

    def original(self, seed: Optional[int] = None) -> TrainedModel:
        """A(D): the model trained on the whole training part (cached)."""
        return recipes.original(self, self._seed(seed))

    def retrained(self, forget, seed: Optional[int] = None) -> TrainedModel:
        """A(D_r): exact unlearning by retraining from scratch on the retain set (cached)."""
        return recipes.retrained(self, self.forget_set(forget), self._seed(seed))

    def unlearned(self, method: str, forget, seed: Optional[int] = None,
                  **hyperparameters) -> TrainedModel:
        """U(A(D), D, D_f) for ``method`` (``finetune``, ``amnesiac``, ``blindspot``, ``neggrad``,
        or ``retrain``/``original``), cached; hyperparameters are checked first."""
        return recipes.unlearned(self, method, forget, self._seed(seed), **hyperparameters)

    def blindspot_model(self, forget, seed: Optional[int] = None, **hyperparameters) -> TrainedModel:
        """Blindspot's model B: a fresh model trained briefly on D_r only (cached, frozen)."""
        return recipes.blindspot_model(self, self.forget_set(forget), self._seed(seed),
                                       **hyperparameters)

    def predict(self, model, indices) -> np.ndarray:
        """Predicted ages of ``model`` (or a TrainedModel) on ``indices``, without augmentation;
        a TrainedModel's are kept, so asking again (here or in a later chapter) costs nothing."""
        return recipes.predictions(self, model, indices)

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
    """Seed everything, choose the device once, print what the page runs on; the context.

    Each argument beats its environment variable (see ``config``): ``profile`` (default
    ``cpu``), ``data_root`` (an AgeDB folder or ``"synthetic"``), ``device`` (CUDA, then MPS,
    then CPU), ``cache`` (a folder, e.g. on Google Drive in Colab, kept from now on).
    ``progress`` shows progress bars when a person runs the page (``interactive``)."""
    from . import renditions
    from .plots import use_book_style

    if cache is not None:
        use_cache_dir(cache)
    seed_everything(seed)
    use_book_style()                  # figures sized for the book's column
    if static_build():
        renditions.register()         # and, in the HTML book, a narrow copy for phones
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
