"""Grade one submission locally with Otter-Grader (`otter run`, no Docker), within time limits.

    python course/grade.py SUBMISSION.ipynb [--autograder ZIP] [--out DIR]
                           [--cell-timeout SECONDS] [--timeout SECONDS]

Otter executes the notebook, runs every test of the autograder (its own copy: a submission
that deletes the tests or their cells is still graded by all of them) and writes its
Gradescope-style ``results.json`` into ``--out``. This wrapper adds what `otter run` leaves to
the container around it:

* a time limit per cell (``--cell-timeout``): a cell that runs longer raises ``TimeoutError``
  inside the kernel, so a submission that never finishes loses the points of what did not
  finish and the grader goes on (each question's checks run in a cell of their own);
* a limit for the whole run (``--timeout``), after which the submission scores 0;
* a submission Otter cannot grade at all (not a notebook, another assignment) scores 0 with
  the reason, instead of a traceback.

The last line printed is always ``score: X / Y`` (Y: the points the autograder can give;
questions graded by hand are not in it).
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AUTOGRADERS = ROOT / "_build" / "assignment" / "autograder"

# Run by every grading kernel at start (IPython startup file): a per-cell alarm.
CELL_LIMIT_STARTUP = '''\
import signal as _signal

_LIMIT = {limit}


def _cell_took_too_long(signum, frame):
    raise TimeoutError(f"this cell ran longer than the grading limit of {{_LIMIT}} s per cell")


def _start_cell_clock(*args):
    _signal.signal(_signal.SIGALRM, _cell_took_too_long)
    _signal.alarm(_LIMIT)


def _stop_cell_clock(*args):
    _signal.alarm(0)


get_ipython().events.register("pre_run_cell", _start_cell_clock)
get_ipython().events.register("post_run_cell", _stop_cell_clock)
'''


def find_autograder(submission: Path) -> Path:
    """The autograder.zip for the assignment named in the submission's metadata (or the only
    one built); FileNotFoundError naming what is missing."""
    built = sorted(AUTOGRADERS.glob("*/autograder.zip"))
    name = None
    try:
        metadata = json.loads(submission.read_text()).get("metadata", {})
        name = metadata.get("otter", {}).get("assignment_name")
    except (OSError, ValueError, AttributeError):
        pass
    if name and (AUTOGRADERS / name / "autograder.zip").exists():
        return AUTOGRADERS / name / "autograder.zip"
    if len(built) == 1:
        return built[0]
    raise FileNotFoundError(f"no autograder for {submission} under {AUTOGRADERS} "
                            "(run `make assignment` first, or pass --autograder ZIP)")


def points_possible(autograder: Path) -> float:
    """The sum of the ``points`` of every test file in the autograder zip."""
    total = 0.0
    with zipfile.ZipFile(autograder) as zf:
        for name in zf.namelist():
            if not re.fullmatch(r"tests/[^/]+\.py", name):
                continue
            tree = ast.parse(zf.read(name).decode())
            for node in tree.body:       # OK format: test = {..., "points": P}; else points = P
                if isinstance(node, ast.Assign) and len(node.targets) == 1:
                    target = getattr(node.targets[0], "id", None)
                    if target == "test":
                        value = ast.literal_eval(node.value).get("points", 0)
                    elif target == "points":
                        value = ast.literal_eval(node.value)
                    else:
                        continue
                    total += sum(value) if isinstance(value, (list, tuple)) else float(value or 0)
    return total


_CASE = re.compile(r"^\s*(\S+ - \d+) message: (.*)$", re.MULTILINE)
_ERROR = re.compile(r"^\s*((?:\w+\.)*\w*(?:Error|Exception|Interrupt)\b.*)$", re.MULTILINE)


def failed_cases(output: str):
    """One line per failed test case in Otter's output: its message and the error it raised."""
    marks = list(_CASE.finditer(output))
    lines = []
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(output)
        body = output[mark.end():end]
        if "❌" not in body and "failed" not in body.lower():
            continue
        errors = _ERROR.findall(body)
        lines.append(f"{mark[1]}: {mark[2]}" + (f" ({errors[-1].strip()})" if errors else ""))
    return lines


