"""A synthetic, AgeDB-shaped face data set (chapter 03-agedb).

AgeDB (Moschoglou et al., 2017) holds 16,488 in-the-wild photos of 568 famous people, aged 1
to 101, named ``{id}_{Name}_{age}_{gender}.jpg``. It cannot be redistributed, so the book runs
by default on this stand-in, which :func:`generate` draws deterministically from a seed.

What the synthetic set *has*:

* AgeDB's shape: 568 subjects by default, about 29 images each (the count varies a lot from
  subject to subject), ages 1-101, each subject photographed over a span of 10-50 years of
  their life, subject mean ages centred near 50, about 59 % men, and one photo in eight
  (``GRAY_SHARE``) a black-and-white "old photo" stored as a real grayscale JPEG. The share is
  the same at every age *on purpose*: in AgeDB black-and-white photos are mostly old prints,
  so they are commoner among the young photos of old celebrities, and a model could read age
  from colour alone. Generator version 1 imitated that tie (61 % of the images aged 1-10 were
  black-and-white in the 40-subject smoke set, 32 % in the full-size set, against 3-7 % above
  60); version 2 cuts it, so that the only age cues are the faces.
* AgeDB's file format, so the same reader (:mod:`pixelsecurer_lib.data.agedb`) serves both.
  Names are made up from syllables (``MiraVolkan``); the identity key is name + gender.
* Age that is *visible but not trivial*. Cartoon faces carry several graded cues, each a smooth
  function of age with a person-specific onset and strength: childhood proportions (large
  cranium, big low-set eyes, short lower face, small chin), elongation of the face with growth,
  wrinkles (forehead lines, crow's feet, nasolabial folds, under-eye bags) from about 30,
  greying hair from a personal onset between about 30 and 65, receding hair for many men,
  sagging jowls, thinner lips and age spots late in life. Nuisance variation sits on top:
  identity (skin tone, hair colour and style, face shape, eye spacing, beards), pose, lighting,
  background, clothing, expression, blur, sensor noise and JPEG compression. At the 32 px the
  models see, the fine lines blur, so age has to be read from several weak cues at once.
  The cues are not graded evenly: growth ends near 18 and wrinkles, greying and a receding
  hairline start between about 30 and 50 at a personal age, so faces aged about 20 to 35 look
  nearly alike and 35 to 50 differ only by faint marks (chapter 03 shows one face at many ages).

What it does *not* show: these are not faces of people. The cues were designed by hand, so
which cue matters and how strongly is our choice, not nature's; and numbers measured on this
set (MAE, unlearning scores, timings) do not transfer to AgeDB. The set is good for running
every chapter end to end and for seeing the *qualitative* behaviour of unlearning methods
(for example that a model trained only on adults badly over-estimates children's ages).

Everything is a deterministic function of the seed: each subject draws from its own
``numpy`` generator seeded with ``(seed, subject index)``, so the same seed writes
byte-identical files in any order. :func:`generate` writes into a temporary sibling folder
and renames it into place at the end, so an interrupted run never leaves a half-written set.
"""
from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, List

import numpy as np
from PIL import Image

__all__ = ["generate", "render_face", "render_faces", "make_traits", "plan_subjects"]

MIN_AGE, MAX_AGE = 1, 101
GRAY_SHARE = 0.125              # one photo in eight is black-and-white, whatever the age
# Bump when a change to the generator changes its output, so cached sets are not reused.
GENERATOR_VERSION = 2           # 2: black-and-white share flat in age (was tied to the year)
JPEG_QUALITY = (85, 95)         # per image, inclusive range
MIN_SIZE, MAX_SIZE = 16, 512    # image side in pixels: rendering holds a subject's images
MAX_SUBJECTS = 100_000          # as float arrays, so a side of 20,000 px would need ~26 GiB

# ---------------------------------------------------------------------------------------------
# names

_FIRST_M = (["Al", "Bor", "Cas", "Dar", "Ed", "Fen", "Gor", "Hal", "Ig", "Jor", "Kas", "Lu",
             "Mar", "Nil", "Os", "Pav", "Quin", "Ros", "Sil", "Tam", "Ul", "Vik", "Wal", "Yan",
             "Zor", "Ben", "Cor", "Dom", "El", "Fab", "Gus", "Har", "Iv", "Jul", "Kon", "Le",
             "Mat", "Nik", "Ot", "Pet", "Rai", "Sten", "Te", "Val", "Wim", "Xan"],
            ["an", "en", "io", "o", "us", "ar", "el", "in", "on", "ek", "ric", "mund", "bert",
             "win", "as", "is", "or", "ian", "ard", "ko"])
_FIRST_F = (["A", "Be", "Ca", "Da", "E", "Fe", "Ga", "Ha", "I", "Jo", "Ka", "La", "Ma", "Na",
             "O", "Pa", "Ri", "Sa", "Ta", "U", "Ve", "Wi", "Ya", "Zo", "Bri", "Cla", "Di", "Eli",
             "Flo", "Gre", "He", "Ire", "Je", "Kla", "Lu", "Mi", "Ni", "Ro", "Si", "Te", "Vi"],
            ["na", "ra", "la", "lia", "ssa", "nne", "ette", "ine", "ia", "da", "elle", "mira",
             "rina", "lotte", "ta", "ka", "ya", "rie", "sha"])
