"""Each unlearning method's defining behaviour, on the smoke profile."""
import re

import numpy as np
import pytest
import torch

from pixelsecurer_lib import unlearning
from pixelsecurer_lib.unlearning import amnesiac, blindspot, configured
from pixelsecurer_lib.metrics import mean_ci95, membership_inference, w1

FORGET = "age:0-30"


def run(ctx, name, original, forget_set, **hyperparameters):
    """The model a registered method makes, outside the cache: its prerequisites trained first,
    then ``Method.train`` (what ``ChapterContext.unlearned`` does, minus the cache)."""
    method = configured(name, ctx.profile, **hyperparameters)
    needed = {p.argument: p.train(ctx.data, forget_set, ctx.profile, 0, "cpu", False)
              for p in method.prerequisites()}
    model, _ = method.train(original, ctx.data, ctx.split, forget_set, ctx.profile, seed=0,
                            device="cpu", progress=False, **needed)
    return model


def test_unknown_method_lists_valid_names():
    with pytest.raises(ValueError, match=", ".join(unlearning.names())):
        configured("magic", None)


def test_retrain_never_sees_the_forget_set(tiny_ctx, monkeypatch):
    from pixelsecurer_lib import training

    seen = []
    real_fit = training.fit

    def spy(model, data, indices, recipe, **kw):
        seen.append(np.asarray(indices).copy())
        return real_fit(model, data, indices, recipe, **kw)

    monkeypatch.setattr(training, "fit", spy)
    fs = tiny_ctx.forget_set(FORGET)
    run(tiny_ctx, "retrain", None, fs)
    assert seen and not set(np.concatenate(seen)) & set(fs.forget)


@pytest.mark.parametrize("name", unlearning.names())
def test_counted_training_images_match_what_each_method_trains_on(tiny_ctx, monkeypatch, name):
    from pixelsecurer_lib import training
    from pixelsecurer_lib.unlearning import cost_ratio, training_images

    original = tiny_ctx.original().model       # trained (or loaded) before the spy goes in
    counted = []
    real_fit = training.fit

    def spy(model, data, indices, recipe, **kw):
        counted.append(len(indices) * recipe.epochs)
        return real_fit(model, data, indices, recipe, **kw)

    monkeypatch.setattr(training, "fit", spy)
    fs = tiny_ctx.forget_set(FORGET)
    run(tiny_ctx, name, original, fs)
    assert sum(counted) == training_images(name, tiny_ctx.profile, len(fs.forget), len(fs.retain))
    assert cost_ratio("retrain", tiny_ctx.profile, 5, 7) == 1.0


def test_the_forget_set_knows_d_and_its_mask(tiny_ctx):
    fs = tiny_ctx.forget_set(FORGET)
    assert np.array_equal(fs.train[:len(fs.forget)], fs.forget)
    assert sorted(fs.train) == sorted(tiny_ctx.split.train)
    mask = fs.mask(len(tiny_ctx.data))
    assert mask.sum() == len(fs.forget) and mask[fs.forget].all() and not mask[fs.retain].any()
    with pytest.raises(ValueError, match="mask size 3"):
        fs.mask(3)


def test_gaussian_labels_follow_the_stated_distribution_and_stay_in_range(tiny_ctx):
    fs = tiny_ctx.forget_set("random:0.5")
    targets = amnesiac.gaussian_labels(tiny_ctx.data, fs, seed=0)
    train = np.concatenate([fs.forget, fs.retain])
    ages = tiny_ctx.data.ages
    assert np.array_equal(targets[fs.retain], ages[fs.retain])          # retain labels untouched
    draws = targets[fs.forget]
    assert draws.min() >= 0 and draws.max() <= 101
    unclipped = amnesiac.gaussian_labels(tiny_ctx.data, fs, seed=0, clip=False)[fs.forget]
    # the draws come from N(mean, sd) of the training ages: compare with a large seeded sample
    big = np.random.default_rng(0).normal(ages[train].mean(), ages[train].std(ddof=1), 20000)
    assert abs(unclipped.mean() - big.mean()) < 4 * big.std() / np.sqrt(len(unclipped))
    assert not np.array_equal(draws, ages[fs.forget])


def test_blindspot_attention_map_is_unit_norm():
    a = torch.randn(4, 6, 8, 8)
    at = blindspot.attention_map(a)
    assert at.shape == (4, 64) and torch.allclose(at.norm(dim=1), torch.ones(4))
    assert blindspot.attention_loss([a], [a], lam=50, k=1).item() == 0