def _number(x: float) -> str:
    return f"{x:g}"


def grade(submission: Path, autograder: Path, out: Path, cell_timeout: int = 300,
          timeout: int = 1200) -> float:
    """Grade ``submission``; print a summary ending in ``score: X / Y``; return X."""
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    results_path.unlink(missing_ok=True)
    possible = points_possible(autograder)
    message = None
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="grade-ipython-") as ipython_dir:
        startup = Path(ipython_dir) / "profile_default" / "startup"
        startup.mkdir(parents=True)
        (startup / "00-cell-time-limit.py").write_text(CELL_LIMIT_STARTUP.format(limit=int(cell_timeout)))
        env = dict(os.environ, IPYTHONDIR=ipython_dir, PIXELSECURER_PROFILE="smoke",
                   PIXELSECURER_STATIC="1")
        command = [sys.executable, "-m", "otter", "run", "--no-logo", "-a", str(autograder.resolve()),
                   "-o", str(out.resolve()), str(submission.resolve())]
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, start_new_session=True)
        try:
            log, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            log, _ = process.communicate()
            message = f"grading stopped after {timeout} s (the limit for a whole submission)"
    (out / "otter.log").write_text(log or "")
    seconds = time.perf_counter() - start

    results = None
    if message is None and results_path.exists():
        results = json.loads(results_path.read_text())
    elif message is None:
        lines = [line for line in (log or "").splitlines() if line.strip()]
        message = "otter could not grade this submission: " + (lines[-1] if lines else "no output")

    score = 0.0
    if results is not None:
        for test in results.get("tests", []):
            if "max_score" in test:
                mark = "ok  " if test.get("score", 0) >= test["max_score"] else "FAIL"
                print(f"{mark} {test['name']}: {_number(test.get('score', 0))} / {_number(test['max_score'])}")
                if mark == "FAIL":
                    for line in failed_cases(test.get("output", "")):
                        print(f"       {line[:200]}")
            elif test.get("status") == "failed" and test.get("visibility") == "visible":
                print(f"FAIL {test['name']}: {test.get('output', '')[:200]}")
        score = float(results.get("score", sum(t.get("score", 0) for t in results.get("tests", []))))
    else:
        results_path.write_text(json.dumps({"score": 0, "tests": [], "output": message,
                                            "written_by": "course/grade.py (otter wrote nothing)"},
                                           indent=2))
        print(message)
    print(f"graded {submission} in {seconds:.0f} s; Otter's results: {results_path}; its log: "
          f"{out / 'otter.log'}")
    print("questions graded by hand are not in this score (see the rubric)")
    print(f"score: {_number(round(score, 3))} / {_number(possible)}")
    return score


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("submission", type=Path)
    parser.add_argument("--autograder", type=Path, default=None,
                        help="the autograder.zip (default: the one `make assignment` built for it)")
    parser.add_argument("--out", type=Path, default=None,
                        help="where results.json goes (default: _build/grade/<folder>/<notebook name>)")
    parser.add_argument("--cell-timeout", type=int, default=300, help="seconds per cell (300)")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds for the whole run (1200)")
    args = parser.parse_args(argv)
    if not args.submission.is_file():
        print(f"error: submission {args.submission} is not a file", file=sys.stderr)
        return 2
    try:
        autograder = args.autograder or find_autograder(args.submission)
        if not autograder.is_file():
            raise FileNotFoundError(f"autograder {autograder} does not exist (run `make assignment`)")
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out or ROOT / "_build" / "grade" / args.submission.resolve().parent.name / args.submission.stem
    grade(args.submission, autograder, out, args.cell_timeout, args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
