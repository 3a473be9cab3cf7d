"""The AgeDB reader: file names, decoding, the tensor cache, and every kind of bad input."""
import json
import shutil
import time
import warnings

import numpy as np
import pytest
from PIL import Image

from conftest import SUBJECTS, write_tiny_agedb
from pixelsecurer_lib.data import agedb
from pixelsecurer_lib.data.agedb import load_folder, parse_filename, read_split_file, scan_folder


def test_parse_filename_reads_id_name_age_gender():
    r = parse_filename("11706_OliviaHussey_31_f.jpg")
    assert (r.image_id, r.name, r.age, r.gender) == (11706, "OliviaHussey", 31, "f")
    assert r.identity == "OliviaHussey_f"


@pytest.mark.parametrize("name, fragment", [
    ("OliviaHussey_31_f.jpg", "does not match"),
    ("1_OliviaHussey_3x_f.jpg", "age '3x' is not an integer"),
    ("1_OliviaHussey_31_x.jpg", "gender 'x'"),
    ("a1_OliviaHussey_31_f.jpg", "image id 'a1' is not an integer"),
])
def test_bad_filenames_are_refused_with_the_name(name, fragment):
    with pytest.raises(ValueError) as err:
        parse_filename(name)
    assert name in str(err.value) and fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_reader_skips_system_files_reads_png_and_converts_grayscale(tiny_agedb):
    records = scan_folder(tiny_agedb)
    assert len(records) == len(SUBJECTS) * 12
    assert any(r.filename.endswith(".png") for r in records)
    data = load_folder(tiny_agedb, image_size=16, progress=False)
    assert data.images.shape == (len(records), 3, 16, 16)
    assert data.images.dtype.is_floating_point is False
    # grayscale files became three equal channels
    gray = [i for i, f in enumerate(data.filenames) if Image.open(tiny_agedb / f).mode == "L"]
    assert gray and all(bool((data.images[i][0] == data.images[i][1]).all()) for i in gray)
    # identity is name + gender: AnnaBell exists as f and m
    assert {"AnnaBell_f", "AnnaBell_m"} <= set(data.identities)
    assert data.num_subjects == len(SUBJECTS)


def test_decoded_tensor_is_cached_and_reused(tmp_path):
    folder = write_tiny_agedb(tmp_path / "db", per_subject=3)
    first = load_folder(folder, image_size=16, progress=False)
    cached = list((agedb.cache_dir() / "tensors").glob(f"{first.fingerprint}-16px*.pt"))
    assert len(cached) == 1
    # break decoding: a second load must not decode any JPEG
    original = agedb.decode_image
    agedb.decode_image = lambda *a, **k: (_ for _ in ()).throw(AssertionError("decoded again"))
    try:
        again = load_folder(folder, image_size=16, progress=False)
    finally:
        agedb.decode_image = original
    assert bool((again.images == first.images).all())


def test_corrupt_tensor_cache_is_rebuilt(tmp_path):
    folder = write_tiny_agedb(tmp_path / "db", per_subject=2)
    first = load_folder(folder, image_size=16, progress=False)
    path = next((agedb.cache_dir() / "tensors").glob(f"{first.fingerprint}-16px*.pt"))
    path.write_bytes(path.read_bytes()[:100])           # truncate it
    again = load_folder(folder, image_size=16, progress=False)
    assert bool((again.images == first.images).all())


def test_missing_folder_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        scan_folder(tmp_path / "nope")


def test_empty_folder_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".DS_Store").write_text("x")
    with pytest.raises(ValueError, match="no images"):
        scan_folder(tmp_path / "empty")


def test_unreadable_image_is_refused_by_name(tmp_path):
    folder = write_tiny_agedb(tmp_path / "db", per_subject=2)
    victim = sorted(p for p in folder.iterdir() if p.suffix == ".jpg")[3]
    victim.write_bytes(victim.read_bytes()[:40])         # truncated JPEG
    with pytest.raises(ValueError) as err:
        load_folder(folder, image_size=16, progress=False)
    assert victim.name in str(err.value) and "truncated" in str(err.value)
    # nothing half-written in the cache
    assert not list((agedb.cache_dir() / "tensors").glob("*.tmp"))


def test_badly_named_jpg_in_folder_is_refused(tmp_path):
    folder = write_tiny_agedb(tmp_path / "db", per_subject=2)
    shutil.copy(next(folder.glob("*.jpg")), folder / "holiday.jpg")
    with pytest.raises(ValueError, match="holiday.jpg"):
        scan_folder(folder)


def test_summary_statistics(tiny_agedb):
    data = load_folder(tiny_agedb, image_size=16, progress=False)
    s = data.summary()
    assert s["images"] == len(data) and s["subjects"] == len(SUBJECTS)
    assert s["genders"] == {"m": 5, "f": 4}
    assert s["age_min"] == data.ages.min() and s["grayscale"] >= len(SUBJECTS)
    json.dumps(s)


