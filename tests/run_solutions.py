"""Run every instructor solution (book/assignments/solutions/*.md) top to bottom.

The solutions are excluded from the book build and are not paired notebooks, so nbval does
not see them; this script executes each one in a fresh kernel (``make solutions``, part of
``make test``, under the smoke profile) and exits non-zero naming every file that failed.
"""
from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import jupytext
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "book" / "assignments" / "solutions"


def run(path: Path) -> str:
    """Execute one solution; '' when it ran, else a one-line reason."""
    notebook = jupytext.read(path)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))          # no terminal colours
        lines = [line for line in text.splitlines() if line.strip()]
        return lines[-1] if lines else "a cell failed"
    return ""


def main(argv=None) -> int:
    paths = [Path(a) for a in (argv or [])] or sorted(SOLUTIONS.glob("*.md"))
    if not paths:
        print(f"no solutions found under {SOLUTIONS}", file=sys.stderr)
        return 1
    failed = 0
    for path in paths:
        start = time.perf_counter()
        reason = run(path)
        status = "ok  " if not reason else "FAIL"
        print(f"{status} {path.name} ({time.perf_counter() - start:.0f} s){': ' + reason if reason else ''}",
              flush=True)
        failed += bool(reason)
    print(f"{len(paths) - failed} of {len(paths)} solutions ran without error")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
