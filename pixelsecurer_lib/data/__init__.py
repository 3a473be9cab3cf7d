"""Data: the AgeDB reader, the synthetic AgeDB-shaped set, splits and forget sets."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..config import Profile, get_profile, images_dir, resolve_data_root
from .agedb import AgeData, Record, load_folder, parse_filename, scan_folder  # noqa: F401
from .splits import (ForgetSet, ForgetSpec, Split, forget_split, make_split,  # noqa: F401
                     parse_forget_spec)

SYNTHETIC_SEED = 0


def synthetic_folder(subjects: int, size: int, seed: int = SYNTHETIC_SEED) -> Path:
    """Where the synthetic set for these parameters lives (``config.images_dir``)."""
    from .synthetic import GENERATOR_VERSION

    return (images_dir() / f"agedb-synth-v{GENERATOR_VERSION}-seed{seed}-n{subjects}-px{size}")


def ensure_synthetic(subjects: int, size: int, seed: int = SYNTHETIC_SEED,
                     progress: bool = True) -> Path:
    """Generate the synthetic set once (locked, atomic); later calls return its folder."""
    from .._io import file_lock
    from .synthetic import generate

    folder = synthetic_folder(subjects, size, seed)
    if folder.is_dir() and any(folder.iterdir()):
        return folder                   # written by rename, so complete: no lock needed to read
    with file_lock(folder.parent / f".{folder.name}.lock"):
        if not folder.exists() or not any(folder.iterdir()):
            generate(folder, seed=seed, subjects=subjects, size=size, progress=progress)
    return folder


def load_dataset(profile=None, root=None, progress: bool = True) -> AgeData:
    """The data set a chapter works on (chapter 03-agedb).

    ``root`` names a real AgeDB folder, or is ``"synthetic"``; when it is None,
    ``PIXELSECURER_AGEDB`` is used if set. Otherwise the synthetic AgeDB-shaped set for the
    profile is generated (once) and read with the same reader, then keyed by what defines it
    when the release's reference confirms it (``data.reference``).
    """
    profile: Profile = get_profile(profile)
    root = resolve_data_root(root)
    if root is not None:
        return load_folder(root, image_size=profile.data.image_size, source="agedb",
                           progress=progress)
    from .reference import identify

    return identify(synthetic_by_bytes(profile, progress), SYNTHETIC_SEED,
                    profile.data.subjects, profile.data.synth_size)


def synthetic_by_bytes(profile=None, progress: bool = True) -> AgeData:
    """The profile's synthetic set (generated once), keyed by a hash of its bytes: before the
    release's reference confirms which set it is (``data.reference.identify``)."""
    profile = get_profile(profile)
    folder = ensure_synthetic(profile.data.subjects, profile.data.synth_size, progress=progress)
    return load_folder(folder, image_size=profile.data.image_size, source="synthetic",
                       progress=progress)
