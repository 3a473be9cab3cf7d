"""What a chapter starts with (every chapter): ``ctx = psl.setup_chapter(seed=0)`` seeds
everything, picks the device once, prints what the page runs on, and returns a
:class:`ChapterContext`, which loads the data lazily and makes every model a chapter uses
through one path of the trained-model cache (chapters 04-07):

* ``ctx.original()`` -- A(D), trained from scratch on the whole training part;
* ``ctx.retrained(forget)`` -- A(D_r), exact unlearning: trained from scratch on the retain set;
* ``ctx.unlearned(method, forget, **hyperparameters)`` -- U(A(D), D, D_f) for a registered
  method, after the models it declares it needs (``prerequisites``; Blindspot's B).

Each is ``get_or_train(spec, ...)`` with a spec that names the data, split, model, training
recipe, seed, forget set and whatever else determines the weights, and each is trained by the
method object's own ``train`` (``unlearning.base.Method``): the original and the retrained
model are registered methods like the others.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, Optional

import numpy as np
import torch

from .cache import TrainedModel, cached_predictions, get_or_train
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
    _predictions: Dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _in_memory: Dict[str, TrainedModel] = field(default_factory=dict, repr=False)

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

    # -- models: each made once, through the cache --------------------------------------
    def _seed(self, seed: Optional[int]) -> int:
        return self.seed if seed is None else int(seed)

    def original(self, seed: Optional[int] = None) -> TrainedModel:
        """A(D): the model trained on the whole training part (cached)."""
        return self.unlearned("original", None, seed)

    def retrained(self, forget, seed: Optional[int] = None) -> TrainedModel:
        """A(D_r): exact unlearning by retraining from scratch on the retain set (cached)."""
        return self.unlearned("retrain", forget, seed)

    def unlearned(self, method: str, forget, seed: Optional[int] = None,
                  **hyperparameters) -> TrainedModel:
        """The model of a registered ``method`` (``psl.unlearning.names()``) for the forget spec
        or set ``forget`` (None only for ``original``), cached; hyperparameters are checked
        first (ValueError). ``.seconds`` is the method's own wall time plus that of the models
        it needed first (Blindspot's B)."""
        from .unlearning import configured

        chosen = configured(method, self.profile, **hyperparameters)
        seed = self._seed(seed)
        forget_set = self.forget_set(forget) if chosen.forgets else None
        original = self.original(seed) if chosen.edits_original else None
        needed = {p.argument: self._prerequisite(p, forget_set, seed)
                  for p in chosen.prerequisites()}
        settings = {}
        if chosen.edits_original:
            settings = {"original": original.key, "hyperparameters": chosen.hp.to_dict(),
                        "prerequisites": {name: n.key for name, n in needed.items()}}
        role = chosen.name if not chosen.edits_original else f"unlearn:{chosen.name}"
        trained = self._model(role, seed, lambda: chosen.train(
            original.model if original else None, self.data, self.split, forget_set,
            self.profile, seed, device=self.device, progress=self.progress,
            **{name: n.model for name, n in needed.items()}), forget_set, **settings)
        trained.seconds += sum(n.seconds for n in needed.values())
        return trained

    def blindspot_model(self, forget, seed: Optional[int] = None,
                        **hyperparameters) -> TrainedModel:
        """Blindspot's model B: a fresh model trained briefly on D_r only (cached, frozen)."""
        from .unlearning import configured

        (blind,) = configured("blindspot", self.profile, **hyperparameters).prerequisites()
        return self._prerequisite(blind, self.forget_set(forget), self._seed(seed))

    def _prerequisite(self, needed, forget_set: ForgetSet, seed: int) -> TrainedModel:
        """A model a method declared it needs (a ``Prerequisite``), made once through the cache."""
        trained = self._model(needed.role, seed, lambda: needed.train(
            self.data, forget_set, self.profile, seed, self.device, self.progress),
            forget_set, settings=needed.settings)
        if needed.prepare is not None:
            needed.prepare(trained.model)
        return trained

    def _model(self, role: str, seed: int, train: Callable, forget_set: Optional[ForgetSet],
               **settings) -> TrainedModel:
        """The model ``role`` for ``seed``: loaded if trained before, else ``train()`` (which
        returns a model, or a model and its history) and stored; moved to the device."""
        from .models import build_model

        spec = {"role": role, "data": self.data.fingerprint, "source": self.data.source,
                "image_size": self.data.image_size, "split": self.split.key(),
                "model": asdict(self.profile.model), "training": asdict(self.profile.training),
                "seed": int(seed), **settings}
        if forget_set is not None:
            spec["forget"] = forget_set.key()

        def fit_into(model):
            result = train()
            trained, history = result if isinstance(result, tuple) else (result, [])
            model.load_state_dict(trained.state_dict())
            return {"history": history}

        def build():
            return build_model(self.profile.model.architecture, self.profile.model.width)

        memo = json.dumps(spec, sort_keys=True, default=str)
        trained = self._in_memory.get(memo)
        if trained is None:
            trained = get_or_train(spec, build, fit_into)
            if not trained.from_cache:          # predictions kept for an earlier model of it
                for key in [k for k in self._predictions if k.startswith(trained.key)]:
                    del self._predictions[key]
            if trained.path is None:            # not stored (full disk): kept for this run
                self._in_memory[memo] = trained
        trained.model.to(self.device).eval()
        return trained

    def predict(self, model, indices) -> np.ndarray:
        """Predicted ages of ``model`` (an ``nn.Module`` or a TrainedModel) on ``indices``,
        without augmentation. A TrainedModel's are kept in memory and in the cache, per model
        key and index set, so asking again (here or in a later chapter) costs nothing."""
        from .training import predict

        indices = np.asarray(indices, dtype=np.int64)

        def compute(net):
            return predict(net, self.data, indices, device=self.device,
                           batch_size=self.profile.eval_batch_size)

        if not isinstance(model, TrainedModel):
            return compute(model)
        key = f"{model.key}-{hashlib.sha1(indices.tobytes()).hexdigest()[:16]}"
        if key not in self._predictions:
            self._predictions[key] = cached_predictions(key, len(indices),
                                                        lambda: compute(model.model),
                                                        shipped_model=model.shipped)
        return self._predictions[key].copy()

    def describe(self) -> str:
        from . import __version__

        if self.data_root or self._data is not None and self._data.source == "agedb":
            data = f"AgeDB at {self.data_root or self._data.root}"
        else:
            data = (f"synthetic AgeDB-shaped set ({self.profile.data.subjects} subjects, "
                    f"{self.profile.data.image_size} px)")
        line = (f"PixelSecurer {__version__} | profile: {self.profile.describe()} | data: {data} | "
                f"device: {self.device.type} | seed: {self.seed}")
        if self._data is not None and self._data.identity_note:
            from .cache import shipped_cost_note

            line += (f"\nNote: {self._data.identity_note}. The shipped checkpoints and stored "
                     f"results do not apply, so {shipped_cost_note()}.")
        return line


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
