"""Where `make book` builds for the current settings, emptied when they changed since last time.

    python tools/book_dir.py PROFILE     # prints the build folder, _build/PROFILE

Jupyter Book's execution cache (execute_notebooks: cache) keys a page on its code only; it does
not know that the same code shows other numbers under another profile, another data set or
another epoch count. So every profile builds in a folder of its own, and a stamp in that
folder records the other settings that change what a page shows (PIXELSECURER_AGEDB,
PIXELSECURER_EPOCHS, PIXELSECURER_DEVICE) and a hash of the library's files (a page shows what
the library computes and draws, e.g. its figures' narrow renditions): when they differ from the
last build's, the folder is emptied and every page runs again (trained models stay in the model
cache, so this costs the pages' own work). An unknown profile is refused before anything happens.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ("PIXELSECURER_AGEDB", "PIXELSECURER_EPOCHS", "PIXELSECURER_DEVICE")
STAMP = "settings.json"


LIBRARY = ROOT / "pixelsecurer_lib"


def library_hash(library: Path = LIBRARY) -> str:
    """A hash of the library's code and data files (names and bytes): everything but compiled
    files and the shipped checkpoints, which are only ever used for an exact spec."""
    digest = hashlib.sha256()
    for path in sorted(library.rglob("*")):
        name = path.relative_to(library)
        if path.is_file() and not {"__pycache__", "checkpoints"} & set(name.parts):
            digest.update(name.as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def settings(profile: str, environ=os.environ, library: Path = LIBRARY) -> dict:
    found = {name: environ.get(name, "").strip() for name in SETTINGS}
    return {"profile": profile, **found, "library": library_hash(library)}


def prepare(profile: str, build_root: Path = None, environ=os.environ,
            library: Path = LIBRARY) -> Path:
    """The build folder for ``profile``, emptied first when its stamp names other settings."""
    from pixelsecurer_lib.config import PROFILES

    if profile not in PROFILES:
        raise ValueError(f"profile {profile!r} (from BOOK_PROFILE or PIXELSECURER_PROFILE): "
                         f"expected one of {', '.join(PROFILES)}")
    folder = (build_root or ROOT / "_build") / profile
    wanted = settings(profile, environ, library)
    stamp = folder / STAMP
    if folder.exists():
        try:
            previous = json.loads(stamp.read_text())
        except (OSError, ValueError):
            previous = None
        if previous != wanted:
            shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    from pixelsecurer_lib._io import atomic_path

    with atomic_path(stamp) as tmp:
        tmp.write_text(json.dumps(wanted, indent=1, sort_keys=True) + "\n")
    return folder


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tools/book_dir.py PROFILE")
    try:
        print(prepare(sys.argv[1].strip().lower()))
    except ValueError as error:
        sys.exit(f"make book: {error}")
