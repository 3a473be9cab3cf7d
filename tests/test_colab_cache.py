"""setup_chapter(cache=FOLDER), the first cell's Colab line: data and models go to FOLDER and a
new runtime (an empty local cache) loads them from there. A temporary folder stands in for Drive."""
import os

import pixelsecurer_lib as psl


def test_cache_folder_receives_the_data_and_models_and_outlives_the_runtime(tmp_path, monkeypatch, tiny_agedb):
    local, drive = tmp_path / "runtime-disk", tmp_path / "drive" / "MyDrive" / "pixelsecurer"
    monkeypatch.setenv("PIXELSECURER_CACHE", str(local))
    ctx = psl.setup_chapter(seed=0, profile="smoke", device="cpu", data_root=tiny_agedb,
                            progress=False, verbose=False, cache=drive)
    assert os.environ["PIXELSECURER_CACHE"] == str(drive)
    assert list((drive / "tensors").glob("*.pt")), "the decoded images were not kept in the folder"
    first = ctx.original()
    assert not first.from_cache
    assert list((drive / "models").glob("*.pt")), "the trained model was not kept in the folder"
    assert not local.exists() or not any(local.rglob("*.pt")), "nothing may go to the runtime's disk"

    monkeypatch.setenv("PIXELSECURER_CACHE", str(tmp_path / "a-fresh-runtime"))   # Colab reset
    again = psl.setup_chapter(seed=0, profile="smoke", device="cpu", data_root=tiny_agedb,
                              progress=False, verbose=False, cache=drive).original()
    assert again.from_cache and again.key == first.key


def test_a_file_is_refused_as_cache_folder(tmp_path):
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("x")
    try:
        psl.setup_chapter(profile="smoke", load_data=False, verbose=False, cache=not_a_folder)
    except ValueError as error:           # StorageError: one sentence naming the path
        assert str(not_a_folder) in str(error) and "expected a folder" in str(error)
    else:
        raise AssertionError("a file must be refused as the cache folder")


def test_the_profile_argument_beats_the_environment(monkeypatch):
    monkeypatch.setenv("PIXELSECURER_PROFILE", "paper")
    ctx = psl.setup_chapter(profile="smoke", load_data=False, verbose=False)
    assert ctx.profile.name == "smoke"


def test_generated_images_stay_on_the_local_disk_when_the_cache_moves(tmp_path, monkeypatch):
    local, drive = tmp_path / "runtime-disk", tmp_path / "drive" / "MyDrive" / "pixelsecurer"
    monkeypatch.setenv("PIXELSECURER_CACHE", str(local))
    ctx = psl.setup_chapter(seed=0, profile="smoke", device="cpu", data_root="synthetic",
                            progress=False, verbose=False, cache=drive)
    assert ctx.data.source == "synthetic"
    assert list((local / "synthetic").rglob("*.jpg")), "the images were not generated locally"
    assert not list(drive.rglob("*.jpg")), "thousands of small files may not go to Drive"
    assert list((drive / "tensors").glob("*.pt")), "the decoded tensor belongs with the models"
