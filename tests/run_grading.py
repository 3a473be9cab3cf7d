"""The grading checks of `make test` (``make grading``), on every course assignment.

1. ``course/assign.py build`` writes the student notebook, the autograder and the executed
   master, and grades the solution: it must score full marks (the build fails otherwise).
2. The untouched student notebook is graded: it must get a score below full marks, from
   Otter's own results (not a crash of the grader).
3. A deliberately wrong submission, made here from the solution by replacing ``unlearn`` with
   one that returns the model it was given, must score below full marks too.

4. Hostile submissions (issue 26), each the solution with one cell planted after the imports,
   graded in the sandbox of course/sandbox.py (as root; skipped, with a line saying so,
   otherwise): one that writes the grader's files (grading cache, autograder.zip, grader code,
   .venv), one whose detached process tries to rewrite results.json after grading, one that
   reads the hidden tests and the executed solution, one past the limits (memory, file size,
   processes), one that SIGKILLs its grader. Each has its expected outcome (below).
5. The solution graded from a checkout inside a 0700 folder (made so in a mount namespace of
   its own) still scores full marks in the sandbox.

Exits non-zero naming every check that failed. Runs under the smoke profile (the Makefile
sets it and the cache folder).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
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


# A planted cell whose attack worked calls _attack_worked(what): from then on `unlearn` is
# replaced after every cell by one that raises, so the submission cannot score full marks.
_ATTACK_WORKED = '''
def _attack_worked(what):
    def broken(*args, **kwargs):
        raise RuntimeError(f"the grading sandbox let the submission {what}")
    get_ipython().events.register("post_run_cell", lambda *a: get_ipython().user_ns.update(unlearn=broken))
    print("ATTACK WORKED:", what)
'''

HOSTILE = {
    # 4: write the grader's own files (opening for append changes nothing if it works)
    "writes-grader-files": '''
import itertools, os, pathlib
for target in {targets!r}:
    path = pathlib.Path(target)
    files = [path] if path.is_file() else itertools.islice((p for p in path.rglob("*") if p.is_file()), 50)
    for file in files:
        try:
            with open(file, "ab"):
                _attack_worked(f"write {{file}}")
        except OSError:
            pass
    try:
        (path if path.is_dir() else path.parent).joinpath("planted").write_text("x")
        _attack_worked(f"create a file beside {{path}}")
    except OSError:
        pass
''',
    # 5: a detached process that outlives the kernel and rewrites results.json
    "detached-rewrites-results": '''
import subprocess, sys
code = ("import os, sys, time, pathlib\\n"
        "if os.fork(): sys.exit(0)\\n"
        "os.setsid(); time.sleep(6)\\n"
        "for p in {targets!r}:\\n"
        "    try: pathlib.Path(p).write_text('{{\\"score\\": 1000, \\"tests\\": []}}')\\n"
        "    except OSError: pass\\n"
        "time.sleep(60)  # MARKER-{marker}\\n")
subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
''',
    # 6: read the hidden tests and the executed solution
    "reads-hidden-tests": '''
import glob, itertools, os, pathlib
for target in {targets!r} + glob.glob("tests/*.py") + glob.glob("/tmp/*/autograder/source/tests/*.py") \\
        + glob.glob("/tmp/*/*/autograder/source/tests/*.py"):
    path = pathlib.Path(target)
    files = [path] if not path.is_dir() else itertools.islice((p for p in path.rglob("*") if p.is_file()), 50)
    for file in files:
        try:
            file.read_bytes()[:1]
            _attack_worked(f"read {{file}}")
        except OSError:
            pass
''',
    # 7: past the limits (file size, processes here; memory in unlearn, below)
    "exceeds-limits": '''
import os, subprocess
try:
    with open("big.bin", "wb") as f:
        for _ in range(100):
            f.write(bytes(2 ** 20))
    _attack_worked("write a 100 MiB file")
except OSError:
    pass
finally:
    if os.path.exists("big.bin"):
        os.remove("big.bin")
children = []
try:
    for _ in range(300):
        children.append(subprocess.Popen(["sleep", "30"]))
    _attack_worked("start 300 processes")
except OSError:
    pass
for child in children:
    child.kill(); child.wait()
''',
    # 9: kill the grader (every ancestor) and then every process it may signal
    "kills-grader": '''
import os, signal
pid = os.getppid()
while pid > 1:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        pid = int(open(f"/proc/{{pid}}/stat").read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        break
os.kill(-1, signal.SIGKILL)        # every process it may signal, but not itself
os.kill(os.getpid(), signal.SIGKILL)   # and then its own kernel: Otter cannot finish
''',
}

MEMORY_UNLEARN = '''\
_solution_unlearn = unlearn

def unlearn(original, data, forget, profile, seed=0, device=None, progress=True, **hp):
    """Needs 4 GiB of memory first (more than the grader's limit of 3)."""
    scratch = bytearray(4 * 2 ** 30)
    return _solution_unlearn(original, data, forget, profile, seed=seed, device=device,
                             progress=progress, **hp)
'''


def hostile_submission(solution: Path, target: Path, cell: str, after_unlearn: str = "") -> Path:
    """The solution with ``cell`` planted after its first code cell (the imports), and
    ``after_unlearn`` after the cell that defines ``unlearn``."""
    nb = nbformat.read(solution, as_version=4)
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells.insert(first + 1, nbformat.v4.new_code_cell(_ATTACK_WORKED + cell))
    if after_unlearn:
        at = max(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "def unlearn(" in c.source)
        nb.cells.insert(at + 1, nbformat.v4.new_code_cell(after_unlearn))
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return target


def _processes_with(marker: str) -> list:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            pass
    return found


def hostile_checks(out: Path, name: str, autograder: Path, possible: float) -> list:
    """Grade every hostile submission of ``name``; the failures, one line each."""
    import sandbox

    why = sandbox.usable()
    if why:
        print(f"--- {name}: hostile submissions skipped: no sandbox here ({why})")
        return []
    solution = out / "autograder" / name / f"{name}.ipynb"
    cache = Path(os.environ.get("PIXELSECURER_CACHE", ROOT / ".cache" / "grade"))
    limits = sandbox.Limits(memory_gib=3, file_size_mib=64, processes=128)
    marker = f"hostile-{os.getpid()}-{time.time_ns()}"
    failures = []
    for case, cell in HOSTILE.items():
        result_dir = out / "grades" / name / f"hostile-{case}"
        targets = {
            "writes-grader-files": [str(cache), str(autograder), str(ROOT / "course"),
                                    str(Path(sys.executable).resolve().parents[1] / "lib"),
                                    str(Path(sys.prefix) / "lib"), str(result_dir)],
            "detached-rewrites-results": [str(result_dir / "results.json")],
            "reads-hidden-tests": [str(autograder), str(out / "solution" / name),
                                   str(out / "autograder" / name),
                                   str(ROOT / "book" / "assignments" / "masters" / f"{name}.md")],
        }.get(case, [])
        source = cell.format(targets=targets, marker=marker)
        path = hostile_submission(solution, out / f"hostile-{case}" / name / f"{name}.ipynb", source,
                                  MEMORY_UNLEARN if case == "exceeds-limits" else "")
        print(f"--- {name}: hostile submission: {case}", flush=True)
        score = grade.grade(path, autograder, result_dir, cell_timeout=120, timeout=300, limits=limits)
        results = json.loads((result_dir / "results.json").read_text())
        if "the grading sandbox let the submission" in json.dumps(results):
            failures.append(f"{name}: hostile submission {case}: the grading sandbox let it "
                            f"through (see {result_dir / 'results.json'})")
        if case == "exceeds-limits":
            if not graded_by_otter(result_dir) or score >= possible:
                failures.append(f"{name}: the submission past the limits scored {score:g} / {possible:g} "
                                "(expected less than full marks, graded by Otter)")
        elif case == "kills-grader":
            if score != 0 or not results.get("output"):
                failures.append(f"{name}: the submission that kills its grader scored {score:g} with "
                                f"results {str(results)[:120]} (expected 0 and the reason)")
        elif score < possible:
            failures.append(f"{name}: hostile submission {case} scored {score:g} / {possible:g}: its "
                            f"attack worked or it broke the grading (see {result_dir})")
        if case == "detached-rewrites-results":
            time.sleep(8)                       # past the moment it would have written
            again = json.loads((result_dir / "results.json").read_text())
            alive = _processes_with(f"MARKER-{marker}")
            if again != results or alive:
                failures.append(f"{name}: a detached process of the submission "
                                + (f"outlived the grading (pids {alive})" if alive else "rewrote results.json"))
    return failures


PRIVATE_CHECKOUT = '''
set -e
mount --bind "$PARENT" "$STAGE"
mount -t tmpfs -o mode=0700 private-parent "$PARENT"
mkdir -p "$CHECKOUT"
mount --bind "$STAGE/$NAME" "$CHECKOUT"
exec "$@"
'''


def private_checkout_check(out: Path, name: str, autograder: Path, possible: float) -> list:
    """Issue 24's case for the sandbox: the checkout inside a 0700 folder (made so in a mount
    namespace of this check's own: its parent becomes an empty 0700 folder holding only the
    checkout). The solution must still score full marks, sandboxed."""
    import subprocess
    import tempfile

    import sandbox

    why = sandbox.usable()
    if why is None and subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode:
        why = "no mount namespace can be made here"
    if why:
        print(f"--- {name}: checkout inside a 0700 folder: skipped ({why})")
        return []
    print(f"--- {name}: the solution, graded from a checkout inside a 0700 folder", flush=True)
    result_dir = out / "grades" / name / "private-checkout"
    with tempfile.TemporaryDirectory(prefix="private-parent-") as stage:
        env = dict(os.environ, PARENT=str(ROOT.parent), STAGE=stage, NAME=ROOT.name, CHECKOUT=str(ROOT))
        done = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", PRIVATE_CHECKOUT, "sh",
             sys.executable, str(ROOT / "course" / "grade.py"), str(out / "autograder" / name / f"{name}.ipynb"),
             "--autograder", str(autograder), "--out", str(result_dir), "--timeout", "300"],
            env=env, capture_output=True, text=True, timeout=400)
    print(done.stdout[-2000:], done.stderr[-2000:], sep="", flush=True)
    lines = done.stdout.strip().splitlines()
    if not lines or lines[-1] != f"score: {possible:g} / {possible:g}" or "unsandboxed" in done.stdout:
        return [f"{name}: from a checkout inside a 0700 folder the solution did not score full marks "
                f"in the sandbox: {lines[-1] if lines else done.stderr.strip()[-200:]}"]
    return []


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
            # our own notebooks: graded even where no sandbox can be made (it says so)
            score = grade.grade(path, autograder, result_dir, allow_unsandboxed=True)
            if not graded_by_otter(result_dir):
                failures.append(f"{name}: the {label} crashed the grader (see {result_dir})")
            elif score >= possible:
                failures.append(f"{name}: the {label} scored full marks ({score:g} / {possible:g})")
        failures += hostile_checks(out, name, autograder, possible)
        failures += private_checkout_check(out, name, autograder, possible)
    for failure in failures:
        print(f"FAIL {failure}")
    if not failures:
        print("grading checks passed: the solutions score full marks; the untouched student notebooks "
              "and the wrong submissions score less, graded by Otter; the hostile submissions got "
              "their expected outcomes")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
