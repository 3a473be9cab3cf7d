"""Results stored with the library (chapters 08 and 09 read them; ``make bench`` writes them).

Some figures need more compute than a chapter may spend: many seeds of every model, or K
models per group for the per-example audit. ``make bench`` computes them once and keeps them in
``pixelsecurer_lib/stored/{kind}-{profile}.json``, shipped inside the package so that a chapter
opened alone (Colab) finds them too. Every file carries its ``provenance`` (the commit, date,
machine and command that produced it) and, in its ``config``, the ``data_fingerprint`` of the
data set it ran on. Plain JSON: loading it runs no code.

:func:`load_stored` is the one way to read them, with one acceptance rule: the results must
record the fingerprint of the data the caller works on. Results of other data, or results that
do not say which data they ran on, or whose bytes are not those ``save_stored`` wrote (their
SHA-256 is kept in ``stored/SHA256SUMS.json``: an accidental or hand edit is caught, a
deliberate one that also rewrites the sums is not), are refused (:class:`StoredMismatch`, whose
message says why and how to regenerate them); a chapter then computes what it shows itself and
prints that message.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Dict, Optional

STORED_DIR = Path(__file__).resolve().parent / "stored"
KINDS = ("seeds", "audit")
SUMS = "SHA256SUMS.json"       # written by save_stored: a file edited by hand is refused
REGENERATE = {"seeds": "python bench/run_bench.py --sections seeds --many-seeds 10",
              "audit": "python bench/run_bench.py --sections audit --many-seeds 10 --audit-k 8"}


class StoredMismatch(ValueError):
    """Stored results that may not be shown for this data (other data, or none recorded)."""


def stored_path(kind: str, profile) -> Path:
    """Where the stored results of ``kind`` (seeds, audit) for ``profile`` live."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of stored results {kind!r}: expected one of {', '.join(KINDS)}")
    return STORED_DIR / f"{kind}-{getattr(profile, 'name', profile)}.json"


def load_stored(kind: str, profile, data) -> Optional[Dict]:
    """The stored results of ``kind`` for ``profile`` (a name or a Profile), when they ran on
    ``data`` (an ``AgeData``); None when none are stored. ``StoredMismatch`` when they record
    another data fingerprint or none; ValueError for a file that is not JSON."""
    path = stored_path(kind, profile)
    if not path.exists():
        return None
    try:
        stored = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: stored results are not valid JSON ({exc})") from exc
    regenerate = f"`{REGENERATE[kind]}` regenerates them"
    if _sums().get(path.name) != hashlib.sha256(path.read_bytes()).hexdigest():
        raise StoredMismatch(f"{path.name}: these stored results are not the ones `make bench` "
                             f"wrote (their checksum in {SUMS} differs), so they are not used; "
                             f"{regenerate}.")
    recorded = stored.get("config", {}).get("data_fingerprint")
    if recorded is None:
        raise StoredMismatch(f"{path.name}: these stored results do not record which data set "
                             f"they ran on, so they are not used; {regenerate}.")
    if recorded != data.fingerprint:
        why = getattr(data, "identity_note", None)
        raise StoredMismatch(f"{path.name}: these stored results ran on another version of the "
                             f"data set (fingerprint {recorded[:12]}, this one "
                             f"{data.fingerprint[:12]}{'; ' + why if why else ''}), so they are "
                             f"not used and this page computes its own; {regenerate}.")
    return stored


def save_stored(kind: str, profile, payload: Dict) -> Path:
    """Write ``payload`` (with its ``provenance`` and the data fingerprint in its ``config``)
    atomically; its path."""
    from ._io import atomic_path

    if "provenance" not in payload:
        raise ValueError("stored results need their provenance (commit, date, machine, command)")
    if not payload.get("config", {}).get("data_fingerprint"):
        raise ValueError("stored results need config.data_fingerprint: the data they ran on")
    path = stored_path(kind, profile)
    text = json.dumps(payload, separators=(",", ":"))
    sums = {**_sums(), path.name: hashlib.sha256(text.encode()).hexdigest()}
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    with atomic_path(STORED_DIR / SUMS) as tmp:
        tmp.write_text(json.dumps(dict(sorted(sums.items())), indent=1) + "\n")
    return path


def _sums() -> Dict[str, str]:
    """The SHA-256 of every stored file as ``save_stored`` wrote it ({} when none)."""
    try:
        sums = json.loads((STORED_DIR / SUMS).read_text())
    except (OSError, ValueError):
        return {}
    return sums if isinstance(sums, dict) else {}
