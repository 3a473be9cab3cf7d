"""Grade one submission locally with Otter-Grader (`otter run`, no Docker), within time limits.

    python course/grade.py SUBMISSION.ipynb [--autograder ZIP] [--out DIR]
                           [--cell-timeout SECONDS] [--timeout SECONDS]
                           [--memory GIB] [--file-size MIB] [--processes N]

Otter executes the notebook, runs every test of the autograder (its own copy: a submission
that deletes the tests or their cells is still graded by all of them) and writes its
Gradescope-style ``results.json`` into ``--out``. This wrapper adds what `otter run` leaves to
the container around it:

* a time limit per cell (``--cell-timeout``): a cell that runs longer raises ``TimeoutError``
  inside the kernel, so a submission that never finishes loses the points of what did not
  finish and the grader goes on (each question's checks run in a cell of their own);
* a limit for the whole run (``--timeout``), after which the submission scores 0;
* a submission Otter cannot grade at all (not a notebook, another assignment) scores 0 with
  the reason, instead of a traceback;
* as root, a sandbox (course/sandbox.py) around the submission's kernel: a uid of its own
  without capabilities, so it cannot write the grading cache, ``autograder.zip``, the grader's
  code or ``results.json`` nor signal the grader; the hidden tests handed to it only when
  Otter's final cell runs them; limits on memory, file size and processes
  (``--memory``, ``--file-size``, ``--processes``); every process of it killed when grading ends;
* Otter's ``results.json`` checked (JSON, scores within their maximum) and copied into
  ``--out`` after the sandbox is gone; when Otter dies or is killed, a ``results.json`` of ours
  says what happened.

The last line printed is always ``score: X / Y`` (Y: the points the autograder can give;
questions graded by hand are not in it).
"""
from __future__ import annotations

import argparse
import ast
import contextlib
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
sys.path.insert(0, str(Path(__file__).resolve().parent))     # course/sandbox.py
AUTOGRADERS = ROOT / "_build" / "assignment" / "autograder"
OTTER_DRIVER = Path(__file__).resolve().parent / "otter_driver.py"     # `otter run`, sandbox-aware

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


def validated_results(path: Path, possible: float):
    """The results Otter wrote, checked (one JSON object, numeric scores within their maximum,
    a total within the points possible); ValueError with one line otherwise."""
    try:
        results = json.loads(path.read_bytes()[:64 * 2 ** 20])
    except (OSError, ValueError) as exc:
        raise ValueError(f"its results.json is not JSON ({exc})") from None
    if not isinstance(results, dict) or not isinstance(results.get("tests", []), list):
        raise ValueError("its results.json is not an object with a list of tests")
    total = 0.0
    for test in results.get("tests", []):
        if not isinstance(test, dict):
            raise ValueError("its results.json has a test that is not an object")
        score, most = test.get("score", 0), test.get("max_score", None)
        if not isinstance(score, (int, float)) or (most is not None and not isinstance(most, (int, float))):
            raise ValueError(f"its results.json gives test {test.get('name')!r} a score that is not a number")
        if most is not None and not 0 <= score <= most:
            raise ValueError(f"its results.json gives test {test.get('name')!r} {score} of {most} points")
        total += score
    score = results.get("score", total)
    if not isinstance(score, (int, float)) or not 0 <= score <= possible + 1e-9:
        raise ValueError(f"its results.json claims a score of {score!r} out of {possible:g}")
    return results


