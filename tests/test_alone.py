"""A chapter runs alone: from the built wheel, in a fresh environment holding only what Colab has,
in an empty folder, with an empty cache (smoke profile). A notebook may depend on no file of the
repository, and the repository's own copy of the package must not be what it imports."""
from pathlib import Path

import pytest

import alone
import release

CHAPTER = release.ROOT / "book" / "05-retraining.ipynb"      # trains the original and a retrained model


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return alone.run(CHAPTER, profile="smoke", work=tmp_path_factory.mktemp("alone"))


def test_the_chapter_runs_to_its_end_alone(run):
    assert run["error"] is None, run["error"]
    assert run["probe"] is not None, "the probe cell after the last cell did not run"


def test_the_library_comes_from_the_wheel_not_the_repository(run):
    venv = Path(run["venv"]).resolve()
    imported = Path(run["probe"]["file"]).resolve()
    assert venv in imported.parents, f"pixelsecurer_lib imported from {imported}, not from {venv}"
    assert release.ROOT.resolve() not in imported.parents
    assert Path(run["probe"]["python"]).parent.parent.resolve() == venv
    assert not any(str(release.ROOT) in entry for entry in run["probe"]["path"]), run["probe"]["path"]
    assert run["probe"]["version"] == release.version()
    assert Path(run["wheel"]).name == f"pixelsecurer-{release.version()}-py3-none-any.whl"


def test_the_environment_holds_only_colabs_packages_and_the_wheel(run):
    site = next(Path(run["venv"]).glob("lib/python*/site-packages"))
    names = {p.name.split("-")[0].lower().replace("_", "-") for p in site.glob("*.dist-info")}
    assert {"torch", "numpy", "pandas", "nbclient", "ipykernel", "pixelsecurer"} <= names
    assert not names & {"jupyter-book", "jupytext", "pytest", "nbval", "pyyaml", "playwright"}, names
    installed = site / "pixelsecurer_lib"
    assert installed.is_dir() and not installed.is_symlink()
    # the wheel carries the shipped checkpoints' data reference (without it they never load)
    source = release.ROOT / "pixelsecurer_lib" / "checkpoints" / "data"
    assert sorted(p.name for p in (installed / "checkpoints" / "data").glob("*.npz")) == \
        sorted(p.name for p in source.glob("*.npz"))


def test_the_chapter_trained_into_the_empty_cache_and_wrote_nothing_beside_it(run):
    assert list((Path(run["cache"]) / "models").glob("*.pt")), "the empty cache got no model"
    assert [p.name for p in Path(run["folder"]).iterdir()] == [CHAPTER.name]
