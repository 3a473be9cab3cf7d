"""Narrow renditions of the book's figures, for phones.

Figures are drawn for the HTML book's text column (:data:`plots.COLUMN_WIDTH`, about 690 px).
On a phone the column is about 350 px wide, so a browser would shrink such a figure to half and
its 10.5 pt text to 7 px. While ``make book`` builds the static pages, every figure a chapter
shows is therefore also drawn a second time, :data:`NARROW_WIDTH` inches wide, at the same
font sizes: its panels stacked into one column (thumbnail grids keep as many columns as still
fit), long titles wrapped, legends that would cover half a plot moved under it and slanted
tick names upright. The rendition travels with the notebook output under :data:`NARROW_MIME`
(Jupyter and Colab ignore that type), and the book's ``_ext/narrow_figures.py`` serves it to
screens narrower than :data:`NARROW_MEDIA_MAX_PX`.

``narrow_rendition(fig)`` leaves the figure as it found it (size, layout, panel positions), so
the wide rendition is the same before and after.
"""
from __future__ import annotations

import base64
import io
import math
import textwrap
import warnings
from typing import List, Optional

from matplotlib.figure import Figure

NARROW_WIDTH = 3.5                  # inches at 100 dpi: a phone's text column (about 350 px)
NARROW_MEDIA_MAX_PX = 640           # narrower screens get the narrow rendition
NARROW_MIME = "image/x-pixelsecurer-narrow+png"
MAX_ROW_HEIGHT = 3.2                # inches: a stacked plot panel's height at most
MIN_THUMBNAIL = 1.1                 # inches: an image panel's width at least
MAX_LEGEND_SHARE = 0.55             # a legend wider than this share of its plot moves below it
PRINT_OPTIONS = {"format": "png", "dpi": 100, "bbox_inches": "tight", "facecolor": "white"}


def _is_blank(ax) -> bool:
    """An empty cell of a grid (axis off, nothing drawn), e.g. the rest of a row of images."""
    return not ax.axison and not ax.has_data() and not ax.texts and not ax.title.get_text()


def _panels(fig: Figure):
    """The figure's grid panels in reading order (visible axes of one gridspec, no insets) and
    its blank cells, or None when the figure is not one simple grid or has a colorbar."""
    panels, blanks, grid = [], [], None
    for ax in fig.axes:
        if hasattr(ax, "_colorbar"):
            return None                                 # it would stay where it was
        if not ax.get_visible():
            continue
        if _is_blank(ax):
            blanks.append(ax)
            continue
        spec = ax.get_subplotspec()
        if spec is None:
            continue                                    # an inset: it moves with its parent
        if grid is None:
            grid = spec.get_gridspec()
        elif spec.get_gridspec() is not grid:
            return None
        panels.append(ax)
    places = [(ax.get_subplotspec().rowspan, ax.get_subplotspec().colspan) for ax in panels]
    if not panels or len(set(places)) < len(places):  # twinned axes: leave the figure wide
        return None
    panels.sort(key=lambda a: (a.get_subplotspec().rowspan.start,
                               a.get_subplotspec().colspan.start))
    return panels, blanks, grid


def _is_thumbnail(ax) -> bool:
    return bool(ax.images) and not ax.axison


def _texts(fig: Figure) -> List:
    texts = list(fig.texts)
    if getattr(fig, "_suptitle", None) is not None:
        texts.append(fig._suptitle)
    for ax in fig.axes:
        texts += [ax.title, ax._left_title, ax._right_title]
    return [t for t in texts if t.get_text()]


def _wrap(text: str, limit: int) -> str:
    return "\n".join(textwrap.fill(line, limit, break_long_words=False) if line else line
                     for line in text.split("\n"))                # names are not cut


