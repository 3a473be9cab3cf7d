"""Build the course assignments from their Otter-Grader masters.

Each assignment has ONE master, ``book/assignments/masters/NAME.md`` (a MyST notebook with
Otter's raw-cell blocks: questions, solutions, public and hidden tests), plus the support
files its tests import. From it:

    python course/assign.py build [--out _build/assignment] [--forget age:LO-HI] [--seed N]
        writes OUT/student/NAME/      the student notebook (no solutions, public tests only)
               OUT/autograder/NAME/   autograder.zip (what an instructor uploads or runs) and
                                      the solution notebook Otter grades it with
               OUT/solution/NAME/     the executed master
        Then the solution is graded (course/grade.py) and the build fails unless it scores full
        marks, so a variant (another forget range or seed) that the reference solution cannot
        pass is refused rather than handed out.

    python course/assign.py book-page [--check]
        writes (or checks) the book's page of each assignment, book/assignments/NAME.md: the
        master without solutions, tests, Otter's markers or cells tagged course-only (the HTML
        book shows it).
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from pixelsecurer_lib._io import atomic_path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))   # course/grade.py
MASTERS = ROOT / "book" / "assignments" / "masters"
BOOK_PAGES = ROOT / "book" / "assignments"
GENERATED_NOTE = ("<!-- Generated from book/assignments/masters/{name}.md by "
                  "`python course/assign.py book-page` (make sync): edit the master, not this page. -->")

COURSE_ONLY_TAG = "course-only"     # cells of the course notebooks that the book's page leaves out
_BLOCK = re.compile(r"^#\s*(BEGIN|END)\s+(QUESTION|SOLUTION|TESTS|PROMPT)\b", re.IGNORECASE)
_FORGET_LINE = re.compile(r'^(\s*FORGET\s*=\s*)"[^"\n]*"', re.MULTILINE)
_SEED_LINE = re.compile(r"^(\s*SEED\s*=\s*)\d+", re.MULTILINE)


def masters():
    return sorted(MASTERS.glob("*.md"))


def support_files(master: Path):
    """The files next to the master that its tests import (every .py of the folder)."""
    return sorted(master.parent.glob("*.py"))


# -- variants ---------------------------------------------------------------------------------
def check_variant(forget, seed):
    """ValueError with one line unless ``forget`` is an age range and ``seed`` a natural number."""
    if forget is not None:
        from pixelsecurer_lib.data.splits import parse_forget_spec
        spec = parse_forget_spec(forget)
        if spec.kind != "age":
            raise ValueError(f"FORGET={forget!r}: the assignment's forget set must be an age range, "
                             "expected age:LO-HI")
    if seed is not None and (not str(seed).isdigit()):
        raise ValueError(f"VARIANT_SEED={seed!r}: expected a natural number such as 7")


def apply_variant(text: str, forget, seed, where: str = "the master") -> str:
    """Set the ``FORGET = "..."`` and ``SEED = N`` lines of a module or a cell's source."""
    if forget is not None:
        text, n = _FORGET_LINE.subn(lambda m: f'{m[1]}"{forget}"', text)
        if not n:
            raise ValueError(f"{where} has no FORGET = \"...\" line to set")
    if seed is not None:
        text, n = _SEED_LINE.subn(lambda m: f"{m[1]}{int(seed)}", text)
        if not n:
            raise ValueError(f"{where} has no SEED = N line to set")
    return text


def apply_variant_to_notebook(nb, forget, seed, where: str):
    """``apply_variant`` on the code cell that sets FORGET and SEED (there must be one)."""
    cells = [c for c in nb.cells if c.cell_type == "code" and _FORGET_LINE.search(c.source)
             and _SEED_LINE.search(c.source)]
    if len(cells) != 1:
        raise ValueError(f"{where} needs exactly one code cell setting FORGET and SEED, found {len(cells)}")
    cells[0].source = apply_variant(cells[0].source, forget, seed, where)
    return nb


# -- the book's page ----------------------------------------------------------------------------
def book_page(master: Path) -> nbformat.NotebookNode:
    """The master as the book shows it: no Otter config, solutions, tests or block markers."""
    nb = jupytext.read(master)
    cells, stack = [], []
    for cell in nb.cells:
        if cell.cell_type == "raw":
            first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
            match = _BLOCK.match(first)
            if match:
                kind = match[2].upper()
                if match[1].upper() == "BEGIN":
                    stack.append(kind)
                elif not stack or stack.pop() != kind:
                    raise ValueError(f"{master}: '{first}' does not close the open block")
            continue                      # the config cell and every marker stay out
        if stack and stack[-1] in ("SOLUTION", "TESTS"):
            continue
        if COURSE_ONLY_TAG in cell.metadata.get("tags", []):
            continue                      # e.g. Otter's grader, which the book does not use
        cells.append(cell)
    if stack:
        raise ValueError(f"{master}: block(s) {stack} are never closed")
    note = nbformat.v4.new_markdown_cell(GENERATED_NOTE.format(name=master.stem))
    nb.cells = [note] + cells
    return nb


def book_page_text(master: Path) -> str:
    return jupytext.writes(book_page(master), fmt="md:myst")


