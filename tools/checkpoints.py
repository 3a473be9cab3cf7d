"""Write the small cpu-profile checkpoints the release ships (``make checkpoints``).

    python tools/checkpoints.py [--profile cpu] [--keep-cache DIR]
    python tools/checkpoints.py --rekey [--profile cpu]


Runs every chapter (book/*.ipynb, in order) under the profile with an empty model cache, then
copies every model the chapters trained into ``pixelsecurer_lib/checkpoints/models/`` and every
prediction they made with them into ``predictions/`` (with their checksums), and writes
``pixelsecurer_lib/checkpoints/MANIFEST.json``: which command, code version, date and machine
produced them, and what each one is. ``get_or_train`` uses a shipped
checkpoint only when its spec key matches exactly (same data, split, model, recipe,
seed and code version), so a chapter opened alone in Colab loads instead of training; any
other spec is trained as usual. tests/test_checkpoints.py retrains one and compares.

The data part of every key is the identity of the synthetic set (``data.reference``), which
holds on any CPU once the decoded pixels match the reference shipped beside the models
(``data/IDENTITY.npz``, written here). Models trained where the set was still keyed by its
bytes (no reference yet, e.g. after a new generator version) are re-keyed to it: the weights
are the same, only the name of the data in their spec changes (and with it their key, and the
keys of the models that name them as their original or prerequisite). ``--rekey`` does that
to the shipped bundle in place, and moves the stored results of the library
(``pixelsecurer_lib/stored``) that name the same bytes to the same key, recording it in their
provenance.
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
SHIPPED_CHECKPOINTS = ROOT / "pixelsecurer_lib" / "checkpoints"   # cache.SHIPPED_CHECKPOINTS
MAX_SHIPPED_BYTES = 16 * 2 ** 20          # a wheel people download in Colab stays small


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
    tmp = Path(tempfile.mkdtemp(prefix=".checkpoints-", dir=SHIPPED_CHECKPOINTS.parent))
    try:
        return _fill_bundle(tmp, cache, profile, seconds)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)      # gone after the rename, or after a failure


def raw_synthetic(profile: str):
    """The profile's synthetic set keyed by its bytes, and what defines it (seed, subjects,
    JPEG size)."""
    import pixelsecurer_lib as psl
    from pixelsecurer_lib.data import SYNTHETIC_SEED, synthetic_by_bytes

    config = psl.get_profile(profile).data
    return (synthetic_by_bytes(profile, progress=False),
            (SYNTHETIC_SEED, config.subjects, config.synth_size))


def rekey_bundle(bundle: Path, profile: str) -> dict:
    """Re-key the models and predictions in ``bundle`` from the synthetic set's bytes to its
    identity and write its reference there; what was done (for the MANIFEST)."""
    from pixelsecurer_lib import _io, cache as model_cache
    from pixelsecurer_lib.data.reference import REFERENCE_FOLDER, save_reference, synthetic_identity

    data, (seed, subjects, size) = raw_synthetic(profile)
    identity = synthetic_identity(seed, subjects, size, data.image_size)
    new_data = f"synthetic-{identity}"
    payloads = {}
    for path in sorted((bundle / "models").glob("*.pt")):
        payloads[path.stem] = _io.load_tensors(path, model_cache.MODEL_FORMAT)
    renamed = {}

    def rekey(old_key: str) -> str:
        """The new key of the model ``old_key`` (its references re-keyed first)."""
        if old_key in renamed:
            return renamed[old_key]
        payload = payloads[old_key]
        meta = json.loads(payload["meta"])
        spec = meta["spec"]
        if spec["data"] not in (data.fingerprint, new_data):
            raise SystemExit(f"checkpoints: model {old_key} was trained on data "
                             f"{spec['data']}, not on this synthetic set ({data.fingerprint})")
        spec["data"] = new_data
        if "original" in spec:
            spec["original"] = rekey(spec["original"])
        if "prerequisites" in spec:
            spec["prerequisites"] = {k: rekey(v) for k, v in spec["prerequisites"].items()}
        new_key = model_cache.spec_key(spec)
        renamed[old_key] = new_key
        if new_key != old_key:
            payload["meta"] = json.dumps(meta, default=float)
            _io.save_tensors(payload, bundle / "models" / f"{new_key}.pt")
            for old in (bundle / "models" / f"{old_key}.pt",
                        _io.checksum_path(bundle / "models" / f"{old_key}.pt")):
                old.unlink()
        return new_key

    for key in list(payloads):
        rekey(key)
    for path in sorted((bundle / "predictions").glob("*.npy")):
        model_key, images = path.stem.split("-", 1)
        new_key = renamed.get(model_key, model_key)
        if new_key != model_key:
            path.rename(path.with_name(f"{new_key}-{images}.npy"))
            _io.checksum_path(path).rename(_io.checksum_path(path.with_name(f"{new_key}-{images}.npy")))
    reference = save_reference(data, identity, bundle / REFERENCE_FOLDER)
    return {"key": new_data, "bytes_fingerprint": data.fingerprint,
            "reference": str(reference.relative_to(bundle)), "renamed": renamed}


def rekey_stored(bytes_fingerprint: str, new_key: str, profile: str) -> list:
    """Stored results of ``profile`` that name the synthetic set by its bytes, moved to its
    identity (their provenance records the move); the paths changed."""
    from pixelsecurer_lib import stored

    changed = []
    for kind in stored.KINDS:
        path = stored.stored_path(kind, profile)
        if not path.exists():
            continue
        payload = json.loads(path.read_text())
        if payload.get("config", {}).get("data_fingerprint") != bytes_fingerprint:
            continue
        payload["config"]["data_fingerprint"] = new_key
        payload["provenance"]["data_key_moved"] = {
            "from": bytes_fingerprint, "to": new_key, "command": "python tools/checkpoints.py --rekey",
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "why": "the synthetic set is keyed by what defines it once its pixels match the "
                   "release's reference; the results are those of the same images"}
        stored.save_stored(kind, profile, payload)
        changed.append(path)
    return changed


def rekey_shipped(profile: str) -> dict:
    """``--rekey``: the shipped bundle and stored results re-keyed in place (staged, then
    swapped)."""
    tmp = Path(tempfile.mkdtemp(prefix=".checkpoints-", dir=SHIPPED_CHECKPOINTS.parent))
    try:
        shutil.rmtree(tmp)
        shutil.copytree(SHIPPED_CHECKPOINTS, tmp)
        done = rekey_bundle(tmp, profile)
        manifest = json.loads((tmp / "MANIFEST.json").read_text())
        for entry in manifest["models"]:
            entry["key"] = done["renamed"].get(entry["key"], entry["key"])
        manifest["data"] = {k: v for k, v in done.items() if k != "renamed"}
        if any(old != new for old, new in done["renamed"].items()):
            manifest.setdefault("rekeyed", []).append({
                "command": "python tools/checkpoints.py --rekey",
                "from": done["bytes_fingerprint"], "to": done["key"],
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")})
        (tmp / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
        shutil.rmtree(SHIPPED_CHECKPOINTS)
        os.replace(tmp, SHIPPED_CHECKPOINTS)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    done["stored"] = [str(p) for p in rekey_stored(done["bytes_fingerprint"], done["key"], profile)]
    return done


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def cpu_model() -> str:
    """This machine's CPU model (``/proc/cpuinfo``): training reproduces a checkpoint bit for bit
    only on the same kind of CPU, with the same number of threads."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


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
    if total > MAX_SHIPPED_BYTES:
        raise SystemExit(f"checkpoints: {total / 2**20:.1f} MiB of models and predictions; "
                         f"expected at most {MAX_SHIPPED_BYTES / 2**20:.0f} MiB "
                         f"(is the profile {profile!r} right?)")
    data = rekey_bundle(tmp, profile)
    for entry in entries:
        entry["key"] = data["renamed"].get(entry["key"], entry["key"])
    manifest = {
        "command": f"make checkpoints (python tools/checkpoints.py --profile {profile})",
        "code_version": {"package": psl.__version__, "commit": _git("rev-parse", "HEAD"),
                         "training_code_version": model_cache.TRAINING_CODE_VERSION,
                         "uncommitted_changes": dirty},
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpu_model": cpu_model(), "cpus": os.cpu_count(),
                    "torch_threads": _torch_threads(), "python": platform.python_version()},
        "profile": profile, "chapter_seconds": seconds, "total_bytes": total,
        "predictions": len(predictions), "models": entries,
        "data": {k: v for k, v in data.items() if k != "renamed"},
    }
    (tmp / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    if SHIPPED_CHECKPOINTS.exists():
        shutil.rmtree(SHIPPED_CHECKPOINTS)
    os.replace(tmp, SHIPPED_CHECKPOINTS)
    return manifest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--keep-cache", default=None,
                        help="use (and keep) this cache folder instead of a temporary one")
    parser.add_argument("--rekey", action="store_true",
                        help="re-key the shipped bundle and stored results to the synthetic "
                             "set's identity (no training)")
    args = parser.parse_args(argv)
    if args.rekey:
        done = rekey_shipped(args.profile)
        moved = sum(old != new for old, new in done["renamed"].items())
        print(f"re-keyed {moved} of {len(done['renamed'])} shipped models to data {done['key']} "
              f"(was {done['bytes_fingerprint']}); reference {done['reference']}; stored results "
              f"moved: {', '.join(done['stored']) or 'none'}")
        return 0
    cache = Path(args.keep_cache) if args.keep_cache else Path(tempfile.mkdtemp(prefix="psl-ckpt-"))
    if (cache / "models").exists() and any((cache / "models").iterdir()) and not args.keep_cache:
        raise SystemExit(f"checkpoints: {cache} is not empty; expected an empty cache folder")
    seconds = run_chapters(args.profile, cache)
    manifest = write_bundle(cache, args.profile, seconds)
    print(f"wrote {len(manifest['models'])} checkpoints and {manifest['predictions']} prediction "
          f"files, {manifest['total_bytes'] / 2**20:.2f} MiB, "
          f"to {SHIPPED_CHECKPOINTS.relative_to(ROOT)}")
    if not args.keep_cache:
        shutil.rmtree(cache, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
