"""Keep book/*.ipynb (the Colab copies) in step with book/*.md (the MyST sources).

    python tools/pairing.py --write   # write every first cell and .ipynb afresh (what `make sync` does)
    python tools/pairing.py           # check: exit 1 and name the files that are out of sync

Writing does two things: every page's first cell gets the install lines generated from the
version and the repository address (tools/release.py), and every .md chapter gets a .ipynb
copy with outputs stripped and its Markdown made Colab-clean (tools/colab_markdown.py). The
.ipynb is an export, not a jupytext pair: edit the .md, then run `make sync`.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import jupytext
import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))

import colab_markdown  # noqa: E402
import release  # noqa: E402

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
    """The .ipynb that belongs beside ``md``: same cells, plain Markdown, no outputs, Colab-ready."""
    text = md.read_text()
    nb = jupytext.reads(text, fmt="md:myst")
    page = colab_markdown.Page(path=md, equations=colab_markdown.equation_numbers(text, md),
                               figures=colab_markdown.figure_numbers(text, md),
                               book_url=release.book_url(ROOT), files_url=release.files_url(ROOT),
                               root=ROOT)
    nb.metadata = {"kernelspec": dict(KERNELSPEC),
                   "language_info": {"name": "python"},
                   "colab": {"provenance": []}}
    for i, cell in enumerate(nb.cells):
        keep = {k: v for k, v in cell.metadata.items() if k == "tags"}
        cell.metadata = keep
        cell["id"] = f"cell-{i}"
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown":
            cell.source = colab_markdown.convert(cell.source, page)
    return nb


def _dump(nb) -> str:
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def out_of_sync():
    bad = release.out_of_sync(ROOT)
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
    release.write_all(ROOT)
    for md in markdown_sources():
        target = md.with_suffix(".ipynb")
        tmp = target.with_suffix(".ipynb.tmp")
        tmp.write_text(_dump(expected_notebook(md)))
        tmp.replace(target)


if __name__ == "__main__":
    try:
        if "--write" in sys.argv:
            write_all()
        problems = out_of_sync()
    except ValueError as error:
        print(f"pairing: {error}", file=sys.stderr)
        sys.exit(2)
    for line in problems:
        print(line, file=sys.stderr)
    sys.exit(1 if problems else 0)
