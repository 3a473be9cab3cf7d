"""Train/test splits and forget sets (chapters 02-mathematics and 03-agedb).

A *split* divides the data set D into a training part, a validation part and a test part.
A *forget spec* picks the forget set D_f inside the training part; the retain set is the
rest, D_r = D \\ D_f, so D_f and D_r are disjoint and together make up the training part.
The same rule, applied to the test part, gives the test-forget and test-retain parts that
measure how a model does on unseen images of the forgotten kind.

Forget specs (strings, as on the command line):

* ``age:LO-HI`` -- every image whose age is in [LO, HI] (inclusive), e.g. ``age:0-30``;
* ``identity:NAME[,NAME...]`` -- every image of the named subjects (``Name`` or ``Name_m``);
* ``identities:K`` -- every image of K subjects drawn at random (seeded);
* ``random:FRACTION`` -- a random fraction of the training images (seeded).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Tuple

import numpy as np

from .agedb import AgeData

SPLIT_KINDS = ("image", "identity", "agedb-dir")


@dataclass(frozen=True)
class Split:
    """Index arrays into an :class:`AgeData`: ``train``, ``val``, ``test`` (disjoint)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    kind: str
    seed: int

    def key(self) -> dict:
        """What determines the split. A seeded split is its kind, seed and sizes (with the
        data's fingerprint beside it in every cache key); a split read from a file (AgeDB-DIR's
        agedb.csv) adds a hash of which image went where, so that swapping rows is a new split."""
        key = {"kind": self.kind, "seed": self.seed, "train": len(self.train),
               "val": len(self.val), "test": len(self.test)}
        if self.kind == "agedb-dir":
            digest = hashlib.sha256()
            for part in (self.train, self.val, self.test):
                digest.update(np.asarray(part, dtype=np.int64).tobytes() + b"|")
            key["assignment"] = digest.hexdigest()[:16]
        return key


