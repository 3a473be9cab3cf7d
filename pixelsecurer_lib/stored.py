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


def data_note(stored: Dict, data) -> Optional[str]:
    """A sentence for the reader when stored results do not record the fingerprint of the data
    they ran on (results written before it was recorded); None when they do."""
    recorded = stored.get("config", {}).get("data_fingerprint")
    if recorded is None:
        return ("These stored results do not record which version of the data set they ran on "
                "(they predate the fingerprint): they may come from an earlier synthetic set. "
                "`make bench` refreshes them.")
    return None


def same_data(stored: Dict, data) -> bool:
    """False only when the stored results record a data fingerprint other than ``data``'s."""
    recorded = stored.get("config", {}).get("data_fingerprint")
    return recorded is None or recorded == data.fingerprint
