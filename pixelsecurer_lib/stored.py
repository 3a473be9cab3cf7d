"""Results stored with the library (chapters 08 and 09 read them; ``make bench`` writes them).

Some figures need more compute than a chapter may spend: many seeds of every model, or K
models per group for the per-example audit. ``make bench`` computes them once and keeps them in
``pixelsecurer_lib/stored/{kind}-{profile}.json``, shipped inside the package so that a chapter
opened alone (Colab) finds them too. Every file carries its ``provenance``: the commit, date,
machine and command that produced it. Plain JSON: loading it runs no code.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Optional

STORED_DIR = Path(__file__).resolve().parent / "stored"
KINDS = ("seeds", "audit")


def stored_path(kind: str, profile) -> Path:
    """Where the stored results of ``kind`` (seeds, audit) for ``profile`` live."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of stored results {kind!r}: expected one of {', '.join(KINDS)}")
    return STORED_DIR / f"{kind}-{getattr(profile, 'name', profile)}.json"


def load_stored(kind: str, profile) -> Optional[Dict]:
    """The stored results of ``kind`` for ``profile``, or None when none are stored."""
    path = stored_path(kind, profile)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: stored results are not valid JSON ({exc})") from exc


def save_stored(kind: str, profile, payload: Dict) -> Path:
    """Write ``payload`` (with a ``provenance`` entry) atomically; its path."""
    from ._io import atomic_path

    if "provenance" not in payload:
        raise ValueError("stored results need their provenance (commit, date, machine, command)")
    path = stored_path(kind, profile)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, separators=(",", ":")))
    return path
