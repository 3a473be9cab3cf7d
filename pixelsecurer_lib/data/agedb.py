"""Reading an AgeDB folder (chapter 03-agedb).

AgeDB (Moschoglou et al., 2017) ships as one folder of images named
``{id}_{Name}_{age}_{gender}.jpg``, for example ``11706_OliviaHussey_31_f.jpg``. The
identity of a subject is the pair (name, gender): AgeDB has names that occur with both
genders. The synthetic default set (:mod:`pixelsecurer_lib.data.synthetic`) is written in
the same format, so this one reader serves both.

Images are decoded once, converted to RGB (AgeDB holds many black-and-white photos),
resized to the working resolution and stored as a single ``uint8`` tensor in the cache,
keyed by a hash of every image's bytes and the resolution. Later epochs and later
chapters never decode a JPEG again.

Optionally, the AgeDB-DIR split file ``agedb.csv`` (Yang et al., 2021; columns
``age,path,split`` with ``train``/``val``/``test``), which the Deep Regression Unlearning code
uses, can be attached so results are comparable with theirs.
"""
from __future__ import annotations

import csv
import hashlib
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from .._io import CorruptFile, StorageError, file_lock, load_tensors, save_tensors
from ..config import cache_dir

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
IGNORED_NAMES = {"thumbs.db", "desktop.ini"}
FILENAME_PATTERN = re.compile(
    r"^(?P<id>[^_]+)_(?P<name>.+)_(?P<age>[^_]+)_(?P<gender>[^_.]+)\.(?P<ext>[A-Za-z]+)$")
DECODER_VERSION = 1
SPLIT_FILE = "agedb.csv"
IMAGES_FORMAT = "pixelsecurer-images/1"


@dataclass(frozen=True)
class Record:
    """One image of the folder: what its file name says."""

    image_id: int
    name: str
    age: int
    gender: str
    filename: str

    @property
    def identity(self) -> str:
        """The subject key: name and gender, e.g. ``OliviaHussey_f``."""
        return f"{self.name}_{self.gender}"


def parse_filename(filename: str) -> Record:
    """Parse ``{id}_{Name}_{age}_{gender}.jpg``; raise ValueError naming the file otherwise."""
    match = FILENAME_PATTERN.match(filename)
    if not match:
        raise ValueError(f"{filename}: file name does not match the AgeDB pattern "
                         "'{id}_{Name}_{age}_{gender}.jpg'")
    try:
        image_id = int(match["id"])
    except ValueError:
        raise ValueError(f"{filename}: image id {match['id']!r} is not an integer") from None
    try:
        age = int(match["age"])
    except ValueError:
        raise ValueError(f"{filename}: age {match['age']!r} is not an integer") from None
    if not 0 <= age <= 130:
        raise ValueError(f"{filename}: age {age} is outside 0-130")
    gender = match["gender"].lower()
    if gender not in ("m", "f"):
        raise ValueError(f"{filename}: gender {match['gender']!r} is not 'm' or 'f'")
    return Record(image_id=image_id, name=match["name"], age=age, gender=gender, filename=filename)


def _is_ignored(name: str) -> bool:
    return name.startswith(".") or name.lower() in IGNORED_NAMES


