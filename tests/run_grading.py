"""The grading checks of `make test` (``make grading``), on every course assignment.

1. ``course/assign.py build`` writes the student notebook, the autograder and the executed
   master, and grades the solution: it must score full marks (the build fails otherwise).
2. The untouched student notebook is graded: it must get a score below full marks, from
   Otter's own results (not a crash of the grader).
3. A deliberately wrong submission, made here from the solution by replacing ``unlearn`` with
   one that returns the model it was given, must score below full marks too.

Exits non-zero naming every check that failed. Runs under the smoke profile (the Makefile
sets it and the cache folder).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "course"))

import assign  # noqa: E402
import grade  # noqa: E402

WRONG_UNLEARN = '''\
def unlearn(original, data, forget, profile, seed=0, device=None, progress=True, **hp):
    """Deliberately wrong: hands back the model it was given, unchanged."""
    return original
'''


def wrong_submission(solution: Path, target: Path) -> Path:
    """The solution notebook with its ``unlearn`` replaced by one that returns ``original``."""
    nb = nbformat.read(solution, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "def unlearn(" in c.source]
    if not cells:
        raise ValueError(f"{solution} has no cell defining unlearn")
    for cell in cells:
        cell.source = WRONG_UNLEARN
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return target


def graded_by_otter(out: Path) -> bool:
    """Whether Otter itself wrote results.json (a crash leaves ours, marked written_by)."""
    results = json.loads((out / "results.json").read_text())
    return "written_by" not in results and any("max_score" in t for t in results.get("tests", []))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "test-assignment")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    failures = []
    try:
        assign.build(out, check=True)           # 1: the solution scores full marks
    except (RuntimeError, ValueError) as exc:
        print(f"FAIL build: {exc}")
        return 1
    for master in assign.masters():
        name = master.stem
        autograder = out / "autograder" / name / "autograder.zip"
        possible = grade.points_possible(autograder)
        submissions = {
            "untouched student notebook": out / "student" / name / f"{name}.ipynb",
            "wrong submission (unlearn returns the original)": wrong_submission(
                out / "autograder" / name / f"{name}.ipynb", out / "wrong" / name / f"{name}.ipynb"),
        }
        for label, path in submissions.items():
            print(f"--- {name}: {label}", flush=True)
            result_dir = out / "grades" / name / path.parent.parent.name
            score = grade.grade(path, autograder, result_dir)
            if not graded_by_otter(result_dir):
                failures.append(f"{name}: the {label} crashed the grader (see {result_dir})")
            elif score >= possible:
                failures.append(f"{name}: the {label} scored full marks ({score:g} / {possible:g})")
    for failure in failures:
        print(f"FAIL {failure}")
    if not failures:
        print("grading checks passed: the solutions score full marks; the untouched student notebooks "
              "and the wrong submissions score less, graded by Otter")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
