"""Narrow renditions of figures for phones (pixelsecurer_lib/renditions.py) and the book
extension that serves them (_ext/narrow_figures.py)."""
import base64
import hashlib
import importlib.util
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from pixelsecurer_lib import plots, renditions  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _load_extension():
    spec = importlib.util.spec_from_file_location("narrow_figures", ROOT / "_ext" / "narrow_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, **renditions.PRINT_OPTIONS)
    return buffer.getvalue()


def _width(png: bytes) -> int:
    return Image.open(io.BytesIO(png)).size[0]


@pytest.fixture(autouse=True)
def _style():
    plots.use_book_style()
    yield
    plt.close("all")


def _three_panels():
    fig, axes = plt.subplots(1, 3, figsize=(plots.COLUMN_WIDTH, 3.0), sharey=True)
    for k, ax in enumerate(axes):
        ax.plot(np.arange(10), np.arange(10) * (k + 1))
        ax.set_title(f"panel {k}")
        ax.set_xlabel("true age (years)")
    fig.suptitle("Three panels side by side, whose title is long enough to need wrapping")
    return fig


def test_narrow_rendition_stacks_panels_and_leaves_the_figure_as_it_was():
    fig = _three_panels()
    wide = _png(fig)
    narrow = renditions.narrow_rendition(fig)
    assert _png(fig) == wide                          # size, layout, labels, title restored
    assert _width(wide) > 550
    assert abs(_width(narrow) - 100 * renditions.NARROW_WIDTH) <= 25
    height = Image.open(io.BytesIO(narrow)).size[1]
    assert height > 2.5 * 100 * 2.0                   # three panels one above the other


def test_thumbnail_grids_keep_columns_that_fit():
    fig, axes = plt.subplots(2, 6, figsize=(plots.COLUMN_WIDTH, 3.1))
    for ax in axes.flat:
        ax.imshow(np.random.default_rng(0).random((8, 8)))
        ax.axis("off")
        ax.set_title("age 34")
    fig.tight_layout()
    wide = _png(fig)
    narrow = renditions.narrow_rendition(fig)
    assert _png(fig) == wide                          # tight_layout's positions restored too
    width, height = Image.open(io.BytesIO(narrow)).size
    assert abs(width - 100 * renditions.NARROW_WIDTH) <= 25
    assert 1.5 < height / width < 2.5                 # 3 columns x 4 rows of square panels


def test_figures_it_cannot_reflow_get_no_rendition():
    fig, ax = plt.subplots()
    ax.twinx()                                        # two axes in one place
    assert renditions.narrow_rendition(fig) is None
    assert renditions.narrow_rendition(plt.figure()) is None      # no axes at all
    fig, ax = plt.subplots()
    fig.colorbar(ax.imshow(np.eye(4)), ax=ax)         # the colorbar would stay behind
    assert renditions.narrow_rendition(fig) is None


def test_a_second_rendition_is_the_same_and_layout_engines_keep_working():
    fig, axes = plt.subplots(1, 3, figsize=(plots.COLUMN_WIDTH, 3.0), layout="constrained")
    for ax in axes:
        ax.plot([0, 1], [1, 0])
        ax.set_title("a title")
    first = renditions.narrow_rendition(fig)
    assert all(ax.get_in_layout() for ax in axes)
    assert renditions.narrow_rendition(fig) == first


def test_blank_cells_of_an_image_grid_are_left_out():
    fig, axes = plt.subplots(3, 4, figsize=(plots.COLUMN_WIDTH, 5.0))
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < 10:                                    # two empty cells, as plots.image_grid leaves
            ax.imshow(np.random.default_rng(k).random((8, 8)))
            ax.set_title(f"age {k}")
    width, height = Image.open(io.BytesIO(renditions.narrow_rendition(fig))).size
    assert height < 3 * width                         # 3 columns of images, not one long column
    assert all(ax.get_visible() for ax in axes.flat)


def test_ipython_display_carries_the_rendition():
    pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.core.pylabtools import select_figure_formats

    shell = InteractiveShell.instance()
    assert renditions.register(shell) and renditions.register(shell)   # idempotent
    select_figure_formats(shell, {"png"})    # as the inline backend does when it starts later
    data, _ = shell.display_formatter.format(_three_panels())
    assert {"image/png", renditions.NARROW_MIME} <= set(data)
    assert _width(base64.b64decode(data[renditions.NARROW_MIME])) < 400


def test_extension_wraps_each_figure_once(tmp_path):
    ext = _load_extension()
    fig = _three_panels()
    wide, narrow = _png(fig), renditions.narrow_rendition(fig)
    digest = hashlib.sha256(wide).hexdigest()
    other = "0" * 64
    executed = tmp_path / "jupyter_execute" / "book"
    executed.mkdir(parents=True)
    cell = {"cell_type": "code", "outputs": [{"output_type": "display_data", "data": {
        "image/png": base64.b64encode(wide).decode(),
        renditions.NARROW_MIME: base64.b64encode(narrow).decode()}, "metadata": {}}]}
    (executed / "ch.ipynb").write_text(json.dumps({"cells": [cell]}))
    found = ext.narrow_images(tmp_path / "jupyter_execute")
    assert found == {digest: narrow}
    html = (f'<figure><img alt="Three panels" src="../_images/{digest}.png" /><figcaption>x'
            f'</figcaption></figure><img alt="plain" src="../_images/{other}.png" />')
    once = ext.wrap_page(html, {digest})
    assert f'srcset="../_images/{digest}-narrow.png"' in once
    assert f'media="(max-width: {renditions.NARROW_MEDIA_MAX_PX}px)"' in once
    assert once.count("<picture") == 1 and 'alt="Three panels"' in once
    assert f'<img alt="plain" src="../_images/{other}.png" />' in once      # none to offer
    assert ext.wrap_page(once, {digest}) == once                           # never twice


def test_wide_legends_move_under_the_axes_and_slanted_names_stand_up():
    fig, ax = plt.subplots(figsize=(plots.COLUMN_WIDTH, 3.8))
    names = ["HeliaQuilleski_f", "IgusDunerkan_m", "MarorSelinski_m", "OsoPelistein_m"]
    for k, label in enumerate(["the original model on the person's photos",
                               "the retrained model on the person's photos",
                               "the retrained model on other people's photos"]):
        ax.bar(np.arange(4) + 0.25 * k, np.arange(4) + k, width=0.25, label=label)
    ax.set_xticks(np.arange(4), names, rotation=15, ha="right")
    ax.legend(ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    wide = _png(fig)
    narrow = renditions.narrow_rendition(fig)
    assert _png(fig) == wide
    assert ax.get_legend()._ncols == 3 and ax.get_xticklabels()[0].get_rotation() == 15
    assert abs(_width(narrow) - 100 * renditions.NARROW_WIDTH) <= 25   # nothing sticks out


def test_extension_names_an_unreadable_notebook(tmp_path):
    ext = _load_extension()
    bad = tmp_path / "jupyter_execute" / "ch.ipynb"
    bad.parent.mkdir()
    bad.write_text("{ not json")
    with pytest.raises(ValueError, match=r"ch\.ipynb: not an executed notebook"):
        ext.narrow_images(tmp_path / "jupyter_execute")
