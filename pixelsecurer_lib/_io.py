"""File helpers shared by the cache and the data layer: atomic writes, checksums, safe loading.

Nothing read back from disk can run code: tensors are loaded with ``torch.load(weights_only=True)``
(PyTorch's restricted unpickler, which only rebuilds tensors and plain containers) and arrays with
``numpy.load(allow_pickle=False)``. Every stored file has a SHA-256 checksum beside it, is written
under a temporary name and renamed into place, and is checked for the structure its reader
expects; a file that fails any check is reported as :class:`CorruptFile`, never used.

Faults of the file system (a cache path that is a file, a read-only folder, a full disk) become
:class:`StorageError`: one sentence naming the path and what was expected.
"""
from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np
import torch


class StorageError(ValueError):
    """A file-system fault, in one sentence that names the path and what was expected."""


class CorruptFile(ValueError):
    """A stored file that fails its checksum or does not have the expected structure."""


def storage_error(path, exc: OSError, doing: str) -> StorageError:
    """Turn an ``OSError`` met while ``doing`` something with ``path`` into one clear sentence."""
    path = Path(path)
    if exc.errno == errno.ENOSPC:
        why = "the disk is full; expected free space (nothing was left half-written)"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = "permission denied; expected a writable folder"
    elif exc.errno == errno.EEXIST or isinstance(exc, (FileExistsError, NotADirectoryError)):
        why = "a file stands where a folder was expected"
    elif exc.errno == errno.EISDIR:
        why = "a folder stands where a file was expected"
    else:
        why = exc.strerror or exc.__class__.__name__
    return StorageError(f"{path}: cannot {doing} ({why})")


def ensure_folder(path, what: str = "folder") -> Path:
    """Create ``path`` (and its parents) if needed; StorageError if it cannot be a folder."""
    path = Path(path)
    if path.is_dir():
        return path
    if path.exists() or path.is_symlink():
        raise StorageError(f"{path}: the {what} is a file; expected a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(path, exc, f"create the {what}") from None
    return path


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def checksum_path(target: Path) -> Path:
    return Path(str(target) + ".sha256")


def _temporary_prefix(target: Path) -> str:
    """The name :func:`atomic_path`'s temporary file of ``target`` starts with (bounded: a legal
    255-character target name still leaves room)."""
    return f".{target.name[:100]}."


def remove_leftovers(target: Path) -> None:
    """Temporary files of ``target`` and of its checksum that a writer killed mid-save left
    behind. Only for a caller that holds ``target``'s lock: no live writer owns them then."""
    for path in (Path(target), checksum_path(target)):
        for leftover in path.parent.glob(f"{glob.escape(_temporary_prefix(path))}*.tmp"):
            try:
                leftover.unlink()
            except OSError:
                pass


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only on success.

    On any failure the temporary file is removed, so nothing is left half-written; an
    ``OSError`` (full disk, read-only folder) becomes a :class:`StorageError` naming ``target``.
    """
    target = Path(target)
    ensure_folder(target.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=_temporary_prefix(target), suffix=".tmp",
                                   dir=target.parent)
    except OSError as exc:
        raise storage_error(target.parent, exc, f"write {target.name} into this folder") from None
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o644)          # mkstemp's 0600 would follow the file through the rename
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except OSError as exc:
        raise storage_error(target, exc, "write the file") from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_verified(target: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` the payload, then rename it onto ``target`` with ``target.sha256`` beside it.

    The checksum is renamed into place first, then the payload: a reader never sees a payload
    without its checksum (it may see a checksum without a payload, which reads as missing).
    """
    target = Path(target)
    with atomic_path(target) as tmp:
        write(tmp)
        checksum = sha256_file(tmp)
        with atomic_path(checksum_path(target)) as tmp_sum:
            tmp_sum.write_text(checksum + "\n")


def read_verified(target: Path, read: Callable[[Path], object]):
    """Check ``target`` against its checksum, then ``read(target)``; CorruptFile on any fault."""
    target = Path(target)
    sums = checksum_path(target)
    try:
        expected = sums.read_text().strip()
        actual = sha256_file(target)
    except FileNotFoundError:
        raise CorruptFile(f"{target}: missing file or checksum") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CorruptFile(f"{target}: unreadable ({exc.__class__.__name__})") from None
    if actual != expected:
        raise CorruptFile(f"{target}: checksum mismatch (corrupt, partial or edited file)")
    try:
        return read(target)
    except CorruptFile:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to parse means a bad file
        raise CorruptFile(f"{target}: unreadable ({exc.__class__.__name__})") from None


def save_tensors(payload: dict, target: Path) -> None:
    """Store a dict of tensors and plain values (str, numbers, lists, dicts) with a checksum.

    ``torch.save`` reports a write that fails part-way (a full disk) as a RuntimeError of its
    zip writer, not as an OSError: it becomes the same one-sentence StorageError."""
    def write(tmp):
        try:
            torch.save(payload, tmp)
        except RuntimeError as exc:
            free = _free_bytes(Path(tmp).parent)
            if free is not None and free < (1 << 20):
                raise storage_error(target, OSError(errno.ENOSPC, "full"), "write the file") \
                    from None
            first = str(exc).strip().splitlines()[0][:100] if str(exc).strip() else "no reason"
            raise StorageError(f"{target}: cannot write the file (it was not written completely: "
                               f"{first})") from None

    write_verified(target, write)


def _free_bytes(folder: Path) -> Optional[int]:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def load_tensors(target: Path, fmt: str) -> dict:
    """Load a file written by :func:`save_tensors` whose ``"format"`` entry is ``fmt``.

    ``weights_only=True``: a file holding anything but tensors and plain containers (for
    example a pickled object that would run code) is refused as corrupt, never executed.
    """
    def read(path):
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != fmt:
            raise CorruptFile(f"{path}: not a {fmt} file")
        return payload

    return read_verified(target, read)


def save_array(array: np.ndarray, target: Path) -> None:
    """Store one numeric array as ``.npy`` (no pickle) with a checksum."""
    array = np.ascontiguousarray(array)

    def write(tmp):
        with open(tmp, "wb") as handle:
            np.save(handle, array, allow_pickle=False)

    write_verified(target, write)


def load_array(target: Path, shape: Optional[tuple] = None, dtype=None) -> np.ndarray:
    """Load a :func:`save_array` file; CorruptFile unless it has ``shape``/``dtype`` and is finite."""
    def read(path):
        array = np.load(path, allow_pickle=False)
        if shape is not None and array.shape != tuple(shape):
            raise CorruptFile(f"{path}: shape {array.shape}, expected {tuple(shape)}")
        if dtype is not None and array.dtype != np.dtype(dtype):
            raise CorruptFile(f"{path}: dtype {array.dtype}, expected {np.dtype(dtype)}")
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise CorruptFile(f"{path}: holds values that are not finite")
        return array

    return read_verified(target, read)


@contextlib.contextmanager
def file_lock(path: Path, busy: Optional[str] = None) -> Iterator[None]:
    """An exclusive advisory lock (POSIX ``flock``) so two processes don't build the same file.

    Only writers take it: readers rely on atomic renames. StorageError if the lock file cannot
    be created (a read-only cache folder). With ``busy`` (a sentence), a lock that another
    process holds is not waited for: ValueError(busy) at once.
    """
    path = Path(path)
    ensure_folder(path.parent)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock, atomic rename still protects
        yield
        return
    try:
        handle = open(path, "a+")
    except OSError as exc:
        raise storage_error(path.parent, exc, "store new results in this cache folder") from None
    with handle:
        if busy is None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        else:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ValueError(busy) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
