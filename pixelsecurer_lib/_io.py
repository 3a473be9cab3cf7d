"""Small file helpers shared by the cache and the data layer: atomic writes and checksums."""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

import torch


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def save_with_checksum(obj, target: Path) -> None:
    """``torch.save`` to ``target`` atomically, with ``target.sha256`` written beside it."""
    target = Path(target)
    with atomic_path(target) as tmp:
        torch.save(obj, tmp)
        checksum = sha256_file(tmp)
        with atomic_path(checksum_path(target)) as tmp_sum:
            tmp_sum.write_text(checksum + "\n")
    # the checksum is renamed first, then the payload: a reader never sees a payload without one


def checksum_path(target: Path) -> Path:
    return Path(str(target) + ".sha256")


def load_verified(target: Path):
    """Load a file written by :func:`save_with_checksum`; raise ValueError if it fails its checksum."""
    target = Path(target)
    sums = checksum_path(target)
    if not sums.exists():
        raise ValueError(f"{target}: no checksum file beside it")
    expected = sums.read_text().strip()
    actual = sha256_file(target)
    if actual != expected:
        raise ValueError(f"{target}: checksum mismatch (corrupt or partial file)")
    try:
        return torch.load(target, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        raise ValueError(f"{target}: unreadable ({exc.__class__.__name__})") from exc


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock (POSIX ``flock``) so two processes don't build the same file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock, atomic rename still protects
        yield
        return
    with open(path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