def make_split(data: AgeData, kind: str = "image", seed: int = 0,
               val_fraction: float = 0.13, test_fraction: float = 0.13) -> Split:
    """Split by image (AgeDB-DIR style), by identity (no subject in two parts), or use agedb.csv."""
    if kind not in SPLIT_KINDS:
        raise ValueError(f"unknown split kind {kind!r}: expected one of {', '.join(SPLIT_KINDS)}")
    if not (0 <= val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError("val_fraction and test_fraction must be in [0, 1) and sum to less than 1")
    n = len(data)
    if kind == "agedb-dir":
        if data.predefined_split is None:
            raise ValueError(f"{data.root}: split 'agedb-dir' needs an agedb.csv split file")
        labels = data.predefined_split
        parts = [np.flatnonzero(labels == name) for name in ("train", "val", "test")]
        return Split(*parts, kind=kind, seed=seed)
    rng = np.random.default_rng(seed)
    if kind == "image":
        order = rng.permutation(n)
        n_test = int(round(n * test_fraction))
        n_val = int(round(n * val_fraction))
        test, val, train = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    else:
        subjects = np.unique(data.identities)
        order = rng.permutation(len(subjects))
        n_test = max(1, int(round(len(subjects) * test_fraction)))
        n_val = int(round(len(subjects) * val_fraction))
        test_s = set(subjects[order[:n_test]])
        val_s = set(subjects[order[n_test:n_test + n_val]])
        part = np.array([2 if s in test_s else 1 if s in val_s else 0 for s in data.identities])
        train, val, test = (np.flatnonzero(part == k) for k in (0, 1, 2))
    return Split(np.sort(train), np.sort(val), np.sort(test), kind=kind, seed=seed)


@dataclass(frozen=True)
class ForgetSpec:
    """A parsed forget spec; ``str(spec)`` gives back the canonical text."""

    kind: str
    value: Tuple

    def __str__(self) -> str:
        if self.kind == "age":
            return f"age:{self.value[0]}-{self.value[1]}"
        if self.kind == "identity":
            return "identity:" + ",".join(self.value)
        if self.kind == "identities":
            return f"identities:{self.value[0]}"
        return f"random:{self.value[0]:g}"


FORGET_SPEC_HELP = ("expected 'age:LO-HI', 'identity:NAME[,NAME...]', 'identities:K' "
                    "or 'random:FRACTION'")


def parse_forget_spec(spec) -> ForgetSpec:
    """Parse a forget spec string such as ``age:0-30``; ValueError with the accepted forms."""
    if isinstance(spec, ForgetSpec):
        return spec
    text = str(spec).strip()
    kind, sep, rest = text.partition(":")
    kind = kind.strip().lower()
    rest = rest.strip()
    if not sep or not rest:
        raise ValueError(f"forget spec {text!r} does not parse: {FORGET_SPEC_HELP}")
    if kind == "age":
        m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", rest)
        if not m:
            raise ValueError(f"forget spec {text!r}: age range must be LO-HI with integers, e.g. age:0-30")
        lo, hi = int(m[1]), int(m[2])
        if lo > hi:
            raise ValueError(f"forget spec {text!r}: LO ({lo}) is greater than HI ({hi})")
        return ForgetSpec("age", (lo, hi))
    if kind == "identity":
        names = tuple(n.strip() for n in rest.split(",") if n.strip())
        if not names:
            raise ValueError(f"forget spec {text!r}: no identity named; {FORGET_SPEC_HELP}")
        return ForgetSpec("identity", names)
    if kind == "identities":
        if not re.fullmatch(r"\d+", rest) or int(rest) < 1:
            raise ValueError(f"forget spec {text!r}: K must be a positive integer, e.g. identities:5")
        return ForgetSpec("identities", (int(rest),))
    if kind == "random":
        try:
            fraction = float(rest)
        except ValueError:
            fraction = -1.0
        if not 0 < fraction < 1:
            raise ValueError(f"forget spec {text!r}: FRACTION must be a number in (0, 1), e.g. random:0.1")
        return ForgetSpec("random", (fraction,))
    raise ValueError(f"forget spec {text!r} has unknown kind {kind!r}: {FORGET_SPEC_HELP}")


@dataclass(frozen=True)
class ForgetSet:
    """D_f and D_r inside the training part, and the matching test parts (index arrays)."""

    spec: ForgetSpec
    forget: np.ndarray        # D_f
    retain: np.ndarray        # D_r
    test_forget: np.ndarray
    test_retain: np.ndarray
    identities: Tuple[str, ...] = ()
    val_forget: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    val_retain: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def train(self) -> np.ndarray:
        """D = D_f ∪ D_r: the training part, D_f's images first, then D_r's."""
        return np.concatenate([self.forget, self.retain])

    def mask(self, size: int) -> np.ndarray:
        """A boolean mask over ``size`` images (a whole data set) that is True on D_f."""
        if size <= int(self.train.max(initial=-1)):
            raise ValueError(f"mask size {size} is too small for forget set {self.spec}: "
                             f"expected at least {int(self.train.max()) + 1} images")
        flags = np.zeros(size, dtype=bool)
        flags[self.forget] = True
        return flags

    def key(self) -> dict:
        return {"spec": str(self.spec), "forget": len(self.forget), "retain": len(self.retain),
                "identities": list(self.identities)}


def _resolve_identities(data: AgeData, names) -> Tuple[str, ...]:
    known = set(data.identities.tolist())
    by_name = {}
    for identity in known:
        by_name.setdefault(identity.rsplit("_", 1)[0], []).append(identity)
    chosen = []
    for name in names:
        if name in known:
            chosen.append(name)
        elif name in by_name:
            chosen.extend(sorted(by_name[name]))
        else:
            raise ValueError(f"identity {name!r} is not in the data set at {data.root} "
                             "(expected a Name or Name_gender from the file names)")
    return tuple(dict.fromkeys(chosen))


def forget_split(data: AgeData, split: Split, spec, seed: int = 0) -> ForgetSet:
    """Turn a forget spec into disjoint D_f / D_r index sets of the training part.

    Raises ValueError when D_f would be empty or would leave D_r empty.
    """
    spec = parse_forget_spec(spec)
    train, test, val = split.train, split.test, split.val
    identities: Tuple[str, ...] = ()
    if spec.kind == "age":
        lo, hi = spec.value
        in_train = (data.ages[train] >= lo) & (data.ages[train] <= hi)
        in_test = (data.ages[test] >= lo) & (data.ages[test] <= hi)
        in_val = (data.ages[val] >= lo) & (data.ages[val] <= hi)
    elif spec.kind in ("identity", "identities"):
        if spec.kind == "identity":
            identities = _resolve_identities(data, spec.value)
        else:
            k = spec.value[0]
            candidates = np.unique(data.identities[train])
            if k >= len(candidates):
                raise ValueError(f"forget spec '{spec}': K={k} would forget every one of the "
                                 f"{len(candidates)} training subjects; expected K < {len(candidates)}")
            rng = np.random.default_rng(seed)
            identities = tuple(sorted(rng.choice(candidates, size=k, replace=False).tolist()))
        chosen = np.array(identities)
        in_train = np.isin(data.identities[train], chosen)
        in_test = np.isin(data.identities[test], chosen)
        in_val = np.isin(data.identities[val], chosen)
    else:
        fraction = spec.value[0]
        rng = np.random.default_rng(seed)
        in_train = np.zeros(len(train), dtype=bool)
        n_forget = int(round(fraction * len(train)))
        in_train[rng.choice(len(train), size=n_forget, replace=False)] = True
        in_test = np.zeros(len(test), dtype=bool)   # a random deletion has no test counterpart
        in_val = np.zeros(len(val), dtype=bool)
    forget, retain = train[in_train], train[~in_train]
    if len(forget) == 0:
        raise ValueError(f"forget spec '{spec}' selects no training image: the forget set is empty")
    if len(retain) == 0:
        raise ValueError(f"forget spec '{spec}' selects every training image: the retain set would be empty")
    return ForgetSet(spec=spec, forget=forget, retain=retain, test_forget=test[in_test],
                     test_retain=test[~in_test], identities=identities,
                     val_forget=val[in_val], val_retain=val[~in_val])
