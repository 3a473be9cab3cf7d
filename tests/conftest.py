import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))   # pairing, release, ...

# Every test run gets its own empty cache, whatever the caller's environment says.
os.environ["PIXELSECURER_CACHE"] = tempfile.mkdtemp(prefix="psl-test-cache-")
os.environ.pop("PIXELSECURER_AGEDB", None)
os.environ.pop("PIXELSECURER_CHECKPOINTS", None)    # the shipped checkpoints are used
os.environ.pop("PIXELSECURER_IMAGES", None)         # images go to the test cache
os.environ["PIXELSECURER_PROFILE"] = "smoke"

SUBJECTS = [("AnnaBell", "f"), ("BorisKarl", "m"), ("CarlaDiaz", "f"), ("DavidEder", "m"),
            ("EvaFranz", "f"), ("FelixGrau", "m"), ("GretaHahn", "f"), ("HugoIbsen", "m"),
            ("AnnaBell", "m")]   # a name that occurs with both genders, as in AgeDB


def write_tiny_agedb(folder: Path, per_subject: int = 12, size: int = 32, seed: int = 0) -> Path:
    """A small AgeDB-format folder whose brightness grows with age (a learnable signal)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    image_id = 0
    for s, (name, gender) in enumerate(SUBJECTS):
        centre = 10 + 9 * s
        for j in range(per_subject):
            age = int(np.clip(centre + rng.integers(-8, 9), 1, 101))
            level = 30 + 2 * age
            pixels = np.clip(level + rng.normal(0, 8, (size, size, 3)), 0, 255).astype(np.uint8)
            img = Image.fromarray(pixels)
            suffix = "jpg"
            if j == 0:
                img = img.convert("L")          # black-and-white photo
            if s == 0 and j == 1:
                suffix = "png"                  # PNG files with a valid name are read too
            img.save(folder / f"{image_id}_{name}_{age}_{gender}.{suffix}")
            image_id += 1
    (folder / ".DS_Store").write_bytes(b"\0\1junk")
    (folder / "Thumbs.db").write_bytes(b"junk")
    return folder


@pytest.fixture(scope="session")
def tiny_agedb(tmp_path_factory) -> Path:
    return write_tiny_agedb(tmp_path_factory.mktemp("agedb") / "AgeDB")


@pytest.fixture(scope="session")
def tiny_ctx(tiny_agedb):
    import pixelsecurer_lib as psl

    return psl.setup_chapter(seed=0, profile="smoke", device="cpu", data_root=tiny_agedb,
                             progress=False, verbose=False)


@pytest.fixture(autouse=True)
def _keep_the_image_folder_per_test(monkeypatch):
    """``setup_chapter(cache=...)`` pins PIXELSECURER_IMAGES for the rest of the process; each
    test gets the value it started with back."""
    monkeypatch.setenv("PIXELSECURER_IMAGES", os.environ.get("PIXELSECURER_IMAGES", ""))
