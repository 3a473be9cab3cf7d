#!/usr/bin/env bash
# Install what `make test-gpu` needs on an offline machine from the wheels of `make gpu-wheels`.
#   PYTHON   the interpreter that has torch & co. (default python3; Python 3.12 on the GPU machine)
#   VENV     the environment to create (default .venv), seeing PYTHON's own packages
#            (--system-site-packages), so torch, numpy, pandas ... are used as installed
#   WHEELS   the wheel folder (default _build/gpu-wheels)
# Nothing is fetched from the network: pip runs with --no-index.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
WHEELS="${WHEELS:-$PWD/_build/gpu-wheels}"
if [ ! -d "$WHEELS" ] || [ -z "$(ls -A "$WHEELS" 2>/dev/null)" ]; then
    echo "install_offline: no wheels in $WHEELS: run 'make gpu-wheels' on a connected machine first" >&2
    exit 2
fi
"$PYTHON" -m venv --system-site-packages "$VENV"
"$VENV/bin/python" -m pip install -q --no-index --find-links "$WHEELS" -r bench/gpu-requirements.txt
# the library itself, without touching the machine's torch/numpy/... (no dependency resolution)
"$VENV/bin/python" -m pip install -q --no-index --no-deps --no-build-isolation -e .
echo "install_offline: $("$VENV/bin/python" --version) in $VENV with nbval $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("nbval"))') and pixelsecurer $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("pixelsecurer"))')"