def scan_folder(root) -> List[Record]:
    """Records of every image in ``root`` (sorted by file name).

    Hidden and system files are skipped silently. Dangling or looping links and files of other
    types (not .jpg, .jpeg or .png; the split file ``agedb.csv`` aside) are skipped too, counted
    and mentioned in one warning.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"{root}: AgeDB folder does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: expected a folder of AgeDB images, got a file")
    records, broken, other = [], [], []
    try:
        entries = sorted(root.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        raise ValueError(f"{root}: cannot list the AgeDB folder ({exc.strerror})") from None
    for entry in entries:
        if _is_ignored(entry.name):
            continue
        if entry.is_symlink() and not entry.exists():
            broken.append(entry.name)          # dangling link, or a loop of links
            continue
        if not entry.is_file():
            continue
        if entry.suffix.lower() not in IMAGE_SUFFIXES:
            if entry.name != SPLIT_FILE:
                other.append(entry.name)
            continue
        records.append(parse_filename(entry.name))
    if broken or other:
        parts = []
        if broken:
            parts.append(f"{len(broken)} broken or looping link(s) (e.g. {broken[0]})")
        if other:
            parts.append(f"{len(other)} file(s) that are not .jpg/.jpeg/.png images (e.g. {other[0]})")
        warnings.warn(f"{root}: skipped {' and '.join(parts)}", stacklevel=2)
    if not records:
        raise ValueError(f"{root}: no images named '{{id}}_{{Name}}_{{age}}_{{gender}}.jpg' found")
    ids = [r.image_id for r in records]
    if len(set(ids)) != len(ids):
        seen, dup = set(), None
        for r in records:
            if r.image_id in seen:
                dup = r
                break
            seen.add(r.image_id)
        raise ValueError(f"{root / dup.filename}: image id {dup.image_id} occurs more than once")
    return records


def folder_fingerprint(root, records: Sequence[Record]) -> str:
    """A hash of every image's name and bytes: any change to any image changes it.

    Hashing the contents (not just names and sizes) means an image replaced by another of the
    same size still leads to a fresh decode and freshly trained models. AgeDB-sized folders
    hash in well under a second.
    """
    root = Path(root)
    digest = hashlib.sha256()
    for r in records:
        digest.update(r.filename.encode())
        try:
            digest.update(hashlib.sha256((root / r.filename).read_bytes()).digest())
        except OSError as exc:
            raise ValueError(f"{root / r.filename}: cannot read the image ({exc.strerror})") from None
    return digest.hexdigest()[:16]


def decode_image(path: Path, size: int) -> np.ndarray:
    """One image as a ``3 x size x size`` uint8 array (RGB, bilinear resize with antialiasing)."""
    try:
        with Image.open(path) as img:
            img.load()
            rgb = img.convert("RGB")
    except Exception as exc:  # noqa: BLE001 - PIL raises many types for bad files
        raise ValueError(f"{path}: unreadable or truncated image ({exc})") from None
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.BILINEAR, reducing_gap=None)
    return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)


@dataclass
class AgeData:
    """An AgeDB-format data set, decoded to tensors (chapter 03-agedb).

    ``images`` is ``N x 3 x S x S`` uint8; ``ages`` are integers in years; ``identities``
    are ``Name_gender`` keys. ``source`` is ``"synthetic"`` or ``"agedb"``.
    """

    root: Path
    source: str
    image_size: int
    images: torch.Tensor
    ages: np.ndarray
    names: np.ndarray
    genders: np.ndarray
    image_ids: np.ndarray
    filenames: np.ndarray
    fingerprint: str
    predefined_split: Optional[np.ndarray] = None   # 'train'/'val'/'test' per image (agedb.csv)
    identity_note: Optional[str] = None   # why a synthetic set is keyed by its bytes (reference)
    identities: np.ndarray = field(init=False)

    def __post_init__(self):
        self.identities = np.array([f"{n}_{g}" for n, g in zip(self.names, self.genders)])

    def __len__(self) -> int:
        return len(self.ages)

    @property
    def num_subjects(self) -> int:
        return len(np.unique(self.identities))

    def describe(self) -> str:
        kind = "synthetic AgeDB-shaped set" if self.source == "synthetic" else "AgeDB"
        return f"{kind} at {self.root} ({len(self)} images, {self.num_subjects} subjects)"

    def summary(self) -> dict:
        """The statistics ``pixelsecurer describe --json`` prints (see the README, "Command line")."""
        per_subject = {}
        for identity, age in zip(self.identities, self.ages):
            per_subject.setdefault(identity, []).append(int(age))
        subject_means = np.array([np.mean(v) for v in per_subject.values()])
        gender_of = {}
        for identity, gender in zip(self.identities, self.genders):
            gender_of[identity] = gender
        genders = {"m": sum(1 for g in gender_of.values() if g == "m"),
                   "f": sum(1 for g in gender_of.values() if g == "f")}
        flat = self.images.reshape(len(self), 3, -1).to(torch.int16)
        gray = ((flat[:, 0] == flat[:, 1]) & (flat[:, 1] == flat[:, 2])).all(dim=1)
        return {
            "source": self.source,
            "root": str(self.root),
            "images": int(len(self)),
            "subjects": int(len(per_subject)),
            "age_min": int(self.ages.min()),
            "age_max": int(self.ages.max()),
            "age_mean": float(self.ages.mean()),
            "age_median": float(np.median(self.ages)),
            "images_per_subject_mean": float(len(self) / len(per_subject)),
            "images_per_subject_min": int(min(len(v) for v in per_subject.values())),
            "images_per_subject_max": int(max(len(v) for v in per_subject.values())),
            "median_subject_mean_age": float(np.median(subject_means)),
            "genders": genders,
            "grayscale": int(gray.sum()),
            "image_size": int(self.image_size),
        }


def read_split_file(csv_path, records: Sequence[Record]) -> np.ndarray:
    """Per-image split labels from an AgeDB-DIR ``agedb.csv`` (columns ``age,path,split``)."""
    csv_path = Path(csv_path)
    if not csv_path.exists():
        raise FileNotFoundError(f"{csv_path}: split file does not exist")
    if not csv_path.is_file():
        raise ValueError(f"{csv_path}: expected a CSV split file (columns age,path,split), got a folder")
    by_name = {}
    try:
        with open(csv_path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = {"path", "split"} - set(reader.fieldnames or [])
            if missing:
                raise ValueError(f"{csv_path}: expected columns 'age,path,split', missing {sorted(missing)}")
            for row in reader:
                split = (row["split"] or "").strip().lower()
                if split not in ("train", "val", "test"):
                    raise ValueError(f"{csv_path}: split {row['split']!r} for {row['path']} "
                                     "is not train, val or test")
                by_name[Path(row["path"] or "").name] = split
    except UnicodeDecodeError:
        raise ValueError(f"{csv_path}: not UTF-8 text; expected a CSV split file "
                         "(columns age,path,split)") from None
    except OSError as exc:
        raise ValueError(f"{csv_path}: cannot read the split file ({exc.strerror})") from None
    labels = []
    for r in records:
        if r.filename not in by_name:
            raise ValueError(f"{csv_path}: no row for image {r.filename}")
        labels.append(by_name[r.filename])
    return np.array(labels)


def _load_images(target: Path, filenames: List[str], image_size: int,
                 warn: bool = True) -> Optional[torch.Tensor]:
    """The decoded images stored at ``target``, or None when absent or not exactly these (with
    a warning when ``warn``: a damaged file is reported once, by the reader that rebuilds it)."""
    if not target.exists():
        return None
    try:
        payload = load_tensors(target, IMAGES_FORMAT)
        images = payload["images"]
        if (not isinstance(images, torch.Tensor) or images.dtype != torch.uint8
                or tuple(images.shape) != (len(filenames), 3, image_size, image_size)
                or payload.get("filenames") != filenames):
            raise CorruptFile(f"{target}: decoded images do not match the folder")
        return images
    except (CorruptFile, KeyError) as exc:
        if warn:
            warnings.warn(f"ignoring decoded images ({exc}); decoding again", stacklevel=3)
        return None


def _keep_decoded(images: torch.Tensor, filenames: List[str], target: Path) -> None:
    """Store the decoded images for next time; when the cache cannot take them (a full disk, a
    read-only folder) warn in one line and go on with them in memory."""
    try:
        save_tensors({"format": IMAGES_FORMAT, "images": images, "filenames": filenames}, target)
    except StorageError as exc:
        warnings.warn(f"decoded images not cached ({exc}); they are used from memory",
                      stacklevel=3)


def _with_split_file(images_fingerprint: str, csv_path: Path) -> str:
    """The data's fingerprint when an AgeDB-DIR split file goes with it: the images' and the
    split file's bytes together, so that a changed split is a changed data set."""
    try:
        split_bytes = csv_path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{csv_path}: cannot read the split file ({exc.strerror})") from None
    digest = hashlib.sha256(images_fingerprint.encode() + b"\0" + split_bytes)
    return digest.hexdigest()[:16]


