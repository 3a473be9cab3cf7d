"""The cache can be trusted: nothing in it runs code, nothing stale or edited is used, and every
file-system fault is one clear sentence (a Colab Drive folder or a copied cache must never run code)."""
import errno
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import pixelsecurer_lib as psl
from pixelsecurer_lib import _io, cache
from pixelsecurer_lib.data import agedb, load_folder

from conftest import write_tiny_agedb


class _RunsCode:
    """A pickle payload that would create ``marker`` if anything ever unpickled it freely."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def _plant(path: Path, payload) -> None:
    """Replace ``path`` by ``payload`` (pickled by torch.save) with a VALID checksum beside it,
    as someone who can write the cache folder could."""
    torch.save(payload, path)
    _io.checksum_path(path).write_text(_io.sha256_file(path) + "\n")


def _caught(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn()
    return result, [str(w.message) for w in caught]


def test_planted_code_in_a_cached_model_never_runs(tiny_ctx, tmp_path):
    trained = tiny_ctx.retrained("age:0-22")
    marker = tmp_path / "ran.txt"
    path = cache.model_path(trained.spec)
    _plant(path, {"format": cache.MODEL_FORMAT, "meta": _RunsCode(marker), "state_dict": {}})
    again, messages = _caught(lambda: tiny_ctx.retrained("age:0-22"))
    assert not marker.exists()                       # the payload did not execute
    assert not again.from_cache                      # it was treated as corrupt: retrained
    assert any("ignoring cached model" in m for m in messages)
    for (k, v), w in zip(trained.model.state_dict().items(), again.model.state_dict().values()):
        assert torch.equal(v.cpu(), w.cpu()), k      # and the retrained weights are the same


def test_planted_code_in_the_image_cache_never_runs(tmp_path):
    folder = write_tiny_agedb(tmp_path / "db", per_subject=2)
    first = load_folder(folder, image_size=16, progress=False)
    path = next((agedb.cache_dir() / "tensors").glob(f"{first.fingerprint}-16px*.pt"))
    marker = tmp_path / "ran.txt"
    _plant(path, {"format": agedb.IMAGES_FORMAT, "images": _RunsCode(marker), "filenames": []})
    again, messages = _caught(lambda: load_folder(folder, image_size=16, progress=False))
    assert not marker.exists()
    assert any("ignoring decoded images" in m for m in messages)
    assert torch.equal(again.images, first.images)


def test_a_payload_of_the_wrong_structure_is_corrupt_not_a_traceback(tiny_ctx):
    trained = tiny_ctx.retrained("age:0-23")
    path = cache.model_path(trained.spec)
    _plant(path, {"format": cache.MODEL_FORMAT, "meta": "[1, 2]", "state_dict": [1, 2]})
    again, messages = _caught(lambda: tiny_ctx.retrained("age:0-23"))
    assert not again.from_cache and any("not a stored model" in m for m in messages)


def _stored_predictions(ctx, trained):
    return list((psl.cache_dir() / "predictions").glob(f"{trained.key}-*.npy"))


@pytest.mark.parametrize("damage", ["empty", "edited", "edited-with-checksum", "wrong-length",
                                    "pickled"])
def test_a_damaged_prediction_file_is_recomputed_with_a_warning(tiny_agedb, tmp_path, damage,
                                                                monkeypatch):
    monkeypatch.setenv("PIXELSECURER_CACHE", str(tmp_path / "cache"))
    ctx = psl.setup_chapter(profile="smoke", device="cpu", data_root=tiny_agedb, progress=False,
                            verbose=False)
    trained = ctx.original()
    truth = ctx.predict(trained, ctx.split.test)
    (path,) = _stored_predictions(ctx, trained)
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "edited":                        # right shape, other values, old checksum
        np.save(path, truth + 10.0)
    elif damage == "edited-with-checksum":          # values that are not finite
        np.save(path, np.full_like(truth, np.nan))
        _io.checksum_path(path).write_text(_io.sha256_file(path) + "\n")
    elif damage == "wrong-length":
        np.save(path, truth[:-1])
        _io.checksum_path(path).write_text(_io.sha256_file(path) + "\n")
    else:
        marker = tmp_path / "ran.txt"
        np.save(path, np.array([_RunsCode(marker)], dtype=object), allow_pickle=True)
        _io.checksum_path(path).write_text(_io.sha256_file(path) + "\n")
    fresh = psl.setup_chapter(profile="smoke", device="cpu", data_root=tiny_agedb,
                              progress=False, verbose=False)
    again, messages = _caught(lambda: fresh.predict(fresh.original(), ctx.split.test))
    assert np.array_equal(again, truth)
    assert any("ignoring cached predictions" in m for m in messages), messages
    assert not (tmp_path / "ran.txt").exists()
    # the recomputed file is good again: a third session loads it silently
    third = psl.setup_chapter(profile="smoke", device="cpu", data_root=tiny_agedb,
                              progress=False, verbose=False)
    _, messages = _caught(lambda: third.predict(third.original(), ctx.split.test))
    assert not messages


def _replace_keeping_size(path: Path) -> None:
    """Write another picture into ``path`` with exactly the same number of bytes."""
    from PIL import Image

    size = path.stat().st_size
    with Image.open(path) as img:
        inverted = Image.fromarray(255 - np.asarray(img.convert("RGB")))
    for quality in range(95, 5, -5):
        tmp = path.with_suffix(".tmp.jpg")
        inverted.save(tmp, format="JPEG", quality=quality)
        data = tmp.read_bytes()
        tmp.unlink()
        if len(data) <= size:
            path.write_bytes(data + b"\0" * (size - len(data)))   # JPEG readers stop at EOI
            return
    raise AssertionError("could not make a same-size replacement")


def test_an_image_replaced_by_another_of_the_same_size_is_decoded_again(tmp_path, monkeypatch):
    monkeypatch.setenv("PIXELSECURER_CACHE", str(tmp_path / "cache"))
    folder = write_tiny_agedb(tmp_path / "db", per_subject=4)
    ctx = psl.setup_chapter(profile="smoke", device="cpu", data_root=folder, progress=False,
                            verbose=False)
    before = ctx.original()
    victim = sorted(folder.glob("*.jpg"))[5]
    size = victim.stat().st_size
    _replace_keeping_size(victim)
    assert victim.stat().st_size == size
    fresh = psl.setup_chapter(profile="smoke", device="cpu", data_root=folder, progress=False,
                              verbose=False)
    assert fresh.data.fingerprint != ctx.data.fingerprint
    i = list(fresh.data.filenames).index(victim.name)
    assert not torch.equal(fresh.data.images[i], ctx.data.images[i])     # new pixels
    after = fresh.original()
    assert after.key != before.key and not after.from_cache              # a fresh model


def _world_readable_copy(src: Path) -> Path:
    root = Path(tempfile.mkdtemp(prefix="psl-ro-"))
    os.chmod(root, 0o755)
    shutil.copytree(src, root / "AgeDB")
    return root


def _make_read_only(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) | stat.S_IROTH |
                   (stat.S_IXOTH if path.is_dir() else 0))


CHECKOUT = Path(__file__).resolve().parents[1]
# What lets root read and write any file whatever its mode (and change that mode).
PERMISSION_BYPASS = "-dac_override,-dac_read_search,-fowner"


def _as_unprivileged(cmd):
    """Run ``cmd`` so that a read-only folder refuses its writes (root ignores permissions),
    while it can still read this checkout and its .venv wherever they are, a clone inside a
    0700 folder included (a stranger such as uid 65534 cannot even start the .venv's Python
    there): as the checkout's owner, and when that is root, as root without the capabilities
    that bypass permissions."""
    if os.geteuid() != 0:
        return cmd
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a read-only folder cannot be shown")
    owner = CHECKOUT.stat()
    if owner.st_uid != 0:
        return [setpriv, f"--reuid={owner.st_uid}", f"--regid={owner.st_gid}", "--clear-groups", *cmd]
    return [setpriv, f"--bounding-set={PERMISSION_BYPASS}", *cmd]


def test_the_unprivileged_run_cannot_write_a_read_only_folder_yet_reads_the_checkout(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    _make_read_only(folder)
    probe = (f"import os, pathlib; pathlib.Path({str(CHECKOUT / 'pyproject.toml')!r}).read_bytes(); "
             f"print(os.access({str(folder)!r}, os.W_OK))")
    done = subprocess.run(_as_unprivileged([sys.executable, "-c", probe]), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_a_read_only_cache_that_holds_every_model_simply_works(tiny_agedb):
    root = _world_readable_copy(tiny_agedb)
    cache_folder = root / "cache"
    script = (
        "import pixelsecurer_lib as psl\n"
        f"ctx = psl.setup_chapter(profile='smoke', device='cpu', data_root=r'{root / 'AgeDB'}', "
        "progress=False, verbose=False)\n"
        "m = ctx.unlearned('blindspot', 'age:0-30')\n"
        "p = ctx.predict(m, ctx.split.test)\n"
        "print('loaded', m.from_cache, len(p))\n")
    home = root / "home"                   # the one folder the other user may write
    home.mkdir()
    home.chmod(0o777)
    env = dict(os.environ, PIXELSECURER_CACHE=str(cache_folder), HOME=str(home),
               MPLCONFIGDIR=str(home))
    first = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    _make_read_only(cache_folder)
    again = subprocess.run(_as_unprivileged([sys.executable, "-W", "error", "-c", script]),
                           env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr       # no lock file, no write, no warning
    assert again.stdout.split()[:2] == ["loaded", "True"]
    # a model that is not there yet cannot be stored: one line naming the cache folder
    cli = [sys.executable, "-m", "pixelsecurer_lib.cli", "experiment", "--profile", "smoke",
           "--data", str(root / "AgeDB"), "--forget", "age:0-40", "--methods", "original",
           "--quiet", "--device", "cpu"]
    missing = subprocess.run(_as_unprivileged(cli), env=env, capture_output=True, text=True)
    assert missing.returncode == 2
    err = missing.stderr.strip()
    assert len(err.splitlines()) == 1 and str(cache_folder) in err and "writable" in err, err


@pytest.mark.parametrize("failure", ["oserror", "torch-zip-writer"])
def test_a_full_disk_during_a_save_is_one_sentence_and_keeps_the_model(tiny_ctx, monkeypatch,
                                                                       tmp_path, failure):
    """The save fails part-way (as an OSError, or as the RuntimeError of torch's zip writer):
    one sentence, nothing half-written, and the trained model is used for the rest of the run."""
    def full_disk(obj, path):
        Path(path).write_bytes(b"partial")
        if failure == "oserror":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")

    real_save, real_free = _io.torch.save, _io._free_bytes
    monkeypatch.setenv("PIXELSECURER_CACHE", str(tmp_path))
    monkeypatch.setattr(_io.torch, "save", full_disk)
    monkeypatch.setattr(_io, "_free_bytes", lambda folder: 0)          # the disk is full
    with pytest.warns(UserWarning) as caught:
        first = tiny_ctx.retrained("age:0-21")
    message = next(str(w.message) for w in caught if "not cached" in str(w.message))
    assert "disk is full" in message and "models" in message and len(message.splitlines()) == 1
    assert not first.from_cache and first.path is None
    models = psl.cache_dir() / "models"
    assert not list(models.glob("*.tmp")) and not list(models.glob(".*.tmp"))
    assert tiny_ctx.retrained("age:0-21") is first             # kept in memory: not trained again
    tiny_ctx._in_memory.clear()
    monkeypatch.setattr(_io.torch, "save", real_save)
    monkeypatch.setattr(_io, "_free_bytes", real_free)
    fresh = psl.setup_chapter(profile="smoke", device="cpu", data_root=tiny_ctx.data_root,
                              progress=False, verbose=False)
    assert not fresh.retrained("age:0-21").from_cache          # nothing half-written was kept


def test_a_really_full_disk_ends_the_experiment_normally_with_one_line_warnings(
        tiny_agedb, tmp_path):
    """A tmpfs that is nearly full as the cache: decoded images, models and predictions cannot
    be stored; the experiment still finishes, with its results."""
    disk = tmp_path / "small-disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs",
                                            str(disk)], capture_output=True).returncode != 0:
        pytest.skip("needs root and mount to make a small disk (CI has both)")
    try:
        (disk / "filler").write_bytes(b"\0" * (380 * 1024))
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIXELSECURER_")}
        env.update(PIXELSECURER_CACHE=str(disk / "cache"), PYTHONWARNINGS="default")
        proc = subprocess.run([sys.executable, "-m", "pixelsecurer_lib.cli", "experiment",
                               "--data", str(tiny_agedb), "--profile", "smoke", "--forget",
                               "age:0-30", "--methods", "original,retrain", "--quiet",
                               "--json", str(tmp_path / "out.json")],
                              env=env, capture_output=True, text=True, timeout=600)
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert "Traceback" not in proc.stderr and "inline_container" not in proc.stderr
    assert "not cached" in proc.stderr and "disk is full" in proc.stderr
    assert len(json.loads((tmp_path / "out.json").read_text())["results"]) == 2


def test_a_cache_path_that_is_a_file_is_refused_in_one_line(tmp_path):
    blocker = tmp_path / "cache-file"
    blocker.write_text("not a folder")
    env = dict(os.environ, PIXELSECURER_CACHE=str(blocker))
    proc = subprocess.run([sys.executable, "-m", "pixelsecurer_lib.cli", "experiment",
                           "--profile", "smoke", "--forget", "age:0-30", "--quiet"],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and str(blocker) in err and "expected a folder" in err


def test_setup_chapter_cache_argument_moves_the_cache(tiny_agedb, tmp_path, monkeypatch):
    monkeypatch.setenv("PIXELSECURER_CACHE", str(tmp_path / "default"))
    drive = tmp_path / "drive" / "pixelsecurer"          # stands in for a Google Drive folder
    ctx = psl.setup_chapter(profile="smoke", device="cpu", data_root=tiny_agedb, progress=False,
                            verbose=False, cache=drive)
    ctx.original()
    assert list((drive / "models").glob("*.pt")) and psl.cache_dir() == drive
    stored = next((drive / "models").glob("*.pt"))
    with pytest.raises(ValueError, match="is a file; expected a folder"):
        psl.setup_chapter(load_data=False, verbose=False, cache=stored)


def test_every_stored_file_is_loaded_without_pickle():
    """A guard for the future: no loader in the library may allow pickle."""
    root = Path(psl.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        assert "weights_only=False" not in text, path
        assert "allow_pickle=True" not in text, path
        assert "pickle.load" not in text, path


def test_a_shipped_checkpoint_serves_only_its_exact_spec_and_retraining_reproduces_it(
        tiny_agedb, tmp_path, monkeypatch):
    def fresh_context(cache_name):
        monkeypatch.setenv("PIXELSECURER_CACHE", str(tmp_path / cache_name))
        return psl.setup_chapter(profile="smoke", device="cpu", data_root=tiny_agedb,
                                 progress=False, verbose=False)

    trained = fresh_context("maker").original(seed=3)
    bundle = tmp_path / "bundle" / "models"
    bundle.mkdir(parents=True)
    for path in (cache.model_path(trained.spec), _io.checksum_path(cache.model_path(trained.spec))):
        shutil.copy(path, bundle / path.name)
    monkeypatch.setattr(cache, "SHIPPED_CHECKPOINTS", bundle.parent)
    student = fresh_context("student")                  # an empty cache, as in a fresh Colab
    shipped = student.original(seed=3)
    assert shipped.from_cache and shipped.key == trained.key
    assert not student.original(seed=4).from_cache      # another spec is trained, not borrowed
    monkeypatch.setattr(cache, "SHIPPED_CHECKPOINTS", tmp_path / "no-bundle")
    again = fresh_context("again").original(seed=3)     # retrained from scratch
    assert not again.from_cache
    for (k, v), w in zip(shipped.model.state_dict().items(), again.model.state_dict().values()):
        assert torch.equal(v.cpu(), w.cpu()), k


def test_a_model_trained_again_gets_fresh_predictions(tiny_agedb, tmp_path, monkeypatch):
    """Issue 26: a damaged model file is trained again, possibly to other weights (another
    thread count, another CPU); the predictions cached for the model it replaces must go."""
    monkeypatch.setenv("PIXELSECURER_CACHE", str(tmp_path))
    ctx = psl.setup_chapter(profile="smoke", device="cpu", data_root=tiny_agedb, progress=False,
                            verbose=False)
    first = ctx.retrained("age:0-30")
    test = ctx.split.test
    ctx.predict(first, test)
    (cached,) = (tmp_path / "predictions").glob(f"{first.key}-*.npy")
    _io.save_array(np.full(len(test), 999.0, dtype=np.float32), cached)   # "the old model's"
    first.path.write_bytes(first.path.read_bytes()[:200])                # damaged
    fresh = psl.setup_chapter(profile="smoke", device="cpu", data_root=tiny_agedb,
                              progress=False, verbose=False)
    with pytest.warns(UserWarning, match="retraining"):
        second = fresh.retrained("age:0-30")
    assert not second.from_cache and second.key == first.key
    predicted = fresh.predict(second, test)
    assert not np.any(predicted == 999.0)
    assert np.allclose(predicted, fresh.predict(second.model, test), atol=1e-4)


def test_a_writer_killed_mid_save_leaves_nothing_that_stays(tiny_agedb, tmp_path, monkeypatch):
    """Issue 26: kill -9 during a save leaves a hidden temporary file; the next writer of the
    same model removes it."""
    monkeypatch.setenv("PIXELSECURER_CACHE", str(tmp_path))
    ctx = psl.setup_chapter(profile="smoke", device="cpu", data_root=tiny_agedb, progress=False,
                            verbose=False)
    trained = ctx.retrained("age:0-25")
    leftover = trained.path.with_name(f".{trained.path.name}.abc123.tmp")
    leftover.write_bytes(b"half a model")
    trained.path.unlink()
    again = psl.setup_chapter(profile="smoke", device="cpu", data_root=tiny_agedb,
                              progress=False, verbose=False).retrained("age:0-25")
    assert not again.from_cache and not leftover.exists()


def test_a_legal_long_file_name_is_written(tmp_path):
    target = tmp_path / ("r" * 248 + ".json")                     # 253 characters: legal
    with _io.atomic_path(target) as tmp:
        tmp.write_text("{}")
    assert target.read_text() == "{}"
