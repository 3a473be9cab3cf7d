"""The synthetic set's identity (pixelsecurer_lib.data.reference): shipped checkpoints load on
any CPU whose decoded pixels match the release's reference, and nowhere else."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pixelsecurer_lib as psl
from pixelsecurer_lib import cache
from pixelsecurer_lib.data import reference

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

# numpy's AVX-512 loops off (its dispatch targets of that family) and OpenBLAS's AVX-512 kernels
# off: what a CPU without AVX-512 computes (issue 24: 51 pixel values of 23 JPEGs differ)
WITHOUT_AVX512 = {"NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
                  "OPENBLAS_CORETYPE": "Haswell"}

CHECK = """
import json, pixelsecurer_lib as psl
from pixelsecurer_lib.data import ensure_synthetic, load_folder
ctx = psl.setup_chapter(profile="cpu", device="cpu", data_root="synthetic", progress=False,
                        verbose=False)
raw = load_folder(ensure_synthetic(568, 64, progress=False), image_size=32, source="synthetic",
                  progress=False)
original = ctx.original()
print(json.dumps({"key": ctx.data.fingerprint, "bytes": raw.fingerprint,
                  "shipped": original.shipped, "note": ctx.data.identity_note}))
"""


def test_the_set_generated_without_avx512_still_loads_the_shipped_original(tmp_path):
    manifest = cache.shipped_manifest()
    if not manifest or "data" not in manifest:
        pytest.skip("this checkout ships no checkpoints with a data reference")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXELSECURER_")}
    env.update(WITHOUT_AVX512, PIXELSECURER_CACHE=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["key"] == manifest["data"]["key"] and result["note"] is None
    assert result["shipped"], "the shipped original was not used: it would have been retrained"
    from numpy._core._multiarray_umath import __cpu_features__ as features

    if features.get("AVX512F"):                  # here the switches changed the bytes, too
        assert result["bytes"] != manifest["data"]["bytes_fingerprint"]


@pytest.fixture
def smoke_reference(tiny_ctx, tmp_path, monkeypatch):
    """A reference of the smoke profile's own synthetic set, shipped from ``tmp_path``."""
    from checkpoints import raw_synthetic

    monkeypatch.setattr(cache, "SHIPPED_CHECKPOINTS", tmp_path / "bundle")
    data, (seed, subjects, size) = raw_synthetic("smoke")
    identity = reference.synthetic_identity(seed, subjects, size, data.image_size)
    path = reference.save_reference(data, identity, tmp_path / "bundle" / reference.REFERENCE_FOLDER)
    return data, identity, path


def test_a_set_within_the_tolerance_is_keyed_by_its_identity(smoke_reference):
    data, identity, _ = smoke_reference
    nudged = data.images.clone()
    nudged[3, 0, 5, 5] = min(255, int(nudged[3, 0, 5, 5]) + 1)     # one level, one pixel
    same = reference.identify(_with_images(data, nudged), 0, 40, 32)
    assert same.fingerprint == f"synthetic-{identity}" and same.identity_note is None


@pytest.mark.parametrize("change, reason", [("pixels", "its pixels differ"),
                                            ("ages", "file names or ages differ")])
def test_another_set_keeps_its_byte_key_and_says_why(smoke_reference, change, reason):
    data, identity, _ = smoke_reference
    if change == "pixels":
        positions = reference._positions(data.image_size)
        images = data.images.clone().reshape(len(data), -1)
        images[7, positions[0]] = (int(images[7, positions[0]]) + 40) % 256
        other = _with_images(data, images.reshape(data.images.shape))
    else:
        other = _with_images(data, data.images)
        other.ages = other.ages.copy()
        other.ages[0] += 1
    result = reference.identify(other, 0, 40, 32)
    assert result.fingerprint == data.fingerprint            # the bytes, as for real AgeDB
    assert reason in result.identity_note


def test_the_setup_line_says_when_the_shipped_checkpoints_do_not_apply(tiny_ctx):
    tiny_ctx.data.identity_note = "this synthetic set is not the one ...: its pixels differ"
    try:
        line = tiny_ctx.describe()
    finally:
        tiny_ctx.data.identity_note = None
    assert "do not apply" in line and "trained here" in line


def test_make_checkpoints_rekeys_models_trained_on_the_bytes(tmp_path, monkeypatch):
    """Models keyed by the set's bytes, re-keyed to its identity (their references too), load
    from the bundle in a fresh cache: what `make checkpoints` and `--rekey` rely on."""
    from checkpoints import rekey_bundle

    monkeypatch.setattr(cache, "SHIPPED_CHECKPOINTS", tmp_path / "bundle")   # none yet
    monkeypatch.setenv("PIXELSECURER_CACHE", str(tmp_path / "trained"))
    ctx = psl.setup_chapter(profile="smoke", device="cpu", data_root="synthetic",
                            progress=False, verbose=False)
    assert not ctx.data.fingerprint.startswith("synthetic-")          # no reference: bytes
    trained = ctx.unlearned("finetune", "age:0-30")
    fs = ctx.forget_set("age:0-30")
    ctx.predict(trained, fs.forget)
    bundle = tmp_path / "bundle"
    for part in ("models", "predictions"):
        shutil.copytree(tmp_path / "trained" / part, bundle / part)
    done = rekey_bundle(bundle, "smoke")
    assert done["key"].startswith("synthetic-") and len(done["renamed"]) == 2
    assert all(old != new for old, new in done["renamed"].items())

    monkeypatch.setenv("PIXELSECURER_CACHE", str(tmp_path / "student"))
    student = psl.setup_chapter(profile="smoke", device="cpu", data_root="synthetic",
                                progress=False, verbose=False)
    assert student.data.fingerprint == done["key"]
    loaded = student.unlearned("finetune", "age:0-30")
    assert loaded.shipped and loaded.key == done["renamed"][trained.key]
    assert loaded.spec["original"] == done["renamed"][trained.spec["original"]]
    assert np.array_equal(student.predict(loaded, fs.forget), ctx.predict(trained, fs.forget))
    assert not (tmp_path / "student" / "predictions").exists() or not any(
        (tmp_path / "student" / "predictions").iterdir())            # shipped: not predicted


def _with_images(data, images):
    import dataclasses

    return dataclasses.replace(data, images=images)
