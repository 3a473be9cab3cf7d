#!/usr/bin/env bash
# `make test-gpu`: validate the paper profile on a CUDA machine.
#   bash bench/test_gpu.sh            on a GPU: nbval over every chapter (paper profile, CUDA
#                                     required), then a short paper-profile experiment table
#   bash bench/test_gpu.sh --dry-run  the same steps on the CPU with the smoke profile, to check
#                                     the script itself where no GPU is lent
# GPU_EPOCHS (default 8) shortens the paper recipe's 100 epochs so the run fits in ~8 minutes
# on one H100; the rest of the recipe (full-width AllCNN, batch 256, Adam 0.01, plateau) is kept.
# On the offline GPU machine (no .venv yet), the script first installs the Jupyter pieces from
# the wheels that `make gpu-wheels` downloaded into _build/gpu-wheels (bench/install_offline.sh,
# pip --no-index), in a .venv that sees the machine's own torch, numpy, pandas, ...
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-gpu}"
PY="${PY:-.venv/bin/python}"
if [ ! -x "$PY" ]; then
    start=$(date +%s)
    VENV="$(dirname "$(dirname "$PY")")" bash bench/install_offline.sh
    echo "offline install: $(( $(date +%s) - start )) s"
fi
OUT="${OUT:-$PWD/_build/test-gpu}"
mkdir -p "$OUT"
if [ "$MODE" = "--dry-run" ]; then
    export PIXELSECURER_PROFILE=smoke PIXELSECURER_DEVICE=cpu PIXELSECURER_EPOCHS=1
    WANT=cpu
else
    export PIXELSECURER_PROFILE=paper PIXELSECURER_DEVICE=cuda PIXELSECURER_EPOCHS="${GPU_EPOCHS:-8}"
    WANT=cuda
fi
export PIXELSECURER_CACHE="${PIXELSECURER_CACHE:-$PWD/.cache/test-gpu-$MODE}"
export PIXELSECURER_STATIC=1

# 1. the device really is the one asked for (choose_device refuses cuda without CUDA)
"$PY" - "$WANT" <<'PYEOF'
import sys, torch, pixelsecurer_lib as psl
device = psl.training.choose_device()
print(f"device: {device}" + (f" ({torch.cuda.get_device_name(0)})" if device.type == "cuda" else ""))
if device.type != sys.argv[1]:
    sys.exit(f"test-gpu: expected device {sys.argv[1]}, got {device.type}")
PYEOF

# 2. every chapter under nbval
start=$(date +%s)
"$PY" -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env --nbval-cell-timeout=900 \
    book/*.ipynb book/assignments/*.ipynb
echo "nbval over all chapters: $(( $(date +%s) - start )) s"

# 3. a short experiment, printed as the benchmark's table; CUDA use is checked after it
start=$(date +%s)
"$PY" -m pixelsecurer_lib.cli experiment --forget age:0-30 \
    --methods original,retrain,finetune,amnesiac,blindspot,neggrad --quiet --json "$OUT/experiment.json"
echo "experiment: $(( $(date +%s) - start )) s"
"$PY" - "$OUT/experiment.json" "$WANT" <<'PYEOF'
import json, sys
payload = json.load(open(sys.argv[1]))
if payload["config"]["device"] != sys.argv[2]:
    sys.exit(f"test-gpu: the experiment ran on {payload['config']['device']}, not {sys.argv[2]}")
retrain = next(r for r in payload["results"] if r["method"] == "retrain")
print("method      W1->retrain  retainMAE forgetMAE  time/retrain")
for r in payload["results"]:
    w1 = "-" if r["w1_to_retrain"] is None else f"{r['w1_to_retrain']:.3f}"
    print(f"{r['method']:<11} {w1:>11} {r['retain_mae']:9.2f} {r['forget_mae']:9.2f} "
          f"{r['seconds'] / retrain['seconds']:12.3f}")
print(f"noise floor W1: {payload['noise_floor_w1']}")
PYEOF
echo "test-gpu ($MODE): passed"
