"""Models, profiles, devices, training determinism and the trained-model cache."""
import warnings

import numpy as np
import pytest
import torch

import pixelsecurer_lib as psl
from pixelsecurer_lib import cache
from pixelsecurer_lib.config import TrainingRecipe
from pixelsecurer_lib.models import AllCNN, ResNet18Regressor, build_model
from pixelsecurer_lib.training import choose_device, fit, inference_copy, predict


def test_allcnn_shapes_and_activations():
    model = AllCNN(width=0.125)
    out, acts = model.forward_with_activations(torch.zeros(2, 3, 32, 32))
    assert out.shape == (2,) and len(acts) == model.num_blocks == 8
    assert acts[2].shape[-1] == 16 and acts[5].shape[-1] == 8       # the two stride-2 blocks
    full = AllCNN(width=1.0)
    assert [b[0].out_channels for b in full.blocks] == [96, 96, 192, 192, 192, 192, 192, 192]


def test_resnet18_regressor_has_one_output_and_nine_activations():
    model = ResNet18Regressor().eval()
    out, acts = model.forward_with_activations(torch.zeros(1, 3, 32, 32))
    assert out.shape == (1,) and len(acts) == model.num_blocks == 9


@pytest.mark.parametrize("name", ["allcnn", "resnet18"])
def test_inference_copy_folds_batch_norm_without_changing_outputs(name):
    model = build_model(name, 0.25, seed=0)
    model.train()
    model(torch.randn(16, 3, 32, 32))                  # non-trivial running statistics
    model.eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
        fused = inference_copy(model)
        got = fused(x)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4)
    n_bn = lambda m: sum(isinstance(x, torch.nn.BatchNorm2d) for x in m.modules())  # noqa: E731
    assert n_bn(fused) < n_bn(model)                   # something was folded ...
    assert n_bn(model) == (8 if name == "allcnn" else 20)   # ... in the copy only


def test_bad_profile_model_and_device_names_list_the_choices(monkeypatch):
    with pytest.raises(ValueError, match="smoke, cpu, paper"):
        psl.get_profile("fast")
    monkeypatch.setenv("PIXELSECURER_PROFILE", "gpu")
    with pytest.raises(ValueError, match="unknown profile 'gpu'"):
        psl.get_profile()
    with pytest.raises(ValueError, match="allcnn, resnet18"):
        build_model("vgg")
    with pytest.raises(ValueError, match="auto, cpu, cuda, mps"):
        choose_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            choose_device("cuda")


def _train(data, indices, seed):
    torch.manual_seed(seed)
    model = build_model("allcnn", 0.125)
    recipe = TrainingRecipe(epochs=1, lr=0.01, batch_size=32, schedule="constant", crop_padding=4)
    fit(model, data, indices, recipe, seed=seed, device="cpu", init_output=True, progress=False)
    return predict(model, data, indices, device="cpu")


def test_same_seed_same_predictions_on_cpu(tiny_ctx):
    idx = tiny_ctx.split.train
    a, b = _train(tiny_ctx.data, idx, 1), _train(tiny_ctx.data, idx, 1)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, _train(tiny_ctx.data, idx, 2))


def test_prediction_has_no_augmentation(tiny_ctx):
    model = tiny_ctx.original().model
    idx = tiny_ctx.split.test
    assert np.array_equal(tiny_ctx.predict(model, idx), tiny_ctx.predict(model, idx))


def test_cache_returns_identical_model_for_identical_spec(tiny_ctx):
    first = tiny_ctx.original()
    second = tiny_ctx.original()
    assert second.from_cache and second.key == first.key
    for (k, v), (_, w) in zip(first.model.state_dict().items(), second.model.state_dict().items()):
        assert torch.equal(v.cpu(), w.cpu()), k
    assert second.seconds == pytest.approx(first.seconds)


def test_cache_retrains_on_any_change_of_spec(tiny_ctx):
    base = tiny_ctx.original()
    other_seed = tiny_ctx.original(seed=5)
    assert other_seed.key != base.key and not other_seed.from_cache
    retrained = tiny_ctx.retrained("age:0-30")
    assert retrained.key not in (base.key, other_seed.key)
    assert tiny_ctx.retrained("age:0-40").key != retrained.key