_LAST = (["Vol", "Ber", "Cal", "Dun", "Est", "Fal", "Gar", "Hol", "Ist", "Jen", "Kal", "Lor",
          "Mor", "Nor", "Ost", "Pel", "Ram", "Sel", "Tor", "Ul", "Van", "Wes", "Yor", "Zam",
          "Brad", "Crom", "Del", "Fitz", "Grim", "Hart", "Kess", "Lind", "Marl", "Pratt",
          "Quill", "Rook", "Stan", "Thal", "Weld", "Ash"],
         ["", "", "a", "e", "i", "o", "en", "er", "in", "and"],
         ["kan", "son", "berg", "ez", "ski", "ova", "ley", "ton", "man", "ford", "ini", "escu",
          "ov", "stein", "well", "ard", "dottir", "ick", "is", "ham"])


def _make_name(rng: np.random.Generator, gender: str) -> str:
    starts, ends = _FIRST_M if gender == "m" else _FIRST_F
    first = starts[rng.integers(len(starts))] + ends[rng.integers(len(ends))]
    last = "".join(part[rng.integers(len(part))] for part in _LAST)
    return first.capitalize() + last.capitalize()


# ---------------------------------------------------------------------------------------------
# subjects: who they are, when they were photographed


_HAIR_COLOURS = np.array([[0.07, 0.06, 0.05],    # black
                          [0.20, 0.13, 0.08],    # dark brown
                          [0.38, 0.25, 0.15],    # brown
                          [0.72, 0.58, 0.36],    # blond
                          [0.50, 0.22, 0.10]],   # auburn
                         dtype=np.float32)
_EYE_COLOURS = np.array([[0.25, 0.15, 0.08], [0.35, 0.25, 0.12], [0.25, 0.40, 0.55],
                         [0.30, 0.42, 0.28]], dtype=np.float32)


def make_traits(rng: np.random.Generator, gender: str) -> Dict[str, object]:
    """The fixed, person-specific traits of one synthetic subject (drawn from ``rng``)."""
    male = gender == "m"
    tone = rng.beta(2.2, 1.6)                                   # 0 dark ... 1 light
    dark, light = np.array([0.33, 0.22, 0.15]), np.array([0.95, 0.78, 0.66])
    skin = dark + (light - dark) * tone + rng.normal(0, 0.025, 3)
    hair_p = np.array([0.30, 0.30, 0.20, 0.12, 0.08]) if tone > 0.55 else \
        np.array([0.70, 0.22, 0.06, 0.01, 0.01])
    hair = _HAIR_COLOURS[rng.choice(5, p=hair_p / hair_p.sum())] * rng.uniform(0.85, 1.15)
    recedes = male and rng.random() < 0.6
    return {
        "male": male,
        "skin": np.clip(skin, 0.05, 1.0).astype(np.float32),
        "hair": np.clip(hair, 0.0, 1.0).astype(np.float32),
        "eye": _EYE_COLOURS[rng.integers(len(_EYE_COLOURS))],
        "face_width": rng.normal(1.0, 0.05),
        "face_length": rng.normal(1.0, 0.05),
        "eye_spacing": rng.normal(1.0, 0.07),
        "eye_size": rng.normal(1.0, 0.09),
        "eye_height": rng.normal(0.0, 0.03),
        "jaw_taper": rng.normal(1.0, 0.2),
        "mouth_width": rng.normal(1.0, 0.1),
        "hair_long": rng.random() < (0.12 if male else 0.75),
        "hair_volume": rng.uniform(0.0, 0.10),
        "hairline": rng.normal(0.0, 0.05),
        # ageing, each with its own person-specific onset and strength
        "grey_onset": float(np.clip(rng.normal(47.0, 8.0), 28.0, 72.0)),
        "grey_years": rng.uniform(12.0, 35.0),                     # onset to fully grey
        "grey_tone": rng.uniform(0.62, 0.90),                       # silver ... white
        "recede_onset": float(rng.normal(36.0, 9.0)),
        "recede": rng.uniform(0.35, 1.0) if recedes else 0.0,
        "wrinkle_onset": float(rng.normal(32.0, 6.0)),
        "wrinkle_gain": float(rng.lognormal(0.0, 0.40)),
        "sag": rng.uniform(0.4, 1.5),
        "spots": rng.uniform(0.0, 1.0) * (0.4 + tone),
        "beard": (rng.choice(3, p=[0.6, 0.25, 0.15]) if male else 0),   # none/stubble/full
        "glasses": rng.random() < 0.15,
    }


@dataclass
class SubjectPlan:
    """One subject: identity and the ages (and old-photo flags) of its images."""

    index: int
    name: str
    gender: str
    centre: float
    ages: np.ndarray            # int, one per image
    gray: np.ndarray            # bool, one per image: a black-and-white "old photo"