def test_agedb_dir_split_file(tmp_path):
    folder = write_tiny_agedb(tmp_path / "db", per_subject=3)
    records = scan_folder(folder)
    csv = tmp_path / "agedb.csv"
    lines = ["age,path,split"] + [f"{r.age},AgeDB/{r.filename},{['train', 'val', 'test'][i % 3]}"
                                  for i, r in enumerate(records)]
    csv.write_text("\n".join(lines) + "\n")
    labels = read_split_file(csv, records)
    assert list(labels[:3]) == ["train", "val", "test"]
    csv.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ValueError, match="no row for image"):
        read_split_file(csv, records)


def test_broken_links_and_other_file_types_are_counted_in_one_warning(tmp_path):
    folder = write_tiny_agedb(tmp_path / "db", per_subject=2)
    (folder / "9001_Ghost_30_m.jpg").symlink_to(folder / "nowhere.jpg")       # dangling
    (folder / "9002_Loop_30_m.jpg").symlink_to(folder / "9003_Loop_30_m.jpg")  # a loop of two
    (folder / "9003_Loop_30_m.jpg").symlink_to(folder / "9002_Loop_30_m.jpg")
    (folder / "9004_Anim_30_m.gif").write_bytes(b"GIF89a")
    (folder / "notes.txt").write_text("hello")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = scan_folder(folder)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages
    assert "3 broken or looping link(s)" in messages[0]
    assert "2 file(s) that are not .jpg/.jpeg/.png images" in messages[0]
    assert len(records) == len(SUBJECTS) * 2


def test_a_split_file_that_is_a_folder_or_not_utf8_is_one_clear_error(tmp_path):
    folder = write_tiny_agedb(tmp_path / "db", per_subject=2)
    records = scan_folder(folder)
    as_folder = tmp_path / "agedb.csv"
    as_folder.mkdir()
    with pytest.raises(ValueError, match="expected a CSV split file.*got a folder"):
        read_split_file(as_folder, records)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("age,path,split\n30,Jos\xe9.jpg,train\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8 text"):
        read_split_file(latin, records)
    # as the reader meets it inside an AgeDB folder
    (folder / "agedb.csv").mkdir()
    with pytest.raises(ValueError, match="agedb.csv: expected a CSV split file"):
        load_folder(folder, image_size=16, progress=False)


def test_a_corrupt_tensor_cache_is_reported_once(tmp_path):
    folder = write_tiny_agedb(tmp_path / "db", per_subject=2)
    first = load_folder(folder, image_size=16, progress=False)
    path = next((agedb.cache_dir() / "tensors").glob(f"{first.fingerprint}-16px*.pt"))
    path.write_bytes(path.read_bytes()[:100])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_folder(folder, image_size=16, progress=False)
    assert sum("ignoring decoded images" in str(w.message) for w in caught) == 1


def _split_file(folder, records, parts):
    lines = ["age,path,split"] + [f"{r.age},AgeDB/{r.filename},{p}" for r, p in zip(records, parts)]
    (folder / "agedb.csv").write_text("\n".join(lines) + "\n")


def test_a_changed_split_file_is_a_changed_data_set_and_retrains(tmp_path, monkeypatch):
    """Issue 26, case 1: rows swapped between test and train in agedb.csv (same counts)."""
    import pixelsecurer_lib as psl

    monkeypatch.setenv("PIXELSECURER_CACHE", str(tmp_path / "cache"))
    folder = write_tiny_agedb(tmp_path / "AgeDB", per_subject=6)
    records = scan_folder(folder)
    parts = [["train", "train", "val", "test"][i % 4] for i in range(len(records))]
    _split_file(folder, records, parts)
    ctx = psl.setup_chapter(profile="smoke", device="cpu", data_root=folder, progress=False,
                            verbose=False)
    before = ctx.original()
    assert ctx.split.kind == "agedb-dir" and "assignment" in ctx.split.key()
    swapped = list(parts)
    tests = [i for i, p in enumerate(parts) if p == "test"][:5]
    trains = [i for i, p in enumerate(parts) if p == "train"][:5]
    for t, r in zip(tests, trains):
        swapped[t], swapped[r] = "train", "test"
    _split_file(folder, records, swapped)
    again = psl.setup_chapter(profile="smoke", device="cpu", data_root=folder, progress=False,
                              verbose=False)
    assert again.data.fingerprint != ctx.data.fingerprint
    assert again.split.key()["assignment"] != ctx.split.key()["assignment"]
    assert len(again.split.test) == len(ctx.split.test)            # the same counts
    after = again.original()
    assert not after.from_cache and after.key != before.key
