"""Tests of the synthetic AgeDB-shaped data set (pixelsecurer_lib.data.synthetic)."""
import re

import numpy as np
import pytest
from PIL import Image

from pixelsecurer_lib.data import synthetic
from pixelsecurer_lib.data.synthetic import generate, make_traits, plan_subjects, render_face

PATTERN = re.compile(r"^(\d+)_([A-Z][a-z]+[A-Z][a-z]+)_(\d+)_([mf])\.jpg$")
SMALL = dict(subjects=12, size=32, progress=False)


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("s") / "synth", seed=3, **SMALL)


def _parse(folder):
    return [PATTERN.match(p.name) for p in sorted(folder.iterdir())]


def test_file_names_follow_agedb_pattern(small_set):
    matches = _parse(small_set)
    assert matches and all(matches), [p.name for p, m in zip(sorted(small_set.iterdir()), matches)
                                      if not m]
    ids = [int(m[1]) for m in matches]
    assert len(set(ids)) == len(ids)
    ages = [int(m[3]) for m in matches]
    assert min(ages) >= 1 and max(ages) <= 101
    # the set always spans AgeDB's full range
    assert min(ages) == 1 and max(ages) == 101
    # identity = name + gender; each name has a single gender
    names = {}
    for m in matches:
        names.setdefault(m[2], set()).add(m[4])
    assert len(names) == SMALL["subjects"]
    assert all(len(g) == 1 for g in names.values())


def test_total_close_to_requested(small_set):
    n = len(list(small_set.iterdir()))
    assert 12 * 3 <= n <= 12 * 29 * 3
    plans = plan_subjects(0, 568)
    total = sum(p.ages.size for p in plans)
    assert abs(total - 568 * 29) / (568 * 29) < 0.08
    assert min(p.ages.size for p in plans) >= 3


def test_images_open_at_size_and_grayscale_is_mode_L(small_set):
    modes = set()
    for p in sorted(small_set.iterdir()):
        with Image.open(p) as img:
            assert img.format == "JPEG"
            assert img.size == (32, 32)
            modes.add(img.mode)
    assert modes == {"RGB", "L"}


def test_deterministic_and_seed_dependent(tmp_path, small_set):
    again = generate(tmp_path / "again", seed=3, **SMALL)
    names = sorted(p.name for p in small_set.iterdir())
    assert names == sorted(p.name for p in again.iterdir())
    for name in names:
        assert (small_set / name).read_bytes() == (again / name).read_bytes()
    other = generate(tmp_path / "other", seed=4, **SMALL)
    assert sorted(p.name for p in other.iterdir()) != names


def test_subjects_independent_of_set_size(tmp_path):
    # subject i is drawn from its own generator: a bigger set starts with the same people
    few = plan_subjects(5, 3)
    many = plan_subjects(5, 40)
    for a, b in zip(few, many):
        assert a.name == b.name and a.gender == b.gender
    rng1, rng2 = np.random.default_rng(1), np.random.default_rng(1)
    t1, t2 = make_traits(rng1, "f"), make_traits(rng2, "f")
    assert np.array_equal(render_face(40, t1, rng1, 32), render_face(40, t2, rng2, 32))


def test_render_face_shape_and_dtype():
    rng = np.random.default_rng(0)
    traits = make_traits(rng, "m")
    img = render_face(70.0, traits, rng, size=48)
    assert img.shape == (48, 48, 3) and img.dtype == np.uint8
    gray = render_face(70.0, traits, rng, size=48, old_photo=True)
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 0], gray[..., 2])


def test_statistics_of_default_plan():
    plans = plan_subjects(0, 568)
    ages = np.concatenate([p.ages for p in plans])
    gray = np.concatenate([p.gray for p in plans])
    assert ages.min() == 1 and ages.max() == 101
    assert 45 <= np.median([p.ages.mean() for p in plans]) <= 55
    assert 0.52 <= np.mean([p.gender == "m" for p in plans]) <= 0.66
    assert 0.08 <= gray.mean() <= 0.18
    assert 0.15 <= np.mean(ages <= 30) <= 0.25
    assert 0.20 <= np.mean(ages >= 60) <= 0.30
    assert len({p.name for p in plans}) == 568


def test_black_and_white_share_does_not_depend_on_age():
    # colour must not be an age cue: every age band holds about GRAY_SHARE black-and-white
    # photos (generator version 1 had 32 % among ages 1-10 and 3 % among ages 81-101)
    plans = plan_subjects(0, 568)
    ages = np.concatenate([p.ages for p in plans])
    gray = np.concatenate([p.gray for p in plans])
    for lo, hi in ((1, 10), (11, 20), (21, 30), (31, 45), (46, 60), (61, 80), (81, 101)):
        band = (ages >= lo) & (ages <= hi)
        assert band.sum() > 500
        share = gray[band].mean()
        # within 3.5 binomial standard errors of the target share
        tolerance = 3.5 * np.sqrt(synthetic.GRAY_SHARE * (1 - synthetic.GRAY_SHARE) / band.sum())
        assert abs(share - synthetic.GRAY_SHARE) < tolerance, (lo, hi, share)


def test_cache_folder_names_the_generator_version():
    from pixelsecurer_lib.data import synthetic_folder

    assert f"-v{synthetic.GENERATOR_VERSION}-" in synthetic_folder(40, 32).name


def test_refuses_non_empty_folder_and_replaces_empty_one(tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    (full / "1_SomeOne_30_m.jpg").write_bytes(b"x")
    with pytest.raises(ValueError, match="full"):
        generate(full, **SMALL)
    assert [p.name for p in full.iterdir()] == ["1_SomeOne_30_m.jpg"]
    empty = tmp_path / "empty"
    empty.mkdir()
    out = generate(empty, seed=1, subjects=2, size=16, progress=False)
    assert out == empty.absolute() and any(empty.iterdir())
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("kwargs, word", [
    (dict(subjects=0), "subjects"),
    (dict(subjects=2.5), "subjects"),
    (dict(size=8), "size"),
    (dict(images_per_subject=0), "images_per_subject"),
    (dict(images_per_subject=-3.0), "images_per_subject"),
])
def test_refuses_bad_arguments(tmp_path, kwargs, word):
    args = dict(SMALL, **kwargs)
    with pytest.raises(ValueError, match=word):
        generate(tmp_path / "x", **args)
    assert list(tmp_path.iterdir()) == []


def test_no_temporary_folder_left_after_failure(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(synthetic, "render_faces", boom)
    with pytest.raises(RuntimeError):
        generate(tmp_path / "broken", **SMALL)
    assert list(tmp_path.iterdir()) == []


def test_small_images_per_subject(tmp_path):
    out = generate(tmp_path / "tiny", seed=0, subjects=5, size=16, images_per_subject=1.0,
                   progress=False)
    files = list(out.iterdir())
    assert len(files) >= 5 and all(PATTERN.match(p.name) for p in files)