def load_folder(root, image_size: int = 32, source: str = "agedb",
                progress: bool = True) -> AgeData:
    """Read an AgeDB-format folder, decoding images once into a cached uint8 tensor.

    The cache file is keyed by a hash of every image's bytes and ``image_size``; it is written
    atomically with a checksum, loaded without pickle, and a corrupt one is rebuilt. When the
    folder holds an AgeDB-DIR ``agedb.csv`` and ``source`` is ``"agedb"``, its split is attached.
    """
    root = Path(root).expanduser().resolve() if Path(root).expanduser().exists() else Path(root)
    records = scan_folder(root)
    filenames = [r.filename for r in records]
    images_fingerprint = folder_fingerprint(root, records)
    target = cache_dir() / "tensors" / f"{images_fingerprint}-{image_size}px-v{DECODER_VERSION}.pt"
    images = _load_images(target, filenames, image_size, warn=False)   # readers need no lock
    if images is None:
        with file_lock(Path(str(target) + ".lock")):
            images = _load_images(target, filenames, image_size)
            if images is None:
                stack = np.empty((len(records), 3, image_size, image_size), dtype=np.uint8)
                iterator = tqdm(records, desc=f"decoding {root.name}", disable=not progress,
                                unit="img", leave=False)
                for i, r in enumerate(iterator):
                    stack[i] = decode_image(root / r.filename, image_size)
                images = torch.from_numpy(stack)
                _keep_decoded(images, filenames, target)
    split, fingerprint = None, images_fingerprint
    if (root / SPLIT_FILE).exists() and source == "agedb":
        split = read_split_file(root / SPLIT_FILE, records)
        fingerprint = _with_split_file(images_fingerprint, root / SPLIT_FILE)
    return AgeData(
        root=root, source=source, image_size=image_size, images=images,
        ages=np.array([r.age for r in records], dtype=np.int64),
        names=np.array([r.name for r in records]),
        genders=np.array([r.gender for r in records]),
        image_ids=np.array([r.image_id for r in records], dtype=np.int64),
        filenames=np.array(filenames),
        fingerprint=fingerprint, predefined_split=split,
    )