def write_no_score(results_path: Path, message: str) -> None:
    """The results.json of a submission that got no score from Otter, saying why."""
    results_path.write_text(json.dumps({"score": 0, "tests": [], "output": message,
                                        "written_by": "course/grade.py (otter wrote nothing)"},
                                       indent=2))


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def grade(submission: Path, autograder: Path, out: Path, cell_timeout: int = 300,
          timeout: int = 1200, limits: "sandbox.Limits | None" = None,
          allow_unsandboxed: bool = False) -> float:
    """Grade ``submission``; print a summary ending in ``score: X / Y``; return X.

    As root, the submission's kernel runs in a sandbox (course/sandbox.py: its own uid, no
    capabilities, ``limits``, every process of it killed at the end); Otter runs in a session of
    its own, so whatever happens to it this function still writes ``out/results.json`` (checked,
    or one saying why there is no score) and prints the score line.
    """
    import sandbox

    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o700)                     # another student's results are not the submission's
    results_path = out / "results.json"
    results_path.unlink(missing_ok=True)
    possible = points_possible(autograder)
    limits = limits or sandbox.Limits()
    unsandboxed = sandbox.available()
    message = None
    start = time.perf_counter()
    startup = {"00-cell-time-limit.py": CELL_LIMIT_STARTUP.format(limit=int(cell_timeout))}
    with contextlib.ExitStack() as stack:
        if not unsandboxed:
            box = stack.enter_context(sandbox.Sandbox(limits, startup))
            env = dict(os.environ, **box.env())
            unsandboxed = sandbox.probe(env)
        if unsandboxed and os.geteuid() == 0 and not allow_unsandboxed:
            # root without a working sandbox would run the student's code as root: refuse
            message = (f"the grading sandbox does not work here ({unsandboxed}); refusing to run "
                       "a submission as root (--unsandboxed allows it)")
            print(f"error: {message}")
            write_no_score(results_path, message)
            print(f"score: 0 / {_number(possible)}")
            return 0.0
        if unsandboxed:
            print(f"note: the submission runs unsandboxed ({unsandboxed}): it can read and write "
                  "whatever this user can")
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="grade-")))
            ipython_dir = scratch / "ipython"
            for name, text in startup.items():
                (ipython_dir / "profile_default" / "startup").mkdir(parents=True, exist_ok=True)
                (ipython_dir / "profile_default" / "startup" / name).write_text(text)
            env = dict(os.environ, IPYTHONDIR=str(ipython_dir))
        else:
            scratch = box.grader
        env.update(PIXELSECURER_PROFILE="smoke", PIXELSECURER_STATIC="1")
        otter_out = scratch / "out"
        otter_out.mkdir()
        command = [sys.executable, str(OTTER_DRIVER), "run",
                   "--no-logo", "-a", str(autograder.resolve()), "-o", str(otter_out),
                   str(submission.resolve())]
        with open(scratch / "otter.log", "w+", errors="replace") as log_file:   # a file, not a pipe:
            process = subprocess.Popen(command, env=env, stdout=log_file,   # a process that keeps
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)               # it cannot hang us
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                message = f"grading stopped after {timeout} s (the limit for a whole submission)"
            finally:
                try:
                    os.killpg(process.pid, signal.SIGKILL)      # Otter's session, kernels included
                except ProcessLookupError:
                    pass
                process.wait()
                if not unsandboxed:
                    sandbox.kill_all(box.uid)   # whatever the submission started, detached or not
            log_file.seek(max(0, os.fstat(log_file.fileno()).st_size - 2 ** 20))  # its last MiB
            log = log_file.read()
        (out / "otter.log").write_text(log)
        seconds = time.perf_counter() - start

        results = None
        if message is None and (otter_out / "results.json").is_file():
            try:
                results = validated_results(otter_out / "results.json", possible)
            except ValueError as exc:
                message = f"the submission scores 0: {exc}"
        elif message is None and process.returncode < 0:
            message = (f"the grader (otter) was killed by {_signal_name(process.returncode)} before "
                       "it wrote results; the submission scores 0")
        elif message is None:
            lines = [line for line in log.splitlines() if line.strip()]
            message = "otter could not grade this submission: " + (lines[-1] if lines else "no output")

    score = 0.0
    if results is not None:
        results_path.write_text(json.dumps(results, indent=2))
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
        write_no_score(results_path, message)
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
    parser.add_argument("--memory", type=float, default=None,
                        help="GiB of data memory per process of the submission (3)")
    parser.add_argument("--file-size", type=int, default=None,
                        help="MiB: the largest file the submission may write (512)")
    parser.add_argument("--processes", type=int, default=None,
                        help="processes and threads the submission may run at once (256)")
    parser.add_argument("--unsandboxed", action="store_true",
                        help="as root without a working sandbox, grade anyway (a trusted notebook)")
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
    import sandbox
    given = {("--memory", "memory_gib"): args.memory, ("--file-size", "file_size_mib"): args.file_size,
             ("--processes", "processes"): args.processes}
    for (option, _), value in given.items():
        if value is not None and value <= 0:
            print(f"error: {option} {value}: expected a positive number", file=sys.stderr)
            return 2
    limits = sandbox.Limits(**{field: v for (_, field), v in given.items() if v is not None})
    grade(args.submission, autograder, out, args.cell_timeout, args.timeout, limits,
          allow_unsandboxed=args.unsandboxed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