def _move_legend_below(ax, old, renderer) -> None:
    """Give ``ax`` the entries of its legend ``old`` (taken off it) under its x label, in one or
    two columns of wrapped labels, instead of a legend in several columns or outside the axes
    (which would set the narrow figure's width)."""
    width = ax.figure.get_size_inches()[0]
    labels = [t.get_text() for t in old.get_texts()]
    columns = 2 if len(labels) >= 4 and max(map(len, labels)) <= 14 else 1
    labels = [_wrap(label, int((width / columns - 0.7) * 72 / 6.5)) for label in labels]
    below = ax.get_tightbbox(renderer).y0           # the bottom of the x label, in pixels
    gap = ax.get_window_extent(renderer).y0 - below
    size = old.prop.get_size_in_points() * ax.figure.dpi / 72
    lines = sum(label.count("\n") + 1 for label in labels[::columns])
    ax.figure.set_size_inches(ax.figure.get_size_inches() + (0, 0.25 * lines))
    ax.legend(old.legend_handles, labels, ncols=columns, loc="upper center",
              bbox_to_anchor=(0.5, 0.0), borderaxespad=gap / size + 0.4, prop=old.prop,
              frameon=old.get_frame_on(), title=old.get_title().get_text() or None)


def narrow_rendition(fig: Figure, width: float = NARROW_WIDTH) -> Optional[bytes]:
    """``fig`` drawn ``width`` inches wide as PNG bytes (see the module docstring), or None when
    its layout is not one this can reflow (nested grids, subfigures). ``fig`` is left as it was."""
    found = _panels(fig)
    if found is None:
        return None
    panels, blanks, grid = found
    thumbnails = all(_is_thumbnail(ax) for ax in panels)
    saved = _saved_state(fig, panels, thumbnails)
    try:
        for ax in blanks:
            ax.set_visible(False)
        _reflow(fig, panels, grid, thumbnails, width, saved)
        return _png_with_legends_below(fig, saved["legends"])
    except Exception:  # noqa: BLE001 - a layout this cannot reflow: the page keeps the wide one
        return None
    finally:
        for ax in blanks:
            ax.set_visible(True)
        _restore(fig, saved)


def _saved_state(fig: Figure, panels, thumbnails: bool) -> dict:
    """Everything :func:`_reflow` changes, to put back afterwards."""
    return {
        "engine": fig.get_layout_engine(), "size": tuple(fig.get_size_inches()),
        "panels": [(ax, ax.get_subplotspec(), ax.get_position(original=True),
                    ax.get_position(original=False), ax.get_in_layout(),
                    ax.yaxis.get_tick_params(which="major").get("labelleft", True),
                    ax.xaxis.get_tick_params(which="major").get("labelbottom", True))
                   for ax in panels],
        "legends": {ax: ax.get_legend() for ax in panels},
        "texts": [(t, t.get_text(), t.get_position()) for t in _texts(fig)],
        "tilted": [(t, t.get_rotation(), t.get_ha()) for ax in panels
                   for t in ax.get_xticklabels() if t.get_rotation() % 180 and not thumbnails],
    }


