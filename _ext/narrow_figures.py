"""Sphinx extension of the PixelSecurer book: phones get the narrow rendition of each figure.

While ``make book`` executes the chapters, every figure they show carries a second PNG drawn
for a phone's column (``pixelsecurer_lib.renditions``: panels stacked, same font sizes) under
the MIME type ``NARROW_MIME``, which MyST-NB does not render. When the HTML build has finished,
this extension reads the executed notebooks (``jupyter_execute/``), writes each narrow PNG
beside its wide one in ``_images/`` (``<sha256 of the wide PNG>-narrow.png``; MyST-NB names
the wide one by that hash) and wraps the figure's ``<img>`` in a ``<picture>`` whose
``<source>`` serves the narrow file to screens up to ``NARROW_MEDIA_MAX_PX`` wide. Pages keep
their alt text and caption; a page already wrapped is left alone. Loaded through
``sphinx: local_extensions`` in ``_config.yml``.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

from pixelsecurer_lib._io import atomic_path
from pixelsecurer_lib.renditions import NARROW_MEDIA_MAX_PX, NARROW_MIME

WRAPPED_CLASS = "narrow-rendition"
_IMG = re.compile(r'<picture class="' + WRAPPED_CLASS + r'">.*?</picture>'
                  r'|<img\b[^>]*\bsrc="(?P<prefix>(?:\.\./)*_images/)'
                  r'(?P<hash>[0-9a-f]{64})\.png"[^>]*>', re.S)


def _joined(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def narrow_images(executed: Path) -> dict:
    """{sha256 of a wide PNG: its narrow PNG's bytes} over every executed notebook."""
    found = {}
    for path in sorted(executed.rglob("*.ipynb")):
        try:
            notebook = json.loads(path.read_text(encoding="utf-8"))
            for cell in notebook.get("cells", []):
                for output in cell.get("outputs", []):
                    data = output.get("data", {})
                    if "image/png" in data and NARROW_MIME in data:
                        wide = base64.b64decode(_joined(data["image/png"]), validate=True)
                        found[hashlib.sha256(wide).hexdigest()] = base64.b64decode(
                            _joined(data[NARROW_MIME]), validate=True)
        except (OSError, ValueError, AttributeError) as exc:      # binascii.Error is a ValueError
            raise ValueError(f"{path}: not an executed notebook whose figures can be read "
                             f"({type(exc).__name__}: {exc}); expected the JSON MyST-NB "
                             "writes") from None
    return found


def _write(path: Path, content: bytes) -> None:
    with atomic_path(path) as tmp:          # the library's: renamed into place, or removed
        tmp.write_bytes(content)


def wrap_page(html: str, available: set) -> str:
    """``html`` with each figure that has a narrow rendition wrapped in a ``<picture>``."""
    def swap(match: re.Match) -> str:
        digest = match.group("hash")
        if digest is None or digest not in available:
            return match.group(0)                          # already wrapped, or none to offer
        narrow = f"{match.group('prefix')}{digest}-narrow.png"
        return (f'<picture class="{WRAPPED_CLASS}"><source media="(max-width: '
                f'{NARROW_MEDIA_MAX_PX}px)" srcset="{narrow}" />{match.group(0)}</picture>')
    return _IMG.sub(swap, html)


def add_narrow_renditions(app, exception) -> None:
    if exception is not None or getattr(app.builder, "format", "") != "html":
        return
    outdir = Path(app.outdir)
    renditions = narrow_images(outdir.parent / "jupyter_execute")
    images = outdir / "_images"
    available = set()
    for digest, png in renditions.items():
        if (images / f"{digest}.png").exists():
            _write(images / f"{digest}-narrow.png", png)
            available.add(digest)
    for page in outdir.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        wrapped = wrap_page(text, available)
        if wrapped != text:
            _write(page, wrapped.encode("utf-8"))


def setup(app):
    app.connect("build-finished", add_narrow_renditions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