def _subject_rng(seed: int, index: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(index), int(stream)])


def _draw_subject(seed: int, index: int, images_per_subject: float):
    rng = _subject_rng(seed, index, 0)
    gender = "m" if rng.random() < 0.59 else "f"
    # where in life the subject was photographed: mostly middle age, some child stars
    if rng.random() < 0.12:
        centre = rng.uniform(6.0, 30.0)
        span = rng.uniform(15.0, 50.0)
    else:
        centre = float(np.clip(rng.normal(53.0, 14.0), 18.0, 94.0))
        span = rng.uniform(10.0, 50.0)
    # image count: negative binomial (gamma-Poisson) with mean images_per_subject, at least 1-3
    base = int(min(3, max(1, np.floor(images_per_subject))))
    extra = images_per_subject - base
    lam = rng.gamma(2.0, extra / 2.0) if extra > 0 else 0.0
    count = base + int(rng.poisson(lam))
    ages = centre + span * (rng.random(count) - 0.5)
    ages = np.where(ages < MIN_AGE - 0.5, 2 * MIN_AGE - 1 - ages, ages)          # reflect
    ages = np.where(ages > MAX_AGE + 0.5, 2 * MAX_AGE + 1 - ages, ages)
    ages = np.clip(np.rint(ages), MIN_AGE, MAX_AGE).astype(int)
    # black-and-white photos: the same share at every age, so that colour says nothing about
    # age (in AgeDB they are mostly old prints, which ties them to age; here that tie is cut)
    gray = rng.random(count) < GRAY_SHARE
    name_rng = _subject_rng(seed, index, 2)
    return gender, centre, ages, gray, name_rng


def plan_subjects(seed: int = 0, subjects: int = 568,
                  images_per_subject: float = 29.0) -> List[SubjectPlan]:
    """Identities and ages of every image, without rendering anything."""
    plans, taken = [], set()
    for i in range(subjects):
        gender, centre, ages, gray, name_rng = _draw_subject(seed, i, images_per_subject)
        name = _make_name(name_rng, gender)
        while name in taken:                    # names are unique (hence so is name + gender)
            name = _make_name(name_rng, gender)
        taken.add(name)
        plans.append(SubjectPlan(i, name, gender, centre, ages, gray))
    # the set spans AgeDB's full range: the youngest image is 1, the oldest 101
    youngest = min(plans, key=lambda p: (p.ages.min(), p.index))
    youngest.ages[np.argmin(youngest.ages)] = MIN_AGE
    oldest = max(plans, key=lambda p: (p.ages.max(), -p.index))
    if oldest.ages.size > 1 or oldest is not youngest:
        oldest.ages[np.argmax(oldest.ages)] = MAX_AGE
    return plans


# ---------------------------------------------------------------------------------------------
# rendering


