"""Keep book/*.ipynb (the Colab copies) in step with book/*.md (the MyST sources).

    python tools/pairing.py --write   # write every first cell and .ipynb afresh (what `make sync` does)
    python tools/pairing.py           # check: exit 1 and name the files that are out of sync

Writing does two things: every page's first cell gets the install lines generated from the
version and the repository address (tools/release.py), and every .md chapter gets a .ipynb
copy with outputs stripped, its Markdown made Colab-clean and each figure's caption in a Markdown
cell under the cell that draws it (tools/colab_markdown.py). The
.ipynb is an export, not a jupytext pair: edit the .md, then run `make sync`.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import jupytext
import nbformat
from pixelsecurer_lib._io import atomic_path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import colab_markdown  # noqa: E402
import release  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("book/*.md", "book/assignments/*.md")
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
CAPTION_TAG = "figure-caption"      # the Markdown cell that carries a figure's caption in Colab


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
    cells = []
    for cell in nb.cells:
        caption = colab_markdown.figure_caption(cell.metadata, page) if cell.cell_type == "code" else None
        cell.metadata = {k: v for k, v in cell.metadata.items() if k == "tags"}
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown":
            cell.source = colab_markdown.convert(cell.source, page)
        cells.append(cell)
        if caption:                     # the figure's words, right under the figure it draws
            cells.append(nbformat.v4.new_markdown_cell(caption, metadata={"tags": [CAPTION_TAG]}))
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i}"
    nb.cells = cells
    return nb


def captions(nb) -> list:
    """The figure captions a Colab copy shows: the source of each cell tagged as a caption."""
    return ["".join(cell.source) for cell in nb.cells
            if cell.cell_type == "markdown" and CAPTION_TAG in cell.metadata.get("tags", [])]


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
        with atomic_path(target) as tmp:
            tmp.write_text(_dump(expected_notebook(md)))


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
