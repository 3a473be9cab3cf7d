#!/usr/bin/env bash
# Browser check of the built book (make test-browser). See tests/browser/README.md.
#   BOOK_HTML=path/to/html  check an existing build instead of building the smoke-profile book
#   CHROMIUM=/usr/bin/chromium  the browser to drive (Debian's chromium; never playwright's own)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PY=${PY:-$ROOT/.venv/bin/python}
# MathJax lives under _build/ so that Sphinx (which excludes _build) never reads its README.md.
BROWSER_CACHE=${BROWSER_CACHE:-$ROOT/_build/.browser-cache}
MATHJAX_ES5=$BROWSER_CACHE/node_modules/mathjax/es5
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
SECONDS=0

# (a) Debian's Chromium.
if ! command -v "$CHROMIUM" >/dev/null 2>&1; then
    echo "== installing Debian chromium"
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

# (b) Python playwright in the venv (only the library: the browser is the system one,
#     so never `playwright install`, which downloads a browser build).
if ! "$PY" -c "import playwright.sync_api" 2>/dev/null; then
    echo "== installing playwright into the venv"
    "$PY" -m pip install -q playwright
fi

# (c) A local MathJax 3: the pages load it from a CDN, which cannot be reached here.
if [ ! -f "$MATHJAX_ES5/tex-mml-chtml.js" ]; then
    echo "== installing mathjax@3 into $BROWSER_CACHE"
    command -v npm >/dev/null || { echo "run.sh: npm is needed to install MathJax 3" >&2; exit 2; }
    npm install --silent --no-audit --no-fund --prefix "$BROWSER_CACHE" mathjax@3 >/dev/null
fi
echo "== tools ready (${SECONDS}s)"

# (d) The book, smoke profile, unless BOOK_HTML names a build to check.
if [ -z "${BOOK_HTML:-}" ]; then
    echo "== building the book (smoke profile) into _build/test-book"
    t=$SECONDS
    rm -rf _build/test-book && mkdir -p _build
    env PIXELSECURER_STATIC=1 PIXELSECURER_PROFILE=smoke \
        PIXELSECURER_CACHE="$ROOT/.cache/test/book" \
        "$ROOT/.venv/bin/jupyter-book" build -W --keep-going --path-output _build/test-book . \
        > _build/test-book.log 2>&1 \
        || { tail -40 _build/test-book.log; echo "run.sh: book build failed (log: _build/test-book.log)" >&2; exit 1; }
    echo "== book built ($((SECONDS - t))s)"
    BOOK_HTML=_build/test-book/_build/html
fi

# (e) The check itself.
"$PY" tests/browser/check_book.py "$BOOK_HTML" --mathjax "$MATHJAX_ES5" --chromium "$CHROMIUM"