def _smooth01(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _gauss(x, sigma):
    return np.exp(-0.5 * (x / sigma) ** 2)


def _blur(img):
    """Separable [1 4 6 4 1]/16 blur of a batch ``(n, h, w, c)``."""
    p = np.pad(img, ((0, 0), (2, 2), (0, 0), (0, 0)), mode="edge")
    img = (p[:, :-4] + p[:, 4:] + 4 * (p[:, 1:-3] + p[:, 3:-1]) + 6 * p[:, 2:-2]) / 16
    p = np.pad(img, ((0, 0), (0, 0), (2, 2), (0, 0)), mode="edge")
    return (p[:, :, :-4] + p[:, :, 4:] + 4 * (p[:, :, 1:-3] + p[:, :, 3:-1])
            + 6 * p[:, :, 2:-2]) / 16


def _over(img, mask, colour):
    """Paint ``colour`` (n,1,1,3 or n,h,w,3) over ``img`` (in place) where ``mask`` (n,h,w) is 1.

    Only the bounding box of the mask (over the whole batch) is touched.
    """
    rows = np.flatnonzero(mask.max(axis=(0, 2)) > 0)
    if rows.size == 0:
        return img
    cols = np.flatnonzero(mask[:, rows[0]:rows[-1] + 1].max(axis=(0, 1)) > 0)
    box = (slice(None), slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    view = img[box]
    if colour.ndim == 4 and colour.shape[1] > 1:
        colour = colour[box]
    view += mask[box][..., None] * (colour - view)
    return img


def _upsample(noise, size):
    """Bilinear upsampling of a batch of tiny grids ``(n, k, k, c)`` to ``(n, size, size, c)``."""
    n, k, _, c = noise.shape
    pos = (np.arange(size) + 0.5) / size * (k - 1)
    lo = np.minimum(pos.astype(int), k - 2)
    frac = (pos - lo).astype(np.float32)
    weights = np.zeros((size, k), np.float32)
    weights[np.arange(size), lo] = 1.0 - frac
    weights[np.arange(size), lo + 1] = frac
    rows = (weights @ noise.reshape(n, k, k * c)).reshape(n, size, k, c)     # (n, y, l, c)
    out = np.matmul(rows.transpose(0, 1, 3, 2), weights.T)                   # (n, y, c, x)
    return np.ascontiguousarray(out.transpose(0, 1, 3, 2))


def render_faces(ages, traits: Dict[str, object], rng: np.random.Generator, size: int = 64,
                 old_photo=None) -> np.ndarray:
    """Render one subject at several ages: ``(n, size, size, 3)`` uint8 RGB.

    ``old_photo`` (bool per image) renders black-and-white old photos (grainier, softer,
    lower contrast; the three channels equal). Pose, lighting, background, clothing,
    expression, blur and noise are drawn from ``rng`` per image. The stages below run in
    this order (each draws from ``rng`` in turn, so the order fixes the output): pose, head
    geometry, background and body, skin with the ageing marks, eyes/brows/nose/mouth, hair on
    top and glasses, and the camera.
    """
    f32 = np.float32
    ages = np.asarray(ages, dtype=f32).reshape(-1)
    n = ages.size
    g = SimpleNamespace(ages=ages, n=n, S=int(size), t=traits)
    g.old_photo = (np.zeros(n, bool) if old_photo is None
                   else np.asarray(old_photo, bool).reshape(-1))
    g.A = _per_image(g, ages)
    g.grow = 1.0 - (1.0 - np.clip((g.A - 1.0) / 17.0, 0.0, 1.0)) ** 1.6  # 0 infant ... 1 adult
    g.child = 1.0 - g.grow
    g.old = np.clip((g.A - 45.0) / 45.0, 0.0, 1.0)                       # 0 until 45 ... 1 at 90
    for stage in (_pose, _head_geometry, _background_and_body, _skin, _features, _hair_on_top,
                  _camera):
        stage(g, rng)
    return np.clip(g.img * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _per_image(g, x):
    """One value per image, shaped to broadcast over ``(n, S, S)``."""
    return np.asarray(x, dtype=np.float32).reshape(g.n, 1, 1)


def _pose(g, rng):
    """Image coordinates -> face coordinates (u right, v down): rotation, scale, shift."""
    f32, n, S, grow = np.float32, g.n, g.S, g.grow
    coords = ((np.arange(S, dtype=f32) + 0.5) / S * 2.0 - 1.0)
    X, Y = coords[None, None, :], coords[None, :, None]
    theta = _per_image(g, rng.normal(0.0, 0.10, n))
    scale = _per_image(g, rng.normal(1.0, 0.06, n) * (0.93 + 0.07 * grow.reshape(n)))
    dx, dy = _per_image(g, rng.normal(0.0, 0.06, n)), _per_image(g, rng.normal(0.03, 0.05, n))
    cos, sin = np.cos(theta), np.sin(theta)
    g.X, g.Y = X, Y
    g.u = (cos * (X - dx) + sin * (Y - dy)) / scale
    g.v = (-sin * (X - dx) + cos * (Y - dy)) / scale
    g.px = S / 2.0 * scale                                  # pixels per face unit


def _head_geometry(g, rng):
    """Head outline and where the features sit, all graded by age (no randomness)."""
    t, u, v, px, child, grow, old = g.t, g.u, g.v, g.px, g.child, g.grow, g.old
    a = 0.52 * t["face_width"] * (1.0 + 0.12 * child)                 # half width
    b = a * (1.02 + 0.30 * grow) * t["face_length"]                   # half height: elongation
    cy = -0.13 + 0.02 * child                                         # head centre
    hu, hv = u / a, (v - cy) / b
    taper = (0.06 * child + 0.34 * grow) * t["jaw_taper"]
    jowl = 0.10 * t["sag"] * old
    width = (1.0 - taper * np.clip(hv, 0.0, 1.0) ** 2
             + 0.07 * child * _gauss(hv - 0.45, 0.25)                # chubby cheeks
             + jowl * _gauss(hv - 0.72, 0.16))
    r = np.sqrt((hu / width) ** 2 + hv ** 2)
    g.a, g.b, g.cy, g.hu, g.hv, g.r = a, b, cy, hu, hv, r
    g.head = np.clip((1.0 - r) * a * px + 0.5, 0.0, 1.0)
    g.eye_v = 0.22 * child - 0.02 * grow + t["eye_height"]          # low-set eyes in children
    g.brow_v = g.eye_v - 0.20 - 0.04 * child
    g.nose_v = g.eye_v + 0.20 * child + 0.33 * grow
    g.mouth_v = g.eye_v + 0.38 * child + 0.56 * grow
    g.eye_u = 0.40 * t["eye_spacing"]
    g.eye_rx = (0.27 * child + 0.20 * grow) * t["eye_size"]         # big eyes in children
    g.eye_ry = g.eye_rx * (0.62 * child + 0.46 * grow) * (1.0 - 0.30 * old * t["sag"])


def _background_and_body(g, rng):
    """Background, shoulders and clothes, long hair behind the head, neck and ears; the skin
    and hair colours the later stages paint with."""
    f32, n, S, t, A = np.float32, g.n, g.S, g.t, g.A
    u, v, px, a, b, cy, hu, hv = g.u, g.v, g.px, g.a, g.b, g.cy, g.hu, g.hv
    child, grow, old = g.child, g.grow, g.old
    bg_base = _per_image(g, rng.uniform(0.15, 0.85, n))[..., None] * \
        (1.0 + rng.normal(0.0, 0.12, (n, 1, 1, 3))).astype(f32)
    bg_tex = _upsample(rng.normal(0.0, 0.07, (n, 4, 4, 3)).astype(f32), S)
    img = np.clip(bg_base + bg_tex, 0.0, 1.0).astype(f32)
    cloth = _per_image(g, rng.uniform(0.1, 0.8, n))[..., None] * \
        (1.0 + rng.normal(0.0, 0.3, (n, 1, 1, 3))).astype(f32)
    body = 0.70 + 0.30 * grow                                          # children: narrow shoulders
    shoulders = np.clip((1.0 - np.sqrt((u / (1.05 * body)) ** 2 + ((v - 1.40 - 0.15 * child)
                                                                   / 0.72) ** 2)) * px + 0.5,
                        0.0, 1.0)
    skin = np.asarray(t["skin"], f32).reshape(1, 1, 1, 3)
    # skin changes: rosier/lighter in children, sallower and less even with age
    skin = skin * (1.0 + 0.06 * child[..., None] * np.array([1.0, 0.6, 0.7], f32))
    g.skin = skin * (1.0 - 0.10 * old[..., None] * np.array([0.6, 0.9, 1.3], f32))
    hair_col = np.asarray(t["hair"], f32).reshape(1, 1, 1, 3)
    hair_col = hair_col + (0.18 * np.clip(1.0 - A / 10.0, 0, 1))[..., None]   # lighter baby hair
    grey = np.clip((A - t["grey_onset"]) / t["grey_years"], 0.0, 1.0)          # fraction grey
    g.hair_noise = rng.random((n, S, S), dtype=f32)
    greyness = np.clip(grey * 1.4 - 0.4 * g.hair_noise, 0.0, 1.0)[..., None]
    g.hair_px = hair_col + greyness * (t["grey_tone"] - hair_col)
    g.hair_px *= 0.85 + 0.3 * g.hair_noise[..., None]
    img = _over(img, shoulders, cloth)
    if t["hair_long"]:                                                 # long hair behind the head
        back = np.clip((1.0 - np.sqrt((u / (a * 1.22)) ** 2
                                      + ((v - cy - 0.35) / (b * 1.45)) ** 2)) * a * px + 0.5,
                       0.0, 1.0)
        back *= np.clip((cy + b * 1.5 - v) * px, 0.0, 1.0)
        img = _over(img, back * np.clip(A / 6.0, 0.0, 1.0), g.hair_px)
    neck = np.clip((0.33 * a - np.abs(u)) * px + 0.5, 0.0, 1.0) * (v > cy).astype(f32)
    neck *= np.clip((1.35 - v) * px, 0, 1) * np.clip(1.0 - shoulders * 1.0, 0, 1)
    img = _over(img, neck, g.skin * 0.78)
    ears = np.clip((1.0 - np.sqrt(((np.abs(hu) - 0.98) / 0.14) ** 2
                                  + ((hv - g.eye_v - 0.10) / 0.22) ** 2)) * 0.14 * a * px + 0.5,
                   0.0, 1.0)
    g.img = _over(img, ears, g.skin * 0.88)


def _ageing_marks(g, W, wave_phase) -> np.ndarray:
    """How much darker each pixel of the skin is: forehead lines, crow's feet, nasolabial
    folds, under-eye bags and marionette lines, for the images that show any."""
    n, S, t, old, hu, hv, b, px = g.n, g.S, g.t, g.old, g.hu, g.hv, g.b, g.px
    dark = np.zeros((n, S, S), np.float32)
    aged = np.nonzero((W.reshape(n) > 0) | (old.reshape(n) > 0))[0]   # only those show marks
    if not aged.size:
        return dark
    k_ = aged
    Wk, oldk, hvk, auk = W[k_], old[k_], hv[k_], np.abs(hu)[k_]
    eye_vk, brow_vk, nose_vk, mouth_vk = g.eye_v[k_], g.brow_v[k_], g.nose_v[k_], g.mouth_v[k_]
    eye_rxk, eye_ryk, eye_u = g.eye_rx[k_], g.eye_ry[k_], g.eye_u
    line = np.maximum(0.035, 0.7 / (b[k_] * px[k_]))            # no thinner than ~1 px
    # forehead lines
    wav = 0.025 * np.sin(7.0 * hu[k_] + wave_phase[k_])
    fore = sum(_gauss(hvk - (brow_vk - 0.11 * k) + wav, line) for k in (1, 2, 3))
    marks = 0.22 * Wk * fore * np.clip(1.0 - (auk / 0.55) ** 4, 0.0, 1.0)
    # crow's feet at the outer corners of the eyes
    cu, cv = auk - (eye_u + eye_rxk * 1.05), hvk - eye_vk
    fan = sum(_gauss(cv - k * cu, line) for k in (-0.7, 0.0, 0.7))
    marks += 0.25 * Wk * fan * (cu > 0) * _gauss(cu, 0.09)
    # nasolabial folds: from the nose wings to below the mouth corners
    s = np.clip((hvk - nose_vk + 0.04) / (mouth_vk - nose_vk + 0.12), 0.0, 1.0)
    fold = _gauss(auk - 0.22 - 0.16 * s, line * 1.2) * \
        ((hvk > nose_vk - 0.04) & (hvk < mouth_vk + 0.10))
    marks += 0.30 * np.clip(Wk * 1.3, 0, 1.3) * fold
    # under-eye bags
    bags = _gauss(np.sqrt(((auk - eye_u) / (eye_rxk * 1.1)) ** 2
                          + ((hvk - eye_vk - eye_ryk * 1.9) / (eye_ryk + 0.02)) ** 2) - 1.0,
                  0.25)
    marks += 0.16 * np.clip(Wk + 0.3 * oldk, 0, 1.5) * bags
    # marionette lines late in life
    mar = _gauss(auk - 0.30, line) * ((hvk > mouth_vk) & (hvk < mouth_vk + 0.25))
    marks += 0.25 * oldk * t["sag"] * mar
    dark[k_] = marks
    return dark


def _skin(g, rng):
    """The face: shaded skin with the ageing marks, age spots, rosy cheeks, texture, beard."""
    f32, n, t, A, old, child = np.float32, g.n, g.t, g.A, g.old, g.child
    hu, hv, r = g.hu, g.hv, g.r
    g.light_dir = _per_image(g, rng.normal(0.0, 0.25, n))
    shade = 1.0 - 0.22 * r ** 3 + g.light_dir * hu * 0.5
    W = t["wrinkle_gain"] * np.clip((A - t["wrinkle_onset"]) / 45.0, 0.0, 1.2) ** 1.2
    W = W * _per_image(g, rng.uniform(0.6, 1.2, n))            # make-up, retouching, light
    wave_phase = _per_image(g, rng.uniform(0, 6.3, n))
    au = np.abs(hu)
    # age spots: up to 6 per image, likelier with age
    spot_u = rng.uniform(-0.7, 0.7, (n, 6)).astype(f32)
    spot_v = rng.uniform(-0.8, 0.6, (n, 6)).astype(f32)
    spot_on = rng.random((n, 6)) < old.reshape(n, 1) * t["spots"] * 0.8
    dark = _ageing_marks(g, W, wave_phase)
    for i, j in zip(*np.nonzero(spot_on)):
        dark[i] += 0.22 * _gauss(np.sqrt((hu[i] - spot_u[i, j]) ** 2
                                         + (hv[i] - spot_v[i, j]) ** 2), 0.05)
    # rosy cheeks in children
    cheeks = _gauss(np.sqrt((au - 0.48) ** 2 + (hv - g.nose_v - 0.05) ** 2), 0.16)
    face = g.skin * (shade * (1.0 - dark))[..., None]
    face = face + (0.10 * child * cheeks)[..., None] * np.array([0.9, -0.2, -0.2], f32)
    # skin texture: smooth in children, uneven with age
    face = face * (1.0 + ((0.02 + 0.06 * old) * (g.hair_noise - 0.5))[..., None])
    if t["beard"]:                                               # adult men
        beard = (hv > g.nose_v + 0.06) * np.clip((A - 16.0) / 6.0, 0.0, 1.0) * \
            (0.30 if t["beard"] == 1 else 0.85)
        beard = beard * np.clip((hv - g.nose_v - 0.06) * 8.0, 0, 1) * np.clip(au * 1.1 + 0.2, 0, 1)
        face = _over(face, beard.astype(f32), g.hair_px * 0.9)
    g.img = _over(g.img, g.head, face)


def _features(g, rng):
    """Eyes with irises, brows, nose shading and the mouth (its smile drawn per image)."""
    f32, n, t, old, child, grow = np.float32, g.n, g.t, g.old, g.child, g.grow
    hu, hv, a, b, px, img = g.hu, g.hv, g.a, g.b, g.px, g.img
    eye_u, eye_v, eye_rx, eye_ry = g.eye_u, g.eye_v, g.eye_rx, g.eye_ry
    au = np.abs(hu)
    eyes = np.clip((1.0 - np.sqrt(((au - eye_u) / eye_rx) ** 2 + ((hv - eye_v) / eye_ry) ** 2))
                   * eye_ry * b * px + 0.5, 0.0, 1.0)
    img = _over(img, eyes, g.skin * 0.2 + 0.72)
    iris_r = eye_ry * (1.0 + 0.3 * child)
    iris = np.clip((1.0 - np.sqrt(((au - eye_u) / iris_r * 0.9) ** 2
                                  + ((hv - eye_v) / iris_r) ** 2)) * iris_r * b * px + 0.5,
                   0.0, 1.0) * eyes
    img = _over(img, iris, np.asarray(t["eye"], f32) * 0.8)
    brow_th = 0.035 * (1.3 if t["male"] else 1.0) * (0.6 + 0.4 * grow)
    brow_arc = g.brow_v - 0.06 * (1.0 - ((au - eye_u) / (eye_rx * 1.3)) ** 2)
    brows = np.clip((brow_th - np.abs(hv - brow_arc)) * b * px + 0.5, 0.0, 1.0) * \
        np.clip((eye_rx * 1.3 - np.abs(au - eye_u)) * a * px + 0.5, 0.0, 1.0)
    img = _over(img, brows * 0.85, g.hair_px * 0.7)
    nostril_u = 0.07 + 0.05 * grow
    nostrils = _gauss(np.sqrt(((au - nostril_u) / 1.6) ** 2 + (hv - g.nose_v) ** 2), 0.025)
    bridge = _gauss(hu - 0.06 * g.light_dir, 0.05) * (hv > eye_v) * (hv < g.nose_v)
    img *= (1.0 - 0.45 * nostrils - 0.08 * bridge * grow)[..., None]
    smile = _per_image(g, rng.uniform(-0.3, 1.0, n))
    mouth_w = (0.20 * child + 0.28 * grow) * t["mouth_width"]
    lip = 0.055 * (1.0 - 0.45 * old) * (0.8 + 0.2 * grow)
    mouth_c = g.mouth_v + (0.06 * smile - 0.05 * old * t["sag"]) * (1.0 - (hu / mouth_w) ** 2)
    mouth = np.clip((lip - np.abs(hv - mouth_c)) * b * px + 0.5, 0.0, 1.0) * \
        np.clip((mouth_w - au) * a * px + 0.5, 0.0, 1.0)
    g.img = _over(img, mouth, g.skin * np.array([0.72, 0.45, 0.45], f32))


def _hair_on_top(g, rng):
    """Hair on top (the hairline recedes and the hair thins with age), then glasses."""
    f32, n, t, A, child, ages = np.float32, g.n, g.t, g.A, g.child, g.ages
    hu, hv, a, b, px, img = g.hu, g.hv, g.a, g.b, g.px, g.img
    au = np.abs(hu)
    vol = t["hair_volume"]
    cap = np.clip((1.0 - np.sqrt((hu / (1.06 + vol)) ** 2
                                 + ((hv + vol) / (1.04 + vol)) ** 2)) * a * px + 0.5, 0.0, 1.0)
    rec = t["recede"] * np.clip((A - t["recede_onset"]) / 25.0, 0.0, 1.0)
    hairline = (g.brow_v - 0.22 - 0.06 * child + t["hairline"] + 0.55 * hu ** 2
                - rec * (0.30 + 0.25 * _gauss(au - 0.45, 0.18)))
    top = np.clip((hairline - hv) * b * px * 0.7 + 0.5, 0.0, 1.0)
    side = np.clip((au - 0.88) * a * px + 0.5, 0.0, 1.0) * (hv < g.eye_v + (0.5 if t["hair_long"]
                                                                             else 0.0))
    density = np.clip(A / 4.0, 0.3, 1.0) * (1.0 - 0.55 * rec * _gauss(hv + 0.9, 0.25))
    img = _over(img, cap * np.maximum(top, side) * density, g.hair_px)
    if t["glasses"] and ages.max() >= 10:
        eye_u, eye_v, eye_rx = g.eye_u, g.eye_v, g.eye_rx
        ring = np.sqrt(((au - eye_u) / (eye_rx * 1.35)) ** 2 + ((hv - eye_v) / (eye_rx * 1.0)) ** 2)
        frame = 0.8 * np.clip((0.02 - np.abs(ring - 1.0) * eye_rx) * a * px + 0.5, 0.0, 1.0)
        wear = _per_image(g, (rng.random(n) < 0.7) & (ages >= 10))
        img = _over(img, frame * wear, np.full((1, 1, 1, 3), 0.08, f32))
    g.img = img


def _camera(g, rng):
    """Lighting, white balance and contrast; old photos in grey; blur and sensor noise."""
    f32, n, S, X, Y, img, old_photo = np.float32, g.n, g.S, g.X, g.Y, g.img, g.old_photo
    bright = _per_image(g, rng.uniform(0.75, 1.2, n))
    grad = (1.0 + _per_image(g, rng.normal(0.0, 0.15, n)) * X
            + _per_image(g, rng.normal(0.0, 0.1, n)) * Y)
    img *= (bright * grad)[..., None]
    img *= rng.normal(1.0, 0.05, (n, 1, 1, 3)).astype(f32)               # white balance
    contrast = _per_image(g, rng.uniform(0.8, 1.15, n))[..., None]
    img = (img - 0.5) * contrast + 0.5
    if old_photo.any():
        luma = img @ np.array([0.299, 0.587, 0.114], f32)
        vignette = 1.0 - 0.25 * (X ** 2 + Y ** 2)
        luma = (luma - 0.5) * 0.9 + 0.5 * vignette
        img = np.where(old_photo.reshape(n, 1, 1, 1), luma[..., None], img)
    blur_amt = np.clip(rng.uniform(-0.3, 1.0, n) + 0.6 * old_photo, 0.0, 1.0).astype(f32)
    twice = rng.random(n) < 0.25 + 0.5 * old_photo
    soft = np.nonzero(blur_amt > 0)[0]
    if soft.size:
        blurred = _blur(img[soft])
        again = np.nonzero(twice[soft])[0]
        if again.size:
            blurred[again] = _blur(blurred[again])
        img[soft] += blur_amt[soft].reshape(-1, 1, 1, 1) * (blurred - img[soft])
    sigma = _per_image(g, rng.uniform(0.005, 0.035, n) + 0.015 * old_photo)[..., None]
    noise = rng.random((n, S, S, 3), dtype=f32)          # uniform noise, variance sigma^2
    noise -= 0.5
    if old_photo.any():                                  # film grain is colourless
        noise[old_photo] = noise[old_photo][..., :1]
    img += (sigma * np.float32(12 ** 0.5)) * noise
    g.img = img


def render_face(age: float, traits: Dict[str, object], rng: np.random.Generator,
                size: int = 64, old_photo: bool = False) -> np.ndarray:
    """Render one face at ``age``: ``(size, size, 3)`` uint8 RGB."""
    return render_faces([age], traits, rng, size, old_photo=[old_photo])[0]


# ---------------------------------------------------------------------------------------------
# writing the set


def _check_args(seed, subjects, size, images_per_subject):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    if isinstance(subjects, bool) or not isinstance(subjects, (int, np.integer)) or \
            not 1 <= subjects <= MAX_SUBJECTS:
        raise ValueError(f"subjects must be an integer from 1 to {MAX_SUBJECTS}, got {subjects!r}.")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or \
            not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be an integer from {MIN_SIZE} to {MAX_SIZE} (pixels), "
                         f"got {size!r}.")
    try:
        ok = float(images_per_subject) > 0 and np.isfinite(float(images_per_subject))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError("images_per_subject must be a positive number, "
                         f"got {images_per_subject!r}.")


def _check_out_dir(out_dir: Path):
    if out_dir.exists():
        if not out_dir.is_dir():
            raise ValueError(f"{out_dir} exists and is not a folder; choose another output folder.")
        if any(out_dir.iterdir()):
            raise ValueError(f"{out_dir} is not empty; the synthetic set needs a new or empty "
                             "folder.")


def generate(out_dir, seed: int = 0, subjects: int = 568, size: int = 64,
             images_per_subject: float = 29.0, progress: bool = True) -> Path:
    """Write the synthetic set into out_dir (created; must not already contain images -> ValueError). Returns the path.

    Files are named ``{id}_{Name}_{age}_{gender}.jpg`` like AgeDB's; black-and-white photos
    are stored as grayscale JPEGs (PIL mode ``L``), the rest as RGB JPEGs. The same arguments
    always give byte-identical files.
    """
    _check_args(seed, subjects, size, images_per_subject)
    seed = int(seed)
    out_dir = Path(out_dir).expanduser().absolute()
    _check_out_dir(out_dir)
    from .._io import ensure_folder
    ensure_folder(out_dir.parent, "parent folder of the output")
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)

    plans = plan_subjects(seed, int(subjects), float(images_per_subject))
    total = sum(p.ages.size for p in plans)
    ids = np.random.default_rng([seed, 2 ** 31 - 1]).permutation(total)
    starts = np.cumsum([0] + [p.ages.size for p in plans])

    def render(plan):
        # each subject has its own random stream, so the order of rendering does not matter
        rng = _subject_rng(seed, plan.index, 1)
        traits = make_traits(rng, plan.gender)
        images = render_faces(plan.ages, traits, rng, int(size), old_photo=plan.gray)
        quality = rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1, plan.ages.size)
        return plan, images, quality

    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(plans), desc="synthetic AgeDB", unit="subject")
    try:
        tmp.mkdir()
        # NumPy releases the GIL in its array loops: two threads render about 1.5x faster
        # (in chunks, so that an interrupt waits for a few subjects, not for all of them)
        with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
            for first in range(0, len(plans), 16):
                for plan, images, quality in pool.map(render, plans[first:first + 16]):
                    _write_subject(tmp, plan, images, quality,
                                   ids[starts[plan.index]:starts[plan.index + 1]])
                    if bar is not None:
                        bar.update(1)
        _check_out_dir(out_dir)
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(tmp, out_dir)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        from .._io import storage_error
        raise storage_error(out_dir, exc, "write the synthetic set") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if bar is not None:
            bar.close()
    return out_dir


def _write_subject(folder: Path, plan, images: np.ndarray, quality: np.ndarray, ids) -> None:
    """One subject's images as AgeDB-named JPEG files (grayscale for the old photos)."""
    for j in range(plan.ages.size):
        name = f"{int(ids[j])}_{plan.name}_{int(plan.ages[j])}_{plan.gender}.jpg"
        pil = Image.fromarray(np.ascontiguousarray(images[j, :, :, 0]) if plan.gray[j]
                              else images[j])
        pil.save(folder / name, format="JPEG", quality=int(quality[j]))
