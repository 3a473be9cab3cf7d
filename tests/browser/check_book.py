#!/usr/bin/env python3
"""Browser check of the built PixelSecurer book.

Usage: check_book.py HTML_DIR [--mathjax ES5_DIR] [--chromium PATH] [--toc _toc.yml]

Serves a copy of HTML_DIR on 127.0.0.1 (MathJax rewritten to a local copy, since nothing
may reach the network), opens every page listed in _toc.yml in headless Chromium and checks:
  math      pages whose source has class="math" show MathJax output (mjx-container), no TeX errors
  figures   every <img> in the article has loaded and is displayed; a chapter whose code
            cells call plt.show() shows at least that many output images
  errors    no error / traceback cell outputs, no stderr outputs mentioning Error/Traceback
  colab     notebook pages (book/X.ipynb beside book/X.md) link to
            https://colab.research.google.com/github/<org>/<repo>/blob/<branch>/book/X.ipynb
  offline   the page requests nothing outside the served book (links may point anywhere)
  layout    no output block is wider than the text column (scrollWidth > clientWidth: it
            scrolls sideways or is cut);
            every figure has a caption and alt text that is not a file name; no raster
            figure is drawn more than MAX_RASTER_SCALE times wider than it is shown (vector
            images are exempt), at 1280 px and again at a phone's 390 px (where a figure's
            narrow rendition, _ext/narrow_figures.py, is what the <picture> serves); no page
            title, and no link in the navigation, starts "Goal"
It saves a full-page screenshot of each page to HTML_DIR/../screenshots/<page>.png,
prints one PASS/FAIL line per page and exits 1 if any page fails.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import yaml

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
MATHJAX_CDN = re.compile(r"""(src=["'])https?://cdn\.jsdelivr\.net/npm/mathjax@3[^/"']*/es5/([^"'?#]+)[^"']*(["'])""")
PAGE_TIMEOUT_MS = 30_000
MAX_RASTER_SCALE = 1.3      # natural width / displayed width of a PNG/JPEG figure
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
PHONE_IMGS_JS = r"""
() => {
  const root = document.querySelector('.bd-article') || document.querySelector('main') || document.body;
  return [...root.querySelectorAll('img')].filter(i => i.getBoundingClientRect().width > 0)
    .map(i => ({src: i.currentSrc || i.src, natural: i.naturalWidth,
                width: i.getBoundingClientRect().width}));
}
"""
FILENAME_ALT = re.compile(r"^\s*$|^[0-9a-f]{16,}(\.\w+)?$|\.(png|jpe?g|svg|gif|webp)$", re.I)
JARGON_TITLE = re.compile(r"^\s*(\d+(\.\d+)*\.?\s*)?Goal\b", re.I)
ERROR_TEXT = re.compile(r"Traceback \(most recent call last\)|^\s*[A-Z]\w*(Error|Exception): ", re.M)
STDERR_TEXT = re.compile(r"Traceback|\w*Error\b")
# Harmless JS errors that Jupyter Book 1.x itself causes: sphinx-thebe's config script is
# included twice on every page, so the second `const THEBE_JS_URL` throws.
KNOWN_JS_ERRORS = re.compile(r"'THEBE_JS_URL' has already been declared")


# ---------------------------------------------------------------- chapter list
def toc_files(toc_path: Path) -> list[str]:
    """Every `file:` entry of a Jupyter Book 1.x _toc.yml, in order, without suffix."""
    toc = yaml.safe_load(toc_path.read_text())
    out: list[str] = []

    def add(name: str) -> None:
        name = re.sub(r"\.(md|ipynb|rst)$", "", str(name).strip().lstrip("./"))
        if name not in out:
            out.append(name)

    def walk(node) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if "file" in node:
                add(node["file"])
            if "glob" in node:
                root = toc_path.parent
                for p in sorted(root.glob(str(node["glob"]))):
                    if p.suffix in (".md", ".ipynb", ".rst"):
                        add(str(p.relative_to(root).with_suffix("")))
            for key in ("parts", "chapters", "sections"):
                if key in node:
                    walk(node[key])

    if "root" in toc:
        add(toc["root"])
    walk({k: v for k, v in toc.items() if k in ("parts", "chapters", "sections")})
    return out


def colab_prefix(config_path: Path) -> str | None:
    cfg = yaml.safe_load(config_path.read_text()) or {}
    repo = cfg.get("repository") or {}
    url = str(repo.get("url", "")).rstrip("/")
    m = re.match(r"https?://github\.com/([^/]+)/([^/]+?)(\.git)?$", url)
    if not m:
        return None
    branch = repo.get("branch", "main")
    book_path = str(repo.get("path_to_book", "") or "").strip("/")
    prefix = f"https://colab.research.google.com/github/{m.group(1)}/{m.group(2)}/blob/{branch}/"
    return prefix + (book_path + "/" if book_path else "")


def expected_figures(md_path: Path) -> int:
    """Code cells of a MyST notebook that show a matplotlib figure (and keep their output)."""
    if not md_path.exists():
        return 0
    text = md_path.read_text()
    count = 0
    for m in re.finditer(r"^```+\{code-cell\}[^\n]*\n(.*?)^```+\s*$", text, re.S | re.M):
        body = m.group(1)
        tags = " ".join(re.findall(r"^:tags:\s*(.*)$", body, re.M))
        if re.search(r"remove-(output|cell)", tags):
            continue
        code = "\n".join(l for l in body.splitlines() if not l.lstrip().startswith("#"))
        if re.search(r"\bplt\.show\(|\bfig(ure)?\.show\(|display\(\s*fig", code):
            count += 1
    return count


# ---------------------------------------------------------------- local site
def prepare_site(html_dir: Path, mathjax_es5: Path | None, dest: Path) -> int:
    """Copy the site to dest, MathJax into dest/_static/mathjax/es5; return pages rewritten."""
    shutil.copytree(html_dir, dest)
    local_mj = dest / "_static" / "mathjax" / "es5"
    if mathjax_es5 is not None:
        shutil.copytree(mathjax_es5, local_mj)
    rewritten = 0
    for page in dest.rglob("*.html"):
        text = page.read_text(encoding="utf-8", errors="surrogateescape")
        if not MATHJAX_CDN.search(text):
            continue
        rel = os.path.relpath(local_mj, page.parent).replace(os.sep, "/")
        text = MATHJAX_CDN.sub(lambda m: f"{m.group(1)}{rel}/{m.group(2)}{m.group(3)}", text)
        page.write_text(text, encoding="utf-8", errors="surrogateescape")
        rewritten += 1
    return rewritten


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the report readable
        pass


def serve(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


# ---------------------------------------------------------------- page checks
PAGE_FACTS_JS = r"""
() => {
  const root = document.querySelector('.bd-article') || document.querySelector('main') || document.body;
  const visible = (el) => {
    for (let e = el; e && e !== document.body; e = e.parentElement) {
      if (e.tagName === 'DETAILS' && !e.open && !el.closest('summary')) return false;
      const st = getComputedStyle(e);
      if (st.display === 'none' || st.visibility === 'hidden') return false;
    }
    return true;
  };
  const imgs = [...root.querySelectorAll('img')].map(img => {
    const fig = img.closest('figure');
    const cap = fig ? fig.querySelector('figcaption') : null;
    return {
      src: img.getAttribute('src') || '',
      natural: img.naturalWidth,
      width: img.getBoundingClientRect().width,
      visible: visible(img),
      inOutput: !!img.closest('.cell_output, .output'),
      alt: img.getAttribute('alt') || '',
      caption: cap ? cap.innerText.trim() : '',
      figureId: fig ? (fig.id || '') : '',
    };
  });
  // output blocks that scroll sideways instead of fitting the column
  const overflowing = [...root.querySelectorAll(
      '.cell_output pre, .cell_output .output, .cell_output .text_html, .cell_output table')]
    .filter(e => visible(e) && e.scrollWidth > e.clientWidth + 1)
    .map(e => `${e.tagName.toLowerCase()} ${e.scrollWidth}>${e.clientWidth} px: ` +
              e.innerText.trim().split('\n')[0].slice(0, 60));
  const h1 = document.querySelector('.bd-article h1, main h1, h1');
  const navTitles = [...document.querySelectorAll('.bd-sidebar-primary a, nav.bd-links a, .prev-next-area a')]
    .map(a => a.innerText.trim().replace(/\s+/g, ' ')).filter(t => t);
  const maths = [...root.querySelectorAll('.math')];
  const errorOut = [...root.querySelectorAll(
      '.output.error, .output_error, .output.traceback, .output_traceback, .traceback')]
    .map(e => e.innerText.slice(0, 160));
  const stderr = [...root.querySelectorAll('.output.stderr, .output_stderr')].map(e => e.innerText);
  const outputs = [...root.querySelectorAll(
      '.cell_output > .output:not(.stderr):not(.traceback):not(.error), .output_area:not(.output_stderr):not(.output_error)')]
    .map(e => e.innerText);
  const redAnsi = [...root.querySelectorAll(
      '.cell_output .-Color-Red, .cell_output .-Color-BrightRed, .cell_output .ansi-red-fg, .cell_output .ansi-red-intense-fg')]
    .map(e => (e.closest('.output') || e).innerText.slice(0, 160));
  return {
    mathCount: maths.length,
    mathUntypeset: maths.filter(m => !m.querySelector('mjx-container') && !(m.tagName === 'MJX-CONTAINER')).length,
    mjxCount: document.querySelectorAll('mjx-container').length,
    mjxErrors: [...document.querySelectorAll('mjx-merror')].map(e => e.getAttribute('data-mjx-error') || e.textContent)
      .concat([...document.querySelectorAll('mjx-assistive-mml mtext[mathcolor="red"]')]
        .map(e => e.textContent).filter(t => t.startsWith('\\')).map(t => 'undefined ' + t)).slice(0, 3),
    imgs, errorOut, stderr, outputs, redAnsi, overflowing, navTitles,
    title: h1 ? h1.innerText.trim().replace(/[#¶]\s*$/, '').trim() : '',
    docTitle: document.title,
    colab: [...document.querySelectorAll('a[href*="colab.research.google.com"]')].map(a => a.href),
  };
}
"""

SETTLE_JS = r"""
async () => {
  const root = document.querySelector('.bd-article') || document.querySelector('main') || document.body;
  const imgs = [...root.querySelectorAll('img')];
  imgs.forEach(i => { i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => {
    i.addEventListener('load', r, {once: true}); i.addEventListener('error', r, {once: true});
  })));
  if (document.fonts && document.fonts.ready) await document.fonts.ready;
}
"""


def check_page(page, base_url: str, name: str, html_dir: Path, shots: Path, colab: str | None,
               blocked: list[str], bad_local: list[str], page_errors: list[str]
               ) -> tuple[list[str], list[str]]:
    fails: list[str] = []
    notes: list[str] = []
    html_file = html_dir / f"{name}.html"
    if not html_file.exists():
        return [f"page not built ({html_file.relative_to(html_dir)} missing)"], notes
    source = html_file.read_text(encoding="utf-8", errors="replace")
    source_has_math = bool(re.search(r'class="[^"]*\bmath\b', source))
    uses_mathjax = bool(re.search(r"<script[^>]*src=[^>]*mathjax[^>]*/es5/", source, re.I))
    blocked.clear()
    bad_local.clear()
    page_errors.clear()

    page.goto(f"{base_url}/{name}.html", wait_until="load", timeout=PAGE_TIMEOUT_MS)
    if uses_mathjax:
        try:
            page.wait_for_function(
                "() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                timeout=15_000)
            page.evaluate("() => MathJax.startup.promise.then(() => true)")
        except Exception as exc:  # noqa: BLE001 - reported below
            if source_has_math:
                fails.append(f"MathJax never started ({type(exc).__name__})")
    page.evaluate(SETTLE_JS)
    facts = page.evaluate(PAGE_FACTS_JS)

    # (i) math
    if source_has_math:
        if facts["mjxCount"] == 0:
            fails.append(f"math not rendered: {facts['mathCount']} .math elements, no mjx-container")
        elif facts["mathUntypeset"]:
            fails.append(f"math not rendered: {facts['mathUntypeset']}/{facts['mathCount']} .math elements untypeset")
    if facts["mjxErrors"]:
        fails.append(f"TeX errors: {facts['mjxErrors']}")

    # (ii) figures
    for img in facts["imgs"]:
        if img["natural"] <= 0:
            fails.append(f"image not loaded: {img['src']}")
        elif img["visible"] and img["width"] <= 0:
            fails.append(f"image not displayed (width 0): {img['src']}")
    want = expected_figures(REPO / f"{name}.md")
    got = sum(1 for img in facts["imgs"] if img["inOutput"] and img["natural"] > 0)
    if got < want:
        fails.append(f"figures: {got} output images shown, {want} code cells call plt.show()")

    # (ii b) figures for readers: a numbered caption, alt text, drawn for the column
    for img in facts["imgs"]:
        where = img["src"].rsplit("/", 1)[-1][:24]
        if not img["caption"]:
            fails.append(f"figure without a caption: {where}")
        if FILENAME_ALT.search(img["alt"]):
            fails.append(f"figure alt text is empty or a file name ({img['alt'][:30]!r}): {where}")
        vector = img["src"].lower().endswith(".svg") or img["src"].startswith("data:image/svg")
        if (not vector and img["visible"] and img["width"] > 0
                and img["natural"] > MAX_RASTER_SCALE * img["width"]):
            fails.append(f"figure drawn {img['natural']} px wide, shown at {img['width']:.0f} px "
                         f"(over {MAX_RASTER_SCALE}x: its text shrinks): {where}")

    # (ii c) printed output that runs past the column and scrolls sideways
    for block in facts["overflowing"]:
        fails.append(f"output scrolls sideways: {block}")

    # (ii d) no internal jargon in titles
    if JARGON_TITLE.search(facts["title"]):
        fails.append(f"page title starts with 'Goal': {facts['title']!r}")
    jargon = sorted({t for t in facts["navTitles"] if JARGON_TITLE.search(t)})
    if jargon:
        fails.append(f"navigation links start with 'Goal': {jargon[:3]}")

    # (iii) cell errors
    for text in facts["errorOut"]:
        fails.append(f"error output: {text.strip()[:120]!r}")
    for text in facts["stderr"]:
        if STDERR_TEXT.search(text):
            fails.append(f"stderr output with an error: {text.strip()[:120]!r}")
    for text in facts["outputs"]:
        m = ERROR_TEXT.search(text)
        if m:
            fails.append(f"traceback in cell output: {text[m.start():].strip()[:120]!r}")
    for text in facts["redAnsi"]:
        if re.search(r"Error|Exception|Traceback", text):
            fails.append(f"red error block in cell output: {text.strip()[:120]!r}")

    # (iv) Colab link
    stem = name
    is_notebook = (REPO / f"{stem}.ipynb").exists() and (REPO / f"{stem}.md").exists()
    if colab is not None:
        expected = f"{colab}{stem}.ipynb"
        wrong = sorted({h for h in facts["colab"] if h != expected})
        if is_notebook and expected not in facts["colab"]:
            fails.append(f"Colab link missing: want {expected}")
        if wrong:
            why = "wrong Colab link" if is_notebook else f"Colab link on a page with no {stem}.ipynb"
            fails.append(f"{why}: {wrong[:2]}")
    elif is_notebook:
        notes.append("no repository.url in _config.yml: Colab link not checked")

    if bad_local:
        fails.append(f"local requests failed: {sorted(set(bad_local))[:5]}")
    js_errors = [e for e in page_errors if not KNOWN_JS_ERRORS.search(e)]
    if js_errors:
        notes.append(f"JS errors: {js_errors[:3]}")
    if blocked:
        fails.append(f"page asks the network for {len(blocked)} resource(s) (offline readers "
                     f"lose them): {sorted(set(blocked))[:3]}")

    # (v) screenshot
    shot = shots / f"{re.sub(r'^book/', '', name)}.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    notes.append(f"{len(facts['imgs'])} img, {facts['mjxCount']} math, screenshot {shot.name}")

    # (vi) the raster rule of (ii b) again on a phone, where a <picture> serves the narrow rendition
    page.set_viewport_size(PHONE)
    try:
        page.reload(wait_until="load", timeout=PAGE_TIMEOUT_MS)
        page.evaluate(SETTLE_JS)
        phone_imgs = page.evaluate(PHONE_IMGS_JS)
    finally:
        page.set_viewport_size(DESKTOP)
    narrow = 0
    for img in phone_imgs:
        where = img["src"].rsplit("/", 1)[-1][:31]
        narrow += "-narrow.png" in img["src"]
        vector = img["src"].lower().endswith(".svg") or img["src"].startswith("data:image/svg")
        if not vector and img["natural"] > MAX_RASTER_SCALE * img["width"]:
            fails.append(f"on a phone ({PHONE['width']} px), figure drawn {img['natural']} px "
                         f"wide, shown at {img['width']:.0f} px (over {MAX_RASTER_SCALE}x): {where}")
    if phone_imgs:
        notes.append(f"phone: {narrow} of {len(phone_imgs)} figures in their narrow rendition")
    return fails, notes


# ---------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("html_dir", type=Path)
    ap.add_argument("--mathjax", type=Path,
                    default=Path(os.environ.get("MATHJAX_ES5",
                                                REPO / "_build/.browser-cache/node_modules/mathjax/es5")),
                    help="folder holding MathJax 3's es5 build (tex-mml-chtml.js)")
    ap.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    ap.add_argument("--toc", type=Path, default=REPO / "_toc.yml")
    ap.add_argument("--config", type=Path, default=REPO / "_config.yml")
    args = ap.parse_args()

    t0 = time.monotonic()
    html_dir = args.html_dir.resolve()
    if not (html_dir / "index.html").exists() and not any(html_dir.glob("*.html")):
        print(f"check_book: no HTML in {html_dir}", file=sys.stderr)
        return 2
    mathjax = args.mathjax.resolve() if args.mathjax else None
    if mathjax is None or not (mathjax / "tex-mml-chtml.js").exists():
        print(f"check_book: no MathJax 3 es5 build at {mathjax}: math pages will fail "
              "(run tests/browser/run.sh, or pass --mathjax)", file=sys.stderr)
        mathjax = None
    pages = toc_files(args.toc)
    colab = colab_prefix(args.config)
    shots = html_dir.parent / "screenshots"
    shutil.rmtree(shots, ignore_errors=True)

    from playwright.sync_api import sync_playwright

    failed = 0
    with tempfile.TemporaryDirectory(prefix="psl-browser-") as tmp:
        site = Path(tmp) / "site"
        prepare_site(html_dir, mathjax, site)
        server, base_url = serve(site)
        blocked: list[str] = []
        bad_local: list[str] = []
        page_errors: list[str] = []

        def route(r):
            host = urlparse(r.request.url).hostname or ""
            if r.request.url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost"):
                r.continue_()
            else:
                blocked.append(r.request.url)
                r.abort()

        def on_response(resp):
            if resp.status >= 400 and not resp.url.endswith("favicon.ico"):
                bad_local.append(f"{resp.status} {urlparse(resp.url).path}")

        with sync_playwright() as pw:
            ctx = pw.chromium.launch_persistent_context(
                user_data_dir=str(Path(tmp) / "profile"),
                executable_path=args.chromium,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport=DESKTOP,
                service_workers="block",
            )
            try:
                ctx.route("**/*", route)
                page = ctx.pages[0] if ctx.pages else ctx.new_page()
                page.on("response", on_response)
                page.on("pageerror", lambda e: page_errors.append(str(e).splitlines()[0][:160]))
                for name in pages:
                    t = time.monotonic()
                    try:
                        fails, notes = check_page(page, base_url, name, html_dir, shots, colab,
                                                  blocked, bad_local, page_errors)
                    except Exception as exc:  # noqa: BLE001 - one bad page must not hide the rest
                        fails, notes = [f"check crashed: {type(exc).__name__}: {str(exc).splitlines()[0]}"], []
                    status = "FAIL" if fails else "PASS"
                    failed += bool(fails)
                    detail = "; ".join(fails) if fails else "; ".join(notes)
                    print(f"{status} {name} ({time.monotonic() - t:.1f}s): {detail}", flush=True)
                    if fails and notes:
                        print(f"     notes: {'; '.join(notes)}", flush=True)
            finally:
                ctx.close()
                server.shutdown()

    print(f"browser check: {time.monotonic() - t0:.1f}s; screenshots in {shots}")
    print(f"{len(pages) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
