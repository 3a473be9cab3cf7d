"""The checkpoints the release ships (``make checkpoints``): where they come from, and that
training the same spec again on the CPU gives the same weights."""
import json
from pathlib import Path

import numpy as np
import torch

import pixelsecurer_lib as psl
from pixelsecurer_lib import _io, cache


def _manifest() -> dict:
    path = cache.SHIPPED_CHECKPOINTS / "MANIFEST.json"
    assert path.exists(), f"{path}: no shipped checkpoints (run `make checkpoints`)"
    return json.loads(path.read_text())


def test_the_release_ships_cpu_checkpoints_that_say_where_they_come_from():
    manifest = _manifest()
    assert manifest["profile"] == "cpu" and manifest["models"]
    assert {"command", "code_version", "date", "machine"} <= set(manifest)
    assert manifest["code_version"]["training_code_version"] == cache.TRAINING_CODE_VERSION
    for entry in manifest["models"]:
        path = cache.SHIPPED_CHECKPOINTS / "models" / f"{entry['key']}.pt"
        payload = _io.load_tensors(path, cache.MODEL_FORMAT)        # checksum and no pickle
        assert json.loads(payload["meta"])["spec"]["role"] == entry["role"]
    roles = {entry["role"] for entry in manifest["models"]}
    assert {"original", "retrain", "blindspot-model"} <= roles


def test_a_fresh_cache_loads_the_shipped_checkpoint_and_retraining_reproduces_it(
        tmp_path, monkeypatch):
    """Loading needs nothing but the data. Retraining with the switch off gives the same spec
    and, on this machine, the same weights twice; it gives the shipped weights bit for bit only
    on the kind of CPU that trained them (the MANIFEST names it): float rounding in training
    differs between CPU models, and two epochs of Adam carry such a difference far."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    from checkpoints import cpu_model

    entry = next(e for e in _manifest()["models"] if e["role"] == "blindspot-model")
    shipped = _io.load_tensors(cache.SHIPPED_CHECKPOINTS / "models" / f"{entry['key']}.pt",
                               cache.MODEL_FORMAT)["state_dict"]
    monkeypatch.setenv("PIXELSECURER_CACHE", str(tmp_path))
    ctx = psl.setup_chapter(profile="cpu", device="cpu", data_root="synthetic", progress=False,
                            verbose=False)
    loaded = ctx.blindspot_model(entry["forget"], seed=entry["seed"])
    assert loaded.from_cache and loaded.key == entry["key"]    # as in Colab: nothing trained
    assert loaded.shipped and loaded.path == cache.shipped_model_path(entry["key"])
    assert not (tmp_path / "models" / f"{entry['key']}.pt").exists()

    monkeypatch.setenv("PIXELSECURER_CHECKPOINTS", "off")      # as `make checkpoints` does
    retrained = ctx.blindspot_model(entry["forget"], seed=entry["seed"])
    assert not retrained.from_cache and not retrained.shipped
    assert retrained.path == tmp_path / "models" / f"{entry['key']}.pt"
    assert retrained.key == entry["key"]            # this machine's data and code give its spec
    machine = _manifest()["machine"]
    if machine.get("cpu_model") == cpu_model() and \
            machine.get("torch_threads") == torch.get_num_threads():
        reference = shipped                         # the CPU that trained them: bit for bit
    else:
        monkeypatch.setenv("PIXELSECURER_CACHE", str(tmp_path / "again"))
        again = ctx.blindspot_model(entry["forget"], seed=entry["seed"])
        assert not again.from_cache
        reference = {k: v.cpu() for k, v in again.model.state_dict().items()}
    for name, value in retrained.model.state_dict().items():
        assert torch.equal(value.cpu(), reference[name]), name


def test_shipped_predictions_are_what_the_shipped_models_predict(tmp_path, monkeypatch):
    manifest = _manifest()
    shipped = sorted((cache.SHIPPED_CHECKPOINTS / "predictions").glob("*.npy"))
    assert manifest["predictions"] == len(shipped) > 0
    monkeypatch.setenv("PIXELSECURER_CACHE", str(tmp_path))
    ctx = psl.setup_chapter(profile="cpu", device="cpu", data_root="synthetic", progress=False,
                            verbose=False)
    model = ctx.original()
    assert model.from_cache                                    # the shipped original
    forget = ctx.forget_set("age:0-30")
    loaded = ctx.predict(model, forget.forget)
    assert not list((tmp_path / "predictions").glob("*.npy"))  # read from the package
    monkeypatch.setenv("PIXELSECURER_CHECKPOINTS", "off")
    ctx._predictions.clear()
    computed = ctx.predict(model, forget.forget)
    np.testing.assert_allclose(loaded, computed, rtol=0, atol=1e-4)
