"""`make book` never publishes pages executed under another profile or other settings."""
import os
import subprocess

import pytest

import book_dir

ROOT = book_dir.ROOT


def _make_n(*args, **env):
    environ = {k: v for k, v in os.environ.items() if k not in ("PIXELSECURER_PROFILE", "BOOK_PROFILE")}
    environ.update(env)
    done = subprocess.run(["make", "-n", "book", *args], cwd=ROOT, env=environ, capture_output=True,
                          text=True, check=True)
    return done.stdout


def test_make_book_honours_pixelsecurer_profile_and_defaults_to_cpu():
    assert "PIXELSECURER_PROFILE=cpu .venv/bin/jupyter-book" in _make_n()
    assert "tools/book_dir.py cpu" in _make_n()
    smoke = _make_n(PIXELSECURER_PROFILE="smoke")
    assert "PIXELSECURER_PROFILE=smoke .venv/bin/jupyter-book" in smoke
    assert "tools/book_dir.py smoke" in smoke and '--path-output "$dir"' in smoke
    assert "PIXELSECURER_PROFILE=paper" in _make_n("BOOK_PROFILE=paper", PIXELSECURER_PROFILE="smoke")


def test_each_profile_builds_in_its_own_folder(tmp_path):
    cpu = book_dir.prepare("cpu", tmp_path, environ={})
    smoke = book_dir.prepare("smoke", tmp_path, environ={})
    assert cpu == tmp_path / "cpu" and smoke == tmp_path / "smoke"
    executed = cpu / "_build" / ".jupyter_cache" / "page"
    executed.parent.mkdir(parents=True)
    executed.write_text("a page executed under cpu")
    book_dir.prepare("smoke", tmp_path, environ={})
    assert book_dir.prepare("cpu", tmp_path, environ={}) == cpu
    assert executed.exists(), "building another profile must not touch the cpu build (nor re-run it)"


@pytest.mark.parametrize("setting", ["PIXELSECURER_EPOCHS", "PIXELSECURER_AGEDB", "PIXELSECURER_DEVICE"])
def test_a_changed_setting_empties_the_build_folder(tmp_path, setting):
    folder = book_dir.prepare("cpu", tmp_path, environ={})
    executed = folder / "_build" / ".jupyter_cache" / "page"
    executed.parent.mkdir(parents=True)
    executed.write_text("executed with the default settings")
    book_dir.prepare("cpu", tmp_path, environ={setting: ""})          # empty = unset: kept
    assert executed.exists()
    book_dir.prepare("cpu", tmp_path, environ={setting: "2"})
    assert not executed.exists(), f"a build under other {setting} must start afresh"


def test_a_build_folder_without_a_stamp_is_not_trusted(tmp_path):
    stale = tmp_path / "cpu" / "_build" / "html" / "index.html"
    stale.parent.mkdir(parents=True)
    stale.write_text("built before stamps existed, settings unknown")
    book_dir.prepare("cpu", tmp_path, environ={})
    assert not stale.exists()


def test_an_unknown_profile_is_refused_before_anything_is_built(tmp_path):
    with pytest.raises(ValueError, match="'gpu'.*expected one of smoke, cpu, paper"):
        book_dir.prepare("gpu", tmp_path, environ={})
    assert not (tmp_path / "gpu").exists()


def test_a_change_to_the_library_empties_the_build_folder(tmp_path):
    library = tmp_path / "lib"
    library.mkdir()
    (library / "plots.py").write_text("WIDTH = 6.9\n")
    folder = book_dir.prepare("cpu", tmp_path / "build", environ={}, library=library)
    executed = folder / "_build" / ".jupyter_cache" / "page"
    executed.parent.mkdir(parents=True)
    executed.write_text("executed with the old library")
    book_dir.prepare("cpu", tmp_path / "build", environ={}, library=library)
    assert executed.exists(), "the same code: the executed pages are kept"
    (library / "plots.py").write_text("WIDTH = 7.2\n")
    book_dir.prepare("cpu", tmp_path / "build", environ={}, library=library)
    assert not executed.exists(), "pages computed by other library code must run again"
