"""Keep book/*.ipynb (the Colab copies) in step with book/*.md (the MyST sources).

    python tests/pairing.py --write   # regenerate every .ipynb from its .md, outputs stripped
    python tests/pairing.py           # check: exit 1 and name the files that are out of sync
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("book/*.md", "book/assignments/*.md")
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def markdown_sources():
    files = []
    for pattern in SOURCES:
        files.extend(sorted(ROOT.glob(pattern)))
    return [f for f in files if _is_notebook(f)]


def _is_notebook(md: Path) -> bool:
    head = md.read_text().split("\n---", 1)[0]
    return md.read_text().startswith("---") and "jupytext:" in head


def expected_notebook(md: Path) -> nbformat.NotebookNode:
    """The .ipynb that belongs beside ``md``: same cells, no outputs, a Colab-ready kernelspec."""
    nb = jupytext.read(md)
    nb.metadata = {"kernelspec": dict(KERNELSPEC),
                   "language_info": {"name": "python"},
                   "colab": {"provenance": []},
                   "jupytext": {"formats": "ipynb,md:myst"}}
    for i, cell in enumerate(nb.cells):
        keep = {k: v for k, v in cell.metadata.items() if k == "tags"}
        cell.metadata = keep
        cell["id"] = f"cell-{i}"
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb


def _dump(nb) -> str:
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def out_of_sync():
    bad = []
    for md in markdown_sources():
        ipynb = md.with_suffix(".ipynb")
        if not ipynb.exists():
            bad.append(f"{ipynb.relative_to(ROOT)}: missing (run `make sync`)")
            continue
        if ipynb.read_text() != _dump(expected_notebook(md)):
            bad.append(f"{ipynb.relative_to(ROOT)}: differs from {md.name} (run `make sync`)")
    for ipynb in sorted(ROOT.glob("book/**/*.ipynb")):
        if "_build" in ipynb.parts or ".ipynb_checkpoints" in ipynb.parts:
            continue
        if not ipynb.with_suffix(".md").exists():
            bad.append(f"{ipynb.relative_to(ROOT)}: has no .md source")
    return bad


def write_all():
    for md in markdown_sources():
        target = md.with_suffix(".ipynb")
        tmp = target.with_suffix(".ipynb.tmp")
        tmp.write_text(_dump(expected_notebook(md)))
        tmp.replace(target)


if __name__ == "__main__":
    if "--write" in sys.argv:
        write_all()
    problems = out_of_sync()
    for line in problems:
        print(line, file=sys.stderr)
    sys.exit(1 if problems else 0)