def _reflow(fig: Figure, panels, grid, thumbnails: bool, width: float, saved: dict) -> None:
    """Lay ``panels`` out ``width`` inches wide: one column (thumbnails: as many as fit),
    wrapped titles, upright tick names."""
    old_height = saved["size"][1]
    rows, columns = grid.get_geometry()
    new_columns = min(columns, max(1, math.floor(width / MIN_THUMBNAIL))) if thumbnails else 1
    new_columns = min(new_columns, len(panels))
    new_rows = math.ceil(len(panels) / new_columns)
    suptitle = getattr(fig, "_suptitle", None)
    chars = max(16, int(width * 72 / 6.5))          # about what a line of 11 pt text holds
    for text, _, _ in saved["tilted"]:              # slanted names: upright would not fit
        text.set_rotation(90)
        text.set_ha("center")
    for text, content, _ in saved["texts"]:
        whole = text in fig.texts or text is suptitle
        text.set_text(_wrap(content, chars if whole else chars // new_columns))
    if thumbnails:                                  # square images under their wrapped titles
        lines = max((ax.title.get_text().count("\n") + 1
                     for ax in panels if ax.title.get_text()), default=0)
        row_height = width / new_columns + 0.2 * lines + 0.1
    else:
        row_height = min(old_height / rows, MAX_ROW_HEIGHT)
    title_height = 0.0 if suptitle is None else 0.25 * (suptitle.get_text().count("\n") + 1)
    fig.set_layout_engine("constrained")
    new_grid = fig.add_gridspec(new_rows, new_columns)
    for i, ax in enumerate(panels):
        ax.set_subplotspec(new_grid[i // new_columns, i % new_columns])
        if not thumbnails and columns > 1:      # shared axes hid the inner panels' labels;
            ax.tick_params(labelleft=True, labelbottom=True)   # a column keeps its own
    fig.set_size_inches(width, new_rows * row_height + title_height)


def _png_with_legends_below(fig: Figure, legends: dict) -> bytes:
    """The reflowed figure as PNG bytes, crowded legends moved under their panels."""
    with warnings.catch_warnings():                 # a best effort: the browser check
        warnings.simplefilter("ignore", UserWarning)        # measures what comes out
        fig.draw_without_rendering()
        renderer = fig.canvas.get_renderer()
        crowded = [ax for ax, leg in legends.items() if leg is not None and (
            leg._ncols > 1 or leg._bbox_to_anchor is not None       # several columns, outside
            or leg.get_window_extent(renderer).width > MAX_LEGEND_SHARE
            * ax.get_window_extent(renderer).width)]                # or over half the plot
        for ax in crowded:
            ax.legend_ = None
        if crowded:
            fig.draw_without_rendering()
            for ax in crowded:
                _move_legend_below(ax, legends[ax], renderer)
        buffer = io.BytesIO()
        fig.savefig(buffer, **PRINT_OPTIONS)
    return buffer.getvalue()


def _restore(fig: Figure, saved: dict) -> None:
    """Put back what :func:`_saved_state` saved."""
    for text, rotation, alignment in saved["tilted"]:
        text.set_rotation(rotation)
        text.set_ha(alignment)
    for text, content, position in saved["texts"]:  # constrained layout moves the suptitle
        text.set_text(content)
        text.set_position(position)
    try:
        fig.set_layout_engine(saved["engine"])
    except RuntimeError:
        pass
    fig.set_size_inches(*saved["size"])
    for ax, spec, original, active, in_layout, labelleft, labelbottom in saved["panels"]:
        ax.set_subplotspec(spec)
        ax.set_position(original, which="original")
        ax.set_position(active, which="active")
        ax.set_in_layout(in_layout)                 # set_position took it out of layout
        ax.tick_params(labelleft=labelleft, labelbottom=labelbottom)
        ax.legend_ = saved["legends"][ax]


def register(shell=None) -> bool:
    """Add the narrow rendition to every figure IPython displays (``make book`` only: the
    static build asks for it through ``psl.setup_chapter``). True when registered."""
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    if shell is None:
        return False
    from IPython.core.formatters import BaseFormatter
    from traitlets import Unicode

    formatters = shell.display_formatter.formatters
    if NARROW_MIME in formatters:
        return True

    class NarrowFormatter(BaseFormatter):
        """Formats figures only. Not through ``for_type``: matplotlib's inline backend clears
        every formatter's Figure printer when it starts, which may be after this runs."""
        format_type = Unicode(NARROW_MIME)

        def __call__(self, obj):
            if not self.enabled or not isinstance(obj, Figure):
                return None
            try:                              # a page never fails for its narrow copy
                png = narrow_rendition(obj)
            except Exception:  # noqa: BLE001 - the browser check reports a figure without one
                return None
            return None if png is None else base64.b64encode(png).decode("ascii")

    formatters[NARROW_MIME] = NarrowFormatter(parent=shell.display_formatter)
    return True