def test_corrupt_cached_model_is_detected_and_retrained(tiny_ctx):
    trained = tiny_ctx.retrained("age:0-25")
    path = cache.model_path(trained.spec)
    path.write_bytes(path.read_bytes()[:-50])                # truncate
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = tiny_ctx.retrained("age:0-25")
    assert not again.from_cache
    assert any("checksum mismatch" in str(w.message) for w in caught)
    assert tiny_ctx.retrained("age:0-25").from_cache           # and the new file is good


def test_mismatched_spec_in_cache_file_is_not_used(tiny_ctx):
    trained = tiny_ctx.retrained("age:0-35")
    path = cache.model_path(trained.spec)
    other = cache.model_path(tiny_ctx.retrained("age:0-45").spec)
    path.write_bytes(other.read_bytes())
    from pixelsecurer_lib._io import checksum_path

    checksum_path(path).write_text(checksum_path(other).read_text())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = tiny_ctx.retrained("age:0-35")
    assert not again.from_cache
    assert any("stored spec differs" in str(w.message) for w in caught)


def test_two_processes_asking_for_the_same_model_share_one_file(tiny_agedb, tmp_path):
    import subprocess
    import sys

    script = (
        "import pixelsecurer_lib as psl, sys\n"
        f"ctx = psl.setup_chapter(profile='smoke', device='cpu', data_root=r'{tiny_agedb}', "
        "progress=False, verbose=False)\n"
        "m = ctx.original(seed=11)\n"
        "print(m.key, m.from_cache)\n")
    env = dict(__import__("os").environ, PIXELSECURER_CACHE=str(tmp_path))
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outs[0][0] == outs[1][0]
    assert sorted(o[1] for o in outs) == ["False", "True"]     # one trained, the other loaded
    assert len(list((tmp_path / "models").glob("*.pt"))) == 1


def test_predictions_are_stored_and_reused_across_sessions(tiny_ctx, tiny_agedb):
    import pixelsecurer_lib as psl

    trained = tiny_ctx.original()
    first = tiny_ctx.predict(trained, tiny_ctx.split.test)
    other = psl.setup_chapter(profile="smoke", device="cpu", data_root=tiny_agedb,
                              progress=False, verbose=False)
    stored = list((psl.cache_dir() / "predictions").glob(f"{trained.key}-*.npy"))
    assert stored
    assert np.array_equal(other.predict(other.original(), tiny_ctx.split.test), first)


@pytest.mark.parametrize("n_images", [30, 100, 130, 260, 400, 520])
def test_one_cycle_schedule_works_for_any_number_of_steps(tiny_ctx, n_images):
    """A short run (1-5 steps) must not trip over the one-cycle schedule's warm-up."""
    idx = np.resize(tiny_ctx.split.train, n_images)
    model = build_model("allcnn", 0.125)
    recipe = TrainingRecipe(epochs=1, lr=0.01, batch_size=128, schedule="onecycle", crop_padding=4)
    history = fit(model, tiny_ctx.data, idx, recipe, seed=0, device="cpu", progress=False)
    assert len(history) == 1 and np.isfinite(history[0]["train_loss"])


def test_initial_weights_depend_on_the_seed_not_on_what_ran_before():
    torch.manual_seed(123)
    first = build_model("allcnn", 0.125, seed=4)
    torch.rand(1000)                                   # any other use of the global generator
    second = build_model("allcnn", 0.125, seed=4)
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)
    state = torch.get_rng_state()
    build_model("allcnn", 0.125, seed=5)
    assert torch.equal(state, torch.get_rng_state())   # the global state is left alone


def test_progress_bars_follow_the_static_build_unless_asked(tiny_agedb, monkeypatch):
    args = dict(profile="smoke", device="cpu", data_root=tiny_agedb, load_data=False, verbose=False)
    monkeypatch.setenv("PIXELSECURER_STATIC", "1")          # the HTML build: nobody watches bars
    assert not psl.interactive() and not psl.setup_chapter(**args).progress
    assert psl.setup_chapter(progress=True, **args).progress
    monkeypatch.delenv("PIXELSECURER_STATIC")               # a person in Jupyter or Colab
    assert psl.interactive() and psl.setup_chapter(**args).progress


def test_fit_takes_a_recipe_object_and_refuses_anything_else(tiny_ctx):
    model = build_model("allcnn", 0.125)
    with pytest.raises(ValueError, match="TrainingRecipe"):
        fit(model, tiny_ctx.data, tiny_ctx.split.train, {"epochs": 1}, seed=0)
