"""The anamnesis index (AIN) and the checkpoint rule of the reference code."""
import numpy as np
import pytest
import torch

from pixelsecurer_lib.anamnesis import anamnesis_index, methods_anamnesis, relearn_steps
from pixelsecurer_lib.config import TrainingRecipe
from pixelsecurer_lib.models import build_model
from pixelsecurer_lib.training import evaluate_mae, fit


def _parts(ctx):
    fs = ctx.forget_set("age:0-30")
    return fs, (fs.val_forget if len(fs.val_forget) else fs.test_forget)


def _weights(model):
    return [p.detach().clone() for p in model.state_dict().values()]


def test_relearning_counts_steps_and_stops_at_the_target(tiny_ctx):
    fs, evaluation = _parts(tiny_ctx)
    model = tiny_ctx.retrained(fs, 0).model
    before = _weights(model)
    easy = relearn_steps(model, tiny_ctx.data, tiny_ctx.split.train, evaluation, 1e9,
                         batch_size=32)
    assert easy == {"steps": 1, "reached": True, "final_mae": easy["final_mae"]}  # checked after a step
    never = relearn_steps(model, tiny_ctx.data, tiny_ctx.split.train, evaluation, 0.0,
                          batch_size=32, max_epochs=2)
    steps_per_epoch = -(-len(tiny_ctx.split.train) // 32)
    assert never["steps"] == 2 * steps_per_epoch and never["reached"] is False
    assert all(torch.equal(a, b) for a, b in zip(before, _weights(model)))   # a copy relearned


def test_ain_of_the_retrained_model_is_one_and_the_original_relearns_faster(tiny_ctx):
    fs, evaluation = _parts(tiny_ctx)
    original, retrained = tiny_ctx.original(0).model, tiny_ctx.retrained(fs, 0).model
    kwargs = dict(batch_size=32, max_epochs=3, seed=0)
    same = anamnesis_index(original, retrained, retrained, tiny_ctx.data, tiny_ctx.split.train,
                           evaluation, **kwargs)
    assert same["ain"] == 1.0 and same["unlearned_steps"] == same["retrained_steps"]
    leaked = anamnesis_index(original, original, retrained, tiny_ctx.data, tiny_ctx.split.train,
                             evaluation, **kwargs)
    assert leaked["target_mae"] == pytest.approx(1.05 * leaked["original_forget_mae"])
    assert leaked["unlearned_steps"] <= leaked["retrained_steps"] and leaked["ain"] <= 1.0
    again = anamnesis_index(original, original, retrained, tiny_ctx.data, tiny_ctx.split.train,
                            evaluation, **kwargs)
    assert again == leaked                                  # same seed, same counts on the CPU


def test_methods_anamnesis_reads_its_models_from_the_context(tiny_ctx):
    rows = methods_anamnesis(tiny_ctx, ["retrain", "amnesiac"], "age:0-30", seed=0,
                             batch_size=32, max_epochs=2)
    assert [r["method"] for r in rows] == ["retrain", "amnesiac"]
    assert rows[0]["ain"] == 1.0                      # the retrained model against itself
    assert rows[1]["ain"] == rows[1]["unlearned_steps"] / rows[1]["retrained_steps"]
    assert rows[1]["eval_images"] > 0
    with pytest.raises(ValueError, match="alpha"):
        methods_anamnesis(tiny_ctx, ["amnesiac"], "age:0-30", alpha=-1)


def test_best_checkpoint_restores_the_epoch_with_the_lowest_validation_error(tiny_ctx):
    data, split = tiny_ctx.data, tiny_ctx.split
    runs = {}
    for rule in ("last", "best"):
        model = build_model("allcnn", 0.125, seed=0)
        recipe = TrainingRecipe(epochs=4, lr=0.05, batch_size=32, schedule="constant",
                                crop_padding=4)
        history = fit(model, data, split.train, recipe, seed=0, device="cpu",
                      val_indices=split.val, checkpoint=rule, progress=False)
        runs[rule] = (model, history)
    last_model, last_history = runs["last"]
    best_model, best_history = runs["best"]
    assert [h["val_mae"] for h in last_history] == [h["val_mae"] for h in best_history]
    best_epoch = int(np.argmin([h["val_mae"] for h in best_history]))
    assert [h.get("restored", False) for h in best_history] == [
        i == best_epoch for i in range(4)]
    assert evaluate_mae(best_model, data, split.val) == pytest.approx(
        best_history[best_epoch]["val_mae"], abs=1e-4)
    assert evaluate_mae(last_model, data, split.val) == pytest.approx(
        last_history[-1]["val_mae"], abs=1e-4)
    assert not any("restored" in h for h in last_history)


ONE_EPOCH = TrainingRecipe(epochs=1, lr=0.01, batch_size=32, schedule="constant", crop_padding=4)


def test_checkpoint_rule_is_checked(tiny_ctx):
    model = build_model("allcnn", 0.125, seed=0)
    with pytest.raises(ValueError, match="last, best"):
        fit(model, tiny_ctx.data, tiny_ctx.split.train, ONE_EPOCH, seed=0, checkpoint="middle")
    with pytest.raises(ValueError, match="val_indices"):
        fit(model, tiny_ctx.data, tiny_ctx.split.train, ONE_EPOCH, seed=0, checkpoint="best")
