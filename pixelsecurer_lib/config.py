"""Profiles, paths and the environment (chapter: Introduction, "Running this book").

A *profile* fixes everything about how much compute a chapter spends. It is made of one small
frozen dataclass per concern: which data (:class:`DataConfig`), how large a model
(:class:`ModelConfig`), how it is trained (:class:`TrainingRecipe`), and where a profile departs
from the reference hyperparameters of an unlearning method (``method_settings``; each method
module owns its hyperparameter dataclass and builds it from the profile). Three profiles exist:

* ``smoke`` -- a small synthetic subset and a tiny model; the whole book runs in a few
  minutes on two CPU cores. Used by ``make test``. Numbers are not meaningful.
* ``cpu`` -- the AgeDB-sized synthetic set at 32 px with an eighth-width AllCNN trained for
  four epochs; the whole book is meant to run within ten minutes on two cores (``make bench``
  measures it). The default for ``make book``.
* ``paper`` -- the reference recipe of Tarun et al. (2023): full-width AllCNN, 32 px,
  batch 256, Adam lr 0.01 with reduce-on-plateau, 100 epochs, 16 px crop padding. Meant for a GPU.

This is the one module that reads environment variables: ``PIXELSECURER_PROFILE`` (profile
name), ``PIXELSECURER_EPOCHS`` (overrides the profile's training epochs, e.g. for a shorter GPU
check), ``PIXELSECURER_AGEDB`` (path to a real AgeDB folder), ``PIXELSECURER_CACHE`` (cache
folder, default ``~/.cache/pixelsecurer``), ``PIXELSECURER_DEVICE`` (``auto``, ``cpu``,
``cuda``, ``mps``), ``PIXELSECURER_IMAGES`` (where the synthetic set's images are generated,
default ``synthetic/`` in the cache folder), ``PIXELSECURER_STATIC`` (set by ``make book``:
nobody watches the page) and ``PIXELSECURER_CHECKPOINTS`` (``off``: ignore the checkpoints
shipped with the release and train everything, as ``make checkpoints`` and a cold
``make bench`` do).
An explicit argument always beats the variable.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, Mapping, Optional

DEFAULT_PROFILE = "cpu"
SYNTHETIC = "synthetic"


@dataclass(frozen=True)
class DataConfig:
    """Which images: the synthetic set's size, the working resolution, the split fractions."""

    subjects: int = 568              # synthetic subjects to generate (AgeDB has 568)
    synth_size: int = 64             # side of the generated JPEG files, in pixels
    image_size: int = 32             # working resolution the model sees
    val_fraction: float = 0.13       # AgeDB-DIR: 12,208 train / 2,140 val / 2,140 test
    test_fraction: float = 0.13


@dataclass(frozen=True)
class ModelConfig:
    """Which network: ``allcnn`` (the reference code's) or ``resnet18``, and its width."""

    architecture: str = "allcnn"
    width: float = 1.0


@dataclass(frozen=True)
class TrainingRecipe:
    """How the original and the retrained models are trained (the algorithm A of chapter 02)."""

    epochs: int = 100
    batch_size: int = 256
    lr: float = 0.01
    schedule: str = "plateau"        # "plateau" (reference) or "onecycle" (short CPU runs)
    weight_decay: float = 0.0
    crop_padding: int = 16           # padding of the random training crop (reference: 16 px)


@dataclass(frozen=True)
class Profile:
    """Everything that sets the cost of a run. Frozen: change it with ``dataclasses.replace``.

    ``method_settings`` maps a method name to the hyperparameters where this profile departs
    from that method's reference values (e.g. ``{"finetune": {"epochs": 1}}``).
    """

    name: str
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingRecipe = field(default_factory=TrainingRecipe)
    method_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    eval_batch_size: int = 1024      # images per forward pass when predicting

    def describe(self) -> str:
        return (f"{self.name} (model {self.model.architecture} x{self.model.width:g}, "
                f"{self.data.image_size} px, {self.training.epochs} epochs, "
                f"batch {self.training.batch_size})")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def settings_of(self, method: str) -> Dict[str, Any]:
        """This profile's departures from ``method``'s reference hyperparameters."""
        return dict(self.method_settings.get(method, {}))


_SHORT_CPU_RECIPE = dict(batch_size=128, lr=0.01, schedule="onecycle", crop_padding=4)

