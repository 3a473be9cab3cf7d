"""Profiles and paths (chapter: Introduction, "Running this book").

A *profile* fixes everything about how much compute a chapter spends: which data, how
large a model, how many epochs. Three exist:

* ``smoke`` -- a small synthetic subset and a tiny model; the whole book runs in a few
  minutes on two CPU cores. Used by ``make test``. Numbers are not meaningful.
* ``cpu`` -- the AgeDB-sized synthetic set at 32 px with an eighth-width AllCNN trained for
  four epochs; the whole book is meant to run within ten minutes on two cores (``make bench``
  measures it). The default for ``make book``.
* ``paper`` -- the reference recipe of Tarun et al. (2023): full-width AllCNN, 32 px,
  batch 256, Adam lr 0.01 with reduce-on-plateau, 100 epochs. Meant for a GPU.

Environment variables: ``PIXELSECURER_PROFILE`` (profile name), ``PIXELSECURER_EPOCHS``
(overrides the profile's training epochs, e.g. for a shorter GPU check), ``PIXELSECURER_AGEDB``
(path to a real AgeDB folder), ``PIXELSECURER_CACHE`` (cache folder, default
``~/.cache/pixelsecurer``).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

DEFAULT_PROFILE = "cpu"


@dataclass(frozen=True)
class Profile:
    """Everything that sets the cost of a run. Frozen: change it with ``dataclasses.replace``."""

    name: str
    # data
    subjects: int                 # synthetic subjects to generate (AgeDB has 568)
    synth_size: int               # side of the generated JPEG files, in pixels
    image_size: int               # working resolution the model sees
    val_fraction: float = 0.13    # AgeDB-DIR: 12,208 train / 2,140 val / 2,140 test
    test_fraction: float = 0.13
    # model
    model: str = "allcnn"
    width: float = 1.0
    # training of the original and retrained models
    epochs: int = 100
    batch_size: int = 256
    lr: float = 0.01
    schedule: str = "plateau"     # "plateau" (reference) or "onecycle" (short CPU runs)
    weight_decay: float = 0.0
    # unlearning methods (reference: Tarun et al. 2023)
    finetune_epochs: int = 5
    finetune_lr: float = 1e-3
    amnesiac_epochs: int = 1
    amnesiac_lr: float = 1e-3
    blindspot_epochs: int = 2        # epochs of the blindspot model B on D_r
    blindspot_lr: float = 0.01
    blindspot_unlearn_epochs: int = 1
    blindspot_unlearn_lr: float = 1e-3
    blindspot_lambda: float = 50.0
    neggrad_epochs: int = 1
    neggrad_lr: float = 1e-3
    # membership inference and evaluation
    eval_batch_size: int = 1024

    def describe(self) -> str:
        return (f"{self.name} (model {self.model} x{self.width:g}, {self.image_size} px, "
                f"{self.epochs} epochs, batch {self.batch_size})")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


PROFILES = {
    "smoke": Profile(
        name="smoke", subjects=40, synth_size=32, image_size=32, model="allcnn", width=0.125,
        epochs=2, batch_size=128, lr=0.01, schedule="onecycle",
        finetune_epochs=1, amnesiac_epochs=1, blindspot_epochs=1, blindspot_unlearn_epochs=1,
        neggrad_epochs=1,
    ),
    "cpu": Profile(
        name="cpu", subjects=568, synth_size=64, image_size=32, model="allcnn", width=0.125,
        epochs=4, batch_size=128, lr=0.01, schedule="onecycle",
        finetune_epochs=1, amnesiac_epochs=1, blindspot_epochs=2, blindspot_unlearn_epochs=1,
        neggrad_epochs=1,
    ),
    "paper": Profile(
        name="paper", subjects=568, synth_size=64, image_size=32, model="allcnn", width=1.0,
        epochs=100, batch_size=256, lr=0.01, schedule="plateau",
        finetune_epochs=5, amnesiac_epochs=1, blindspot_epochs=2, blindspot_unlearn_epochs=1,
        neggrad_epochs=1,
    ),
}


def get_profile(name: Optional[str] = None) -> Profile:
    """The profile called ``name``, or the one named by ``PIXELSECURER_PROFILE`` (default ``cpu``)."""
    if isinstance(name, Profile):
        return name
    if name is None:
        name = os.environ.get("PIXELSECURER_PROFILE", "").strip() or DEFAULT_PROFILE
    key = str(name).strip().lower()
    if key not in PROFILES:
        raise ValueError(f"unknown profile {name!r}: expected one of {', '.join(PROFILES)}")
    profile = PROFILES[key]
    epochs = os.environ.get("PIXELSECURER_EPOCHS", "").strip()
    if epochs:
        if not epochs.isdigit() or int(epochs) < 1:
            raise ValueError(f"PIXELSECURER_EPOCHS={epochs!r}: expected a positive integer")
        profile = dataclasses.replace(profile, epochs=int(epochs))
    return profile


def cache_dir() -> Path:
    """Folder for generated data, decoded tensors and trained models."""
    root = os.environ.get("PIXELSECURER_CACHE", "").strip()
    path = Path(root).expanduser() if root else Path.home() / ".cache" / "pixelsecurer"
    path.mkdir(parents=True, exist_ok=True)
    return path


def use_cache_dir(path) -> Path:
    """Keep the cache in ``path`` from now on (this process and the ones it starts).

    In Colab, ``psl.setup_chapter(cache="/content/drive/MyDrive/pixelsecurer")`` calls this so
    that trained models survive a runtime reset. It sets ``PIXELSECURER_CACHE``.
    """
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder}: cache must be a folder, got a file")
    os.environ["PIXELSECURER_CACHE"] = str(folder)
    return cache_dir()


def agedb_path() -> Optional[Path]:
    """The real AgeDB folder named by ``PIXELSECURER_AGEDB``, or None for the synthetic set."""
    root = os.environ.get("PIXELSECURER_AGEDB", "").strip()
    return Path(root).expanduser() if root else None
