"""Which synthetic set is this? Its identity, checked against the release's reference
(chapter: Introduction, "Running this book").

The synthetic set is defined by its generator (``GENERATOR_VERSION``, seed, number of subjects,
image size) and read by the decoder (``DECODER_VERSION``) at a working size. Its JPEG bytes,
though, depend a little on the CPU: NumPy's AVX-512 loops and OpenBLAS's kernels round a few
float32 results differently, so on another CPU a few dozen pixels of a few images come out one
level apart. A hash of the bytes would then call it another data set, and the checkpoints and
stored results that the release ships would silently stop matching.

So the key of a synthetic set (``AgeData.fingerprint``, part of every cache key) is
``synthetic-`` plus a hash of what defines it, but only once its decoded pixels have been checked
against a compact reference that ships with the checkpoints (``checkpoints/data/IDENTITY.npz``):
the file names and ages, every image's mean, and 32 fixed pixels of every image. The data pass
when the names and ages are the same, no image's mean moves by more than ``MEAN_TOLERANCE``
levels (of 255) and no sampled pixel by more than ``PIXEL_TOLERANCE`` levels. Where no
reference ships (the smoke profile), or the check fails, the key stays the hash of the bytes,
as it is for a real AgeDB folder, and ``AgeData.identity_note`` says why.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Dict, Optional

import numpy as np

SAMPLED_PIXELS = 32               # fixed positions per image (the same for every image)
PIXEL_TOLERANCE = 2               # levels of 255: any sampled pixel may move this much
MEAN_TOLERANCE = 0.05             # levels of 255: an image's mean may move this much
REFERENCE_FOLDER = "data"         # inside the shipped checkpoints


def synthetic_identity(seed: int, subjects: int, size: int, image_size: int) -> str:
    """A hash of what defines a synthetic set: generator version and parameters, decoder
    version and working size (not its bytes)."""
    from .agedb import DECODER_VERSION
    from .synthetic import GENERATOR_VERSION

    defined = {"generator": GENERATOR_VERSION, "seed": int(seed), "subjects": int(subjects),
               "size": int(size), "decoder": DECODER_VERSION, "image_size": int(image_size)}
    return hashlib.sha256(json.dumps(defined, sort_keys=True).encode()).hexdigest()[:16]


def reference_path(identity: str) -> Path:
    """Where the release ships the reference of the synthetic set ``identity``."""
    from ..cache import SHIPPED_CHECKPOINTS

    return SHIPPED_CHECKPOINTS / REFERENCE_FOLDER / f"{identity}.npz"


def _positions(image_size: int) -> np.ndarray:
    """The sampled positions: flat indices into one 3 x size x size image, fixed by a seed."""
    return np.sort(np.random.default_rng(20240601).choice(3 * image_size * image_size,
                                                          size=SAMPLED_PIXELS, replace=False))


def _names_and_ages(data) -> str:
    digest = hashlib.sha256()
    for name, age in zip(data.filenames.tolist(), data.ages.tolist()):
        digest.update(f"{name}\t{age}\n".encode())
    return digest.hexdigest()


def describe_pixels(data) -> Dict[str, np.ndarray]:
    """The compact reference of ``data``: names-and-ages hash, each image's mean, its sampled
    pixels (about 35 bytes an image)."""
    flat = data.images.reshape(len(data), -1).numpy()
    return {"names_and_ages": np.array(_names_and_ages(data)),
            "means": flat.mean(axis=1, dtype=np.float64),
            "sampled": flat[:, _positions(data.image_size)].astype(np.uint8)}


def save_reference(data, identity: str, folder: Path) -> Path:
    """Write the reference of ``data`` as ``folder/IDENTITY.npz`` (plain arrays: no pickle)."""
    from .._io import atomic_path

    target = Path(folder) / f"{identity}.npz"
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **describe_pixels(data))
    return target


def compare(data, reference: Dict[str, np.ndarray]) -> Optional[str]:
    """None when ``data`` matches the reference within the tolerances, else the reason."""
    mine = describe_pixels(data)
    if str(reference["names_and_ages"]) != str(mine["names_and_ages"]):
        return "its file names or ages differ"
    mean_shift = float(np.abs(mine["means"] - reference["means"]).max())
    pixel_shift = int(np.abs(mine["sampled"].astype(np.int16)
                             - reference["sampled"].astype(np.int16)).max())
    if mean_shift > MEAN_TOLERANCE or pixel_shift > PIXEL_TOLERANCE:
        return (f"its pixels differ (an image's mean by up to {mean_shift:.3f} levels, a sampled "
                f"pixel by up to {pixel_shift}; allowed: {MEAN_TOLERANCE} and {PIXEL_TOLERANCE})")
    return None


def identify(data, seed: int, subjects: int, size: int):
    """``data`` keyed by the identity of the synthetic set when the shipped reference confirms
    it; else keyed by its bytes as before, with ``identity_note`` saying why when a reference
    ships for it but does not confirm it (no note where none ships)."""
    identity = synthetic_identity(seed, subjects, size, data.image_size)
    try:
        with np.load(reference_path(identity), allow_pickle=False) as stored:
            reason = compare(data, {name: stored[name] for name in stored.files})
    except FileNotFoundError:
        return data
    except (OSError, ValueError, KeyError) as exc:
        reason = f"the release's reference of it is unreadable ({exc})"
    if reason is not None:
        return dataclasses.replace(data, identity_note=(
            f"this synthetic set is not the one the release's checkpoints and stored results "
            f"were made with: {reason}"))
    return dataclasses.replace(data, fingerprint=f"synthetic-{identity}")