def test_blindspot_loss_mixes_by_forget_share(tiny_ctx):
    model = tiny_ctx.original().model.cpu()
    blind = blindspot.train_blindspot_model(tiny_ctx.data, tiny_ctx.forget_set(FORGET),
                                            tiny_ctx.profile, device="cpu", progress=False)
    x = torch.randn(8, 3, 32, 32)
    y = torch.full((8,), 50.0)
    flags = torch.tensor([True, True, False, False, False, False, False, False])
    parts = blindspot.blindspot_loss(model, blind, x, y, flags, lam=50.0, k=None)
    expected = 0.75 * parts["L_r"] + 0.25 * (parts["L_f"] + parts["L_attn"])
    assert torch.isclose(parts["loss"], expected)
    none = blindspot.blindspot_loss(model, blind, x, y, torch.zeros(8, dtype=torch.bool), 50.0, None)
    assert torch.isclose(none["loss"], none["L_r"])
    # B runs on the forget samples only; in eval mode that equals running it on the whole batch
    model.eval()
    parts = blindspot.blindspot_loss(model, blind, x, y, flags, lam=50.0, k=None)
    with torch.no_grad():
        out, acts = model.forward_with_activations(x)
        b_out, b_acts = blind.forward_with_activations(x)
    assert torch.isclose(parts["L_f"], (out[flags] - b_out[flags]).abs().mean(), atol=1e-5)
    full_attn = blindspot.attention_loss([a[flags] for a in acts], [a[flags] for a in b_acts], 50.0, None)
    assert torch.isclose(parts["L_attn"], full_attn, rtol=1e-4, atol=1e-6)


def test_blindspot_moves_forget_predictions_toward_b_and_keeps_retain(tiny_ctx):
    fs = tiny_ctx.forget_set(FORGET)
    original = tiny_ctx.original().model
    blind = blindspot.train_blindspot_model(tiny_ctx.data, fs, tiny_ctx.profile, device="cpu",
                                            progress=False)
    method = configured("blindspot", tiny_ctx.profile, epochs=8, lr=0.01)
    unlearned, _ = method.train(original, tiny_ctx.data, tiny_ctx.split, fs, tiny_ctx.profile,
                                seed=0, device="cpu", progress=False, blind=blind)
    p = lambda m, idx: tiny_ctx.predict(m, idx)  # noqa: E731
    before = np.abs(p(original, fs.forget) - p(blind, fs.forget)).mean()
    after = np.abs(p(unlearned, fs.forget) - p(blind, fs.forget)).mean()
    assert after < before
    retain_shift = np.abs(p(unlearned, fs.retain) - p(original, fs.retain)).mean()
    forget_shift = np.abs(p(unlearned, fs.forget) - p(original, fs.forget)).mean()
    assert retain_shift < forget_shift + 1e-6 or retain_shift < 5.0


@pytest.mark.parametrize("kwargs, fragment", [({"lam": -1}, "lam=-1: expected a number >= 0"),
                                              ({"k": 9}, "from 1 to 8"), ({"k": 0}, ">= 1")])