def write_book_pages(check: bool = False) -> int:
    stale = []
    for master in masters():
        page = BOOK_PAGES / f"{master.stem}.md"
        text = book_page_text(master)
        if check:
            if not page.exists() or page.read_text() != text:
                stale.append(str(page.relative_to(ROOT)))
        else:
            with atomic_path(page) as tmp:
                tmp.write_text(text)
    if stale:
        print("out of date with their masters (run `make sync`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


# -- building ---------------------------------------------------------------------------------
def execute(notebook: Path, timeout: int = 600) -> None:
    """Execute ``notebook`` in place (its folder as working directory)."""
    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(notebook.parent)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        lines = [line for line in re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).splitlines() if line.strip()]
        raise RuntimeError(f"{notebook}: a cell failed: {lines[-1] if lines else exc}") from None
    nbformat.write(nb, notebook)


def drop_empty_code_cells(notebook: Path) -> None:
    """Otter leaves an empty cell where a solution cell was; the student copy goes without."""
    nb = nbformat.read(notebook, as_version=4)
    nb.cells = [c for c in nb.cells if c.cell_type != "code" or c.source.strip()]
    nbformat.write(nb, notebook)


def otter_assign(master: Path, workdir: Path, forget=None, seed=None) -> Path:
    """Run `otter assign` on the master (variant applied) in ``workdir``; return its output folder
    (``student/`` with empty cells dropped, ``autograder/`` with ``autograder.zip``)."""
    name = master.stem
    work = workdir / "master"
    work.mkdir(parents=True)
    ipynb = work / f"{name}.ipynb"
    nbformat.write(apply_variant_to_notebook(jupytext.read(master), forget, seed, str(master)), ipynb)
    for support in support_files(master):
        (work / support.name).write_text(apply_variant(support.read_text(), forget, seed, str(support)))
    dist = workdir / "dist"
    # The master's tests are checked by grading its solution below (`--no-run-tests` here
    # saves a second run of the whole notebook).
    command = [sys.executable, "-m", "otter", "assign", "--no-run-tests", "--no-pdfs", str(ipynb),
               str(dist)]
    done = subprocess.run(command, cwd=work, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stdout.write(done.stdout[-4000:])
        sys.stderr.write(done.stderr[-4000:])
        raise RuntimeError(f"otter assign failed for {master.relative_to(ROOT)} (its output is above)")
    drop_empty_code_cells(dist / "student" / f"{name}.ipynb")
    zips = sorted((dist / "autograder").glob("*autograder*.zip"))
    if len(zips) != 1:
        raise RuntimeError(f"otter assign wrote {len(zips)} autograder zips for {name}, expected 1")
    zips[0].rename(dist / "autograder" / "autograder.zip")
    return dist


def build(out: Path, forget=None, seed=None, check: bool = True) -> None:
    """Student notebook, autograder and executed master of every assignment under ``out``; with
    ``check``, grade the solution and refuse (RuntimeError) unless it scores full marks."""
    import grade as grading

    check_variant(forget, seed)
    out = out.resolve()
    for master in masters():
        name = master.stem
        print(f"otter assign {name}" + (f", FORGET={forget}" if forget else "")
              + (f", SEED={seed}" if seed is not None else ""), flush=True)
        with tempfile.TemporaryDirectory(prefix=f"assign-{name}-") as tmp:
            dist = otter_assign(master, Path(tmp), forget, seed)
            solution = Path(tmp) / "solution"
            shutil.copytree(Path(tmp) / "master", solution)
            print(f"executing the master {name}", flush=True)
            execute(solution / f"{name}.ipynb")
            for part, source in (("student", dist / "student"), ("autograder", dist / "autograder"),
                                 ("solution", solution)):
                target = out / part / name
                staged = out / part / f".{name}.tmp"
                shutil.rmtree(staged, ignore_errors=True)
                shutil.copytree(source, staged)
                shutil.rmtree(target, ignore_errors=True)
                staged.replace(target)
                if part != "student":       # hidden tests and solutions: the grader's alone
                    (out / part).chmod(0o700)
        print(f"wrote {out}/{{student,autograder,solution}}/{name}/", flush=True)
        if check:
            print(f"grading the solution of {name} (it must score full marks)", flush=True)
            autograder = out / "autograder" / name / "autograder.zip"
            score = grading.grade(out / "autograder" / name / f"{name}.ipynb", autograder,
                                  out / "solution-grade" / name,
                                  allow_unsandboxed=True)      # the instructor's own solution
            if score < grading.points_possible(autograder):
                raise RuntimeError(f"the solution of {name} does not score full marks"
                                   + (" with this variant" if forget or seed is not None else "")
                                   + f": see {out / 'solution-grade' / name}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="student notebooks, autograders and executed masters")
    b.add_argument("--out", type=Path, default=ROOT / "_build" / "assignment")
    b.add_argument("--forget", default=None, help="the class's forget range, e.g. age:10-40")
    b.add_argument("--seed", default=None, help="the class's seed, e.g. 7")
    b.add_argument("--no-check", action="store_true",
                   help="do not grade the solution (it is checked to score full marks)")
    p = sub.add_parser("book-page", help="write the book's page of each assignment")
    p.add_argument("--check", action="store_true", help="only check that the pages are up to date")
    args = parser.parse_args(argv)
    try:
        if args.command == "book-page":
            return write_book_pages(check=args.check)
        build(args.out, forget=args.forget or None, seed=args.seed or None,
              check=not args.no_check)
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