PROFILES = {
    "smoke": Profile(
        name="smoke",
        data=DataConfig(subjects=40, synth_size=32, image_size=32),
        model=ModelConfig(architecture="allcnn", width=0.125),
        training=TrainingRecipe(epochs=2, **_SHORT_CPU_RECIPE),
        method_settings={"finetune": {"epochs": 1}, "blindspot": {"blind_epochs": 1}},
    ),
    "cpu": Profile(
        name="cpu",
        data=DataConfig(subjects=568, synth_size=64, image_size=32),
        model=ModelConfig(architecture="allcnn", width=0.125),
        training=TrainingRecipe(epochs=4, **_SHORT_CPU_RECIPE),
        method_settings={"finetune": {"epochs": 1}},
    ),
    "paper": Profile(
        name="paper",
        data=DataConfig(subjects=568, synth_size=64, image_size=32),
        model=ModelConfig(architecture="allcnn", width=1.0),
        training=TrainingRecipe(epochs=100, batch_size=256, lr=0.01, schedule="plateau",
                                crop_padding=16),
    ),
}


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def get_profile(name: Optional[str] = None) -> Profile:
    """The profile called ``name``, or the one named by ``PIXELSECURER_PROFILE`` (default ``cpu``)."""
    if isinstance(name, Profile):
        return name
    if name is None:
        name = _env("PIXELSECURER_PROFILE") or DEFAULT_PROFILE
    key = str(name).strip().lower()
    if key not in PROFILES:
        raise ValueError(f"unknown profile {name!r}: expected one of {', '.join(PROFILES)}")
    profile = PROFILES[key]
    epochs = _env("PIXELSECURER_EPOCHS")
    if epochs:
        if not epochs.isdigit() or int(epochs) < 1:
            raise ValueError(f"PIXELSECURER_EPOCHS={epochs!r}: expected a positive integer")
        profile = dataclasses.replace(
            profile, training=dataclasses.replace(profile.training, epochs=int(epochs)))
    return profile


def cache_dir() -> Path:
    """Folder for generated data, decoded tensors and trained models."""
    from ._io import ensure_folder

    root = _env("PIXELSECURER_CACHE")
    path = Path(root).expanduser() if root else Path.home() / ".cache" / "pixelsecurer"
    return ensure_folder(path, "cache folder (PIXELSECURER_CACHE)")


def use_cache_dir(path) -> Path:
    """Keep the cache in ``path`` from now on (this process and the ones it starts).

    In Colab, ``psl.setup_chapter(cache="/content/drive/MyDrive/pixelsecurer")`` calls this so
    that trained models survive a runtime reset. It sets ``PIXELSECURER_CACHE``.
    """
    from ._io import ensure_folder

    folder = ensure_folder(Path(path).expanduser(), "cache folder")
    if not _env("PIXELSECURER_IMAGES"):       # the generated images stay where they were
        os.environ["PIXELSECURER_IMAGES"] = str(cache_dir() / "synthetic")
    os.environ["PIXELSECURER_CACHE"] = str(folder)
    return folder


@contextlib.contextmanager
def cache_folder(path) -> Iterator[Path]:
    """Use the cache in ``path`` inside the ``with`` block (this process and the processes it
    starts), then the one used before: how a script such as ``make bench`` gives each of its
    parts a cache of its own. The synthetic images move with it."""
    from ._io import ensure_folder

    saved = {name: os.environ.get(name) for name in ("PIXELSECURER_CACHE", "PIXELSECURER_IMAGES")}
    folder = ensure_folder(Path(path).expanduser(), "cache folder")
    os.environ["PIXELSECURER_CACHE"] = str(folder)
    os.environ.pop("PIXELSECURER_IMAGES", None)
    try:
        yield folder
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def images_dir() -> Path:
    """Folder for the generated synthetic set's image files: ``PIXELSECURER_IMAGES``, else
    ``synthetic/`` in the cache folder. ``use_cache_dir`` leaves them on the local disk when it
    moves the cache (17,000 small files are slow on Google Drive, and regenerating them takes
    seconds); the decoded tensor, models and predictions move."""
    from ._io import ensure_folder

    root = _env("PIXELSECURER_IMAGES")
    path = Path(root).expanduser() if root else cache_dir() / "synthetic"
    return ensure_folder(path, "image folder (PIXELSECURER_IMAGES)")


def agedb_path() -> Optional[Path]:
    """The real AgeDB folder named by ``PIXELSECURER_AGEDB``, or None for the synthetic set."""
    root = _env("PIXELSECURER_AGEDB")
    return Path(root).expanduser() if root else None


def resolve_data_root(choice=None) -> Optional[Path]:
    """The data folder to read: ``choice`` if it names a folder, None (the synthetic set) if it
    is ``"synthetic"``, and ``PIXELSECURER_AGEDB`` only when no choice was made. An explicit
    choice always beats the environment variable."""
    if choice is None:
        return agedb_path()
    if str(choice).strip().lower() == SYNTHETIC:
        return None
    return Path(choice).expanduser()


def device_name(requested: Optional[str] = None) -> str:
    """The device asked for: ``requested``, else ``PIXELSECURER_DEVICE``, else ``auto``."""
    return (requested or _env("PIXELSECURER_DEVICE") or "auto").strip().lower()


def static_build() -> bool:
    """True while ``make book`` builds the static HTML (``PIXELSECURER_STATIC=1``)."""
    return _env("PIXELSECURER_STATIC").lower() in ("1", "true", "yes")


def use_shipped_checkpoints() -> bool:
    """False when ``PIXELSECURER_CHECKPOINTS`` is ``off`` (or ``0``/``no``/``false``): then the
    checkpoints shipped with the release are ignored and every model is trained."""
    return _env("PIXELSECURER_CHECKPOINTS").lower() not in ("off", "0", "no", "false")


def interactive() -> bool:
    """True when a person runs the notebook (Jupyter, Colab); False while the static HTML book
    is built (``make book`` sets ``PIXELSECURER_STATIC=1``), where a slider would be dead."""
    return not static_build()