def test_blindspot_refuses_bad_hyperparameters(tiny_ctx, kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        configured("blindspot", tiny_ctx.profile, **kwargs).train(
            tiny_ctx.original().model, tiny_ctx.data, tiny_ctx.split, tiny_ctx.forget_set(FORGET),
            tiny_ctx.profile, seed=0, progress=False, blind=None)


@pytest.mark.parametrize("method", [m for m in unlearning.names(edits_original=True)
                                    if m != "blindspot"])      # Blindspot: tested above
def test_each_method_changes_the_model_and_is_cached(tiny_ctx, method):
    fs = tiny_ctx.forget_set(FORGET)
    trained = tiny_ctx.unlearned(method, fs)
    assert trained.seconds > 0
    before = tiny_ctx.predict(tiny_ctx.original(), fs.forget)
    after = tiny_ctx.predict(trained, fs.forget)
    assert not np.allclose(before, after)
    assert tiny_ctx.unlearned(method, fs).from_cache


def test_neggrad_raises_forget_error_more_than_retain_error(tiny_ctx):
    fs = tiny_ctx.forget_set(FORGET)
    orig = tiny_ctx.original().model
    ng = run(tiny_ctx, "neggrad", orig, fs, epochs=5, lr=0.01)
    ages = tiny_ctx.data.ages
    err = lambda m, idx: np.abs(tiny_ctx.predict(m, idx) - ages[idx]).mean()  # noqa: E731
    assert err(ng, fs.forget) - err(orig, fs.forget) > err(ng, fs.retain) - err(orig, fs.retain)


def test_w1_and_confidence_interval():
    assert w1([0, 1, 2], [0, 1, 2]) == 0
    assert w1([0, 0], [3, 3]) == pytest.approx(3)
    with pytest.raises(ValueError):
        w1([], [1])
    ci = mean_ci95([1.0, 2.0, 3.0])
    assert ci["mean"] == 2 and ci["ci95"] == pytest.approx(4.303 * 1 / np.sqrt(3), rel=1e-3)


def test_membership_attack_separates_low_from_high_losses():
    rng = np.random.default_rng(0)
    members, nonmembers = rng.exponential(1, 500), rng.exponential(10, 500)
    attack = membership_inference(members, nonmembers, target_losses=rng.exponential(1, 200))
    assert attack["auc"] > 0.8 and attack["member_rate"] > 0.6
    far = membership_inference(members, nonmembers, target_losses=rng.exponential(10, 200))
    assert far["member_rate"] < attack["member_rate"]


def test_default_hyperparameters_share_one_cached_model(tiny_ctx):
    fs = tiny_ctx.forget_set(FORGET)
    plain = tiny_ctx.unlearned("amnesiac", fs)
    hp = amnesiac.Hyperparameters.from_profile(tiny_ctx.profile)
    same = tiny_ctx.unlearned("amnesiac", fs, epochs=float(hp.epochs), lr=hp.lr)   # 1.0 is 1
    assert same.key == plain.key and same.from_cache
    with pytest.raises(ValueError, match="has no hyperparameter gamma"):
        tiny_ctx.unlearned("amnesiac", fs, gamma=1.0)


def test_test_set_predictions_are_the_two_test_parts_put_back(tiny_ctx):
    from pixelsecurer_lib.experiment import predictions_on_parts

    original = tiny_ctx.original()
    preds = predictions_on_parts(tiny_ctx, original, FORGET)
    direct = tiny_ctx.predict(original.model, tiny_ctx.split.test)     # no cache involved
    assert np.allclose(preds["test"], direct, atol=1e-4)


def test_every_method_declares_its_defaults(tiny_ctx):
    from pixelsecurer_lib.unlearning import hyperparameters

    assert hyperparameters("blindspot", tiny_ctx.profile).lam == 50.0             # reference
    assert hyperparameters("finetune", tiny_ctx.profile).epochs == \
        tiny_ctx.profile.settings_of("finetune")["epochs"]                       # the profile's
    assert hyperparameters("retrain", tiny_ctx.profile).to_dict() == {}
    with pytest.raises(ValueError, match="unknown method"):
        hyperparameters("magic", tiny_ctx.profile)


@pytest.mark.parametrize("method, given, fragment", [
    ("blindspot", {"lam": float("nan")}, "lam=nan: expected a finite number"),
    ("finetune", {"epochs": -1}, "epochs=-1: expected a whole number >= 1"),
    ("amnesiac", {"epochs": 1.7}, "epochs=1.7: expected a whole number >= 1"),
    ("neggrad", {"lr": 0}, "lr=0: expected a number > 0"),
    ("blindspot", {"k": 2.5}, "k=2.5"),
    ("amnesiac", {"clip": "yes"}, "clip='yes': expected True or False"),
    ("retrain", {"epochs": 3}, "has no hyperparameter epochs"),
])
def test_bad_hyperparameters_are_refused_by_name(tiny_ctx, method, given, fragment):
    fs = tiny_ctx.forget_set(FORGET)
    with pytest.raises(ValueError, match=re.escape(fragment)):
        tiny_ctx.unlearned(method, fs, **given)
    with pytest.raises(ValueError, match=re.escape(fragment)):    # the method object too
        configured(method, tiny_ctx.profile, **given)


def test_a_ratio_to_a_zero_distance_is_nan_not_a_crash():
    from pixelsecurer_lib.experiment import _ratio

    assert np.isnan(_ratio(1.0, 0.0)) and np.isnan(_ratio(float("nan"), 2.0))
    assert _ratio(1.0, 4.0) == 0.25
