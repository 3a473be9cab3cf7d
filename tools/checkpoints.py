"""Write the small cpu-profile checkpoints the release ships (``make checkpoints``).

    python tools/checkpoints.py [--profile cpu] [--keep-cache DIR]

Runs every chapter (book/*.ipynb, in order) under the profile with an empty model cache, then
copies every model the chapters trained into ``pixelsecurer_lib/checkpoints/models/`` and every
prediction they made with them into ``predictions/`` (with their checksums), and writes
``pixelsecurer_lib/checkpoints/MANIFEST.json``: which command, code version, date and machine
produced them, and what each one is. ``get_or_train`` uses a shipped
checkpoint only when its spec key matches exactly (same data bytes, split, model, recipe,
seed and code version), so a chapter opened alone in Colab loads instead of training; any
other spec is trained as usual. tests/test_checkpoints.py retrains one and compares.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "pixelsecurer_lib" / "checkpoints"
MAX_BUNDLE_BYTES = 16 * 2 ** 20          # a wheel people download in Colab stays small


def run_chapters(profile: str, cache: Path) -> dict:
    """Execute every chapter notebook in a fresh kernel; seconds per chapter."""
    import nbformat
    from nbclient import NotebookClient

    env = {"PIXELSECURER_PROFILE": profile, "PIXELSECURER_CACHE": str(cache),
           "PIXELSECURER_STATIC": "1", "PIXELSECURER_DEVICE": "cpu",
           "PIXELSECURER_CHECKPOINTS": "off"}     # train everything, never copy the old bundle
    os.environ.update(env)
    seconds = {}
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        start = time.perf_counter()
        notebook = nbformat.read(path, as_version=4)
        NotebookClient(notebook, timeout=1800, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        seconds[path.stem] = round(time.perf_counter() - start, 1)
        print(f"{path.stem}: {seconds[path.stem]} s", flush=True)
    return seconds


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_bundle(cache: Path, profile: str, seconds: dict) -> dict:
    """Copy the cache's models and predictions into the package (a temporary folder renamed
    into place)."""
    tmp = Path(tempfile.mkdtemp(prefix=".checkpoints-", dir=BUNDLE.parent))
    try:
        return _fill_bundle(tmp, cache, profile, seconds)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)      # gone after the rename, or after a failure


def _fill_bundle(tmp: Path, cache: Path, profile: str, seconds: dict) -> dict:
    import numpy as np

    import pixelsecurer_lib as psl
    from pixelsecurer_lib import _io, cache as model_cache

    models = sorted((cache / "models").glob("*.pt"))
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no", "--", "pixelsecurer_lib"))
    entries, total = [], 0

    def copy(path: Path, folder: str) -> int:
        """``path`` and its checksum into ``tmp/folder``; its size."""
        for src in (path, _io.checksum_path(path)):
            shutil.copy2(src, tmp / folder / src.name)
        return path.stat().st_size

    (tmp / "models").mkdir()
    for path in models:
        payload = _io.load_tensors(path, model_cache.MODEL_FORMAT)      # verified, no pickle
        spec = json.loads(payload["meta"])["spec"]
        total += copy(path, "models")
        entries.append({"key": path.stem, "role": spec["role"], "seed": spec["seed"],
                        "forget": spec.get("forget", {}).get("spec"), "bytes": path.stat().st_size})
    (tmp / "predictions").mkdir()
    predictions = sorted((cache / "predictions").glob("*.npy"))
    for path in predictions:
        _io.load_array(path, dtype=np.float32)                         # verified, no pickle
        total += copy(path, "predictions")
    if total > MAX_BUNDLE_BYTES:
        raise SystemExit(f"checkpoints: {total / 2**20:.1f} MiB of models and predictions; "
                         f"expected at most {MAX_BUNDLE_BYTES / 2**20:.0f} MiB "
                         f"(is the profile {profile!r} right?)")
    manifest = {
        "command": f"make checkpoints (python tools/checkpoints.py --profile {profile})",
        "code_version": {"package": psl.__version__, "commit": _git("rev-parse", "HEAD"),
                         "training_code_version": model_cache.TRAINING_CODE_VERSION,
                         "uncommitted_changes": dirty},
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpus": os.cpu_count(), "python": platform.python_version()},
        "profile": profile, "chapter_seconds": seconds, "total_bytes": total,
        "predictions": len(predictions), "models": entries,
    }
    (tmp / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    if BUNDLE.exists():
        shutil.rmtree(BUNDLE)
    os.replace(tmp, BUNDLE)
    return manifest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--keep-cache", default=None,
                        help="use (and keep) this cache folder instead of a temporary one")
    args = parser.parse_args(argv)
    cache = Path(args.keep_cache) if args.keep_cache else Path(tempfile.mkdtemp(prefix="psl-ckpt-"))
    if (cache / "models").exists() and any((cache / "models").iterdir()) and not args.keep_cache:
        raise SystemExit(f"checkpoints: {cache} is not empty; expected an empty cache folder")
    seconds = run_chapters(args.profile, cache)
    manifest = write_bundle(cache, args.profile, seconds)
    print(f"wrote {len(manifest['models'])} checkpoints and {manifest['predictions']} prediction "
          f"files, {manifest['total_bytes'] / 2**20:.2f} MiB, "
          f"to {BUNDLE.relative_to(ROOT)}")
    if not args.keep_cache:
        shutil.rmtree(cache, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
