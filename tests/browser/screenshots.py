#!/usr/bin/env python3
"""Screenshots of chosen pages of the built book as a reader sees them: desktop (1280 px) and
phone (390 px), light and dark.

Usage: screenshots.py HTML_DIR OUT_DIR [--page book/06-blindspot ...] [--small SMALL_DIR]

For every page and variant it saves two viewport-sized shots into OUT_DIR:
  <page>-<variant>-top.png   the top of the page (title, first cell and its status line)
  <page>-<variant>-fig.png   the page scrolled to its first figure
With --small it also writes reduced copies (half size, 64-colour palette) into SMALL_DIR,
small enough to keep in the repository. Served offline like check_book.py (MathJax local).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_book import CHROMIUM_ARGS, REPO, SETTLE_JS, prepare_site, serve  # noqa: E402

VARIANTS = {  # name: (viewport, colour scheme)
    "desktop-light": ({"width": 1280, "height": 900}, "light"),
    "desktop-dark": ({"width": 1280, "height": 900}, "dark"),
    "phone-light": ({"width": 390, "height": 844}, "light"),
    "phone-dark": ({"width": 390, "height": 844}, "dark"),
}
DEFAULT_PAGES = ["book/06-blindspot", "book/08-results", "book/10-deleting-a-person"]


def shrink(src: Path, dest: Path) -> None:
    """Half-size, 64-colour copy of a screenshot (a few tens of kB)."""
    from PIL import Image

    with Image.open(src) as img:
        img = img.convert("RGB")
        img = img.resize((img.width // 2, img.height // 2), Image.LANCZOS)
        img.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(dest, optimize=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("html_dir", type=Path)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--page", action="append", dest="pages")
    ap.add_argument("--small", type=Path, default=None)
    ap.add_argument("--mathjax", type=Path,
                    default=REPO / "_build/.browser-cache/node_modules/mathjax/es5")
    ap.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    args = ap.parse_args()
    pages = args.pages or DEFAULT_PAGES
    html_dir = args.html_dir.resolve()
    for name in pages:
        if not (html_dir / f"{name}.html").exists():
            print(f"screenshots: {html_dir / name}.html does not exist", file=sys.stderr)
            return 2
    args.out_dir.mkdir(parents=True, exist_ok=True)
    if args.small:
        args.small.mkdir(parents=True, exist_ok=True)
    mathjax = args.mathjax if (args.mathjax / "tex-mml-chtml.js").exists() else None

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="psl-shots-") as tmp:
        site = Path(tmp) / "site"
        prepare_site(html_dir, mathjax, site)
        server, base_url = serve(site)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=args.chromium, headless=True,
                                             args=CHROMIUM_ARGS)
                for variant, (viewport, scheme) in VARIANTS.items():
                    ctx = browser.new_context(viewport=viewport, color_scheme=scheme,
                                              device_scale_factor=1)
                    ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith(base_url)
                              else r.abort())
                    page = ctx.new_page()
                    for name in pages:
                        page.goto(f"{base_url}/{name}.html", wait_until="load")
                        page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
                        page.evaluate(SETTLE_JS)
                        page.wait_for_timeout(300)
                        stem = name.split("/")[-1]
                        shots = []
                        top = args.out_dir / f"{stem}-{variant}-top.png"
                        page.screenshot(path=str(top))
                        shots.append(top)
                        found = page.evaluate(
                            "() => { const i = document.querySelector('.bd-article .cell_output img');"
                            " if (!i) return false; window.scrollTo(0, i.getBoundingClientRect().top"
                            " + window.scrollY - 80); return true; }")
                        if found:
                            page.wait_for_timeout(200)
                            fig = args.out_dir / f"{stem}-{variant}-fig.png"
                            page.screenshot(path=str(fig))
                            shots.append(fig)
                        for shot in shots:
                            if args.small:
                                shrink(shot, args.small / shot.name)
                            print(shot)
                    ctx.close()
                browser.close()
        finally:
            server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
