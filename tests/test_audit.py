"""The per-example audit (pixelsecurer_lib.audit): BH, Welch tests, exposure scores."""
import matplotlib
import numpy as np
import pytest
from scipy import stats as scipy_stats

from pixelsecurer_lib import plots
from pixelsecurer_lib.audit import (NOISE_FLOOR_CONTROL, benjamini_hochberg, exposure_score,
                                    per_example_audit, run_audit, welch_p_values)

matplotlib.use("Agg")


def test_benjamini_hochberg_matches_scipy_and_a_hand_example():
    p = np.array([0.01, 0.04, 0.03, 0.2])
    # sorted 0.01, 0.03, 0.04, 0.2 -> 0.04, 0.06, 0.0533, 0.2 -> monotone 0.04, 0.0533, 0.0533, 0.2
    assert benjamini_hochberg(p) == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.2])
    rng = np.random.default_rng(0)
    many = rng.uniform(size=200) ** 3
    assert benjamini_hochberg(many) == pytest.approx(scipy_stats.false_discovery_control(many))
    with pytest.raises(ValueError, match="between 0 and 1"):
        benjamini_hochberg([0.5, 1.5])


def test_welch_p_values_match_scipy_per_example():
    rng = np.random.default_rng(1)
    m, r = rng.normal(0, 1, (8, 5)), rng.normal(0.5, 2, (6, 5))
    ours = welch_p_values(m, r)["p_value"]
    for i in range(5):
        assert ours[i] == pytest.approx(scipy_stats.ttest_ind(m[:, i], r[:, i], equal_var=False).pvalue)
    flat = welch_p_values(np.ones((3, 2)), np.array([[1.0, 0.0]] * 3))["p_value"]
    assert list(flat) == [1.0, 0.0]                 # no spread: equal means vs different ones
    with pytest.raises(ValueError, match="at least 2 models"):
        welch_p_values(np.ones((1, 3)), np.ones((4, 3)))


def test_only_the_shifted_examples_are_exposed():
    rng = np.random.default_rng(2)
    retrained = rng.normal(40, 1.0, (10, 200))
    method = rng.normal(40, 1.0, (10, 200))
    method[:, :20] += 5.0                            # 20 examples the method still remembers
    frame = per_example_audit(method, retrained)
    exposed = np.flatnonzero(frame["exposed"])
    assert set(range(20)) <= set(exposed) and len(exposed) <= 22
    score = exposure_score(frame)
    assert score["examples"] == 200 and 0.1 <= score["exposed_share"] <= 0.11
    same = exposure_score(per_example_audit(rng.normal(40, 1, (10, 200)), retrained))
    assert same["exposed"] <= 2                      # BH keeps chance findings rare


def test_audit_of_the_context_models_with_its_figure(tiny_ctx):
    scores, per_example = run_audit(tiny_ctx, "age:0-30", ["original", "amnesiac"], seeds=2)
    assert list(scores["method"]) == ["original", "amnesiac", NOISE_FLOOR_CONTROL]
    n = len(tiny_ctx.forget_set("age:0-30").forget)
    assert (scores["examples"] == n).all() and (scores["models_per_group"] == 2).all()
    assert len(per_example) == 3 * n and per_example["q_value"].between(0, 1).all()
    assert (per_example["age"] <= 30).all()
    fig = plots.exposed_examples(per_example)
    assert len(fig.axes) == 3
    with pytest.raises(ValueError, match="at least 2 seeds"):
        run_audit(tiny_ctx, "age:0-30", ["original"], seeds=1)


def test_the_stored_form_gives_back_the_figure_data(tiny_ctx):
    from pixelsecurer_lib.audit import compact_audit, expand_audit

    scores, per_example = run_audit(tiny_ctx, "age:0-30", ["amnesiac"], seeds=2)
    stored = compact_audit(scores, per_example)
    again_scores, again = expand_audit(stored)
    assert list(again_scores["exposed"]) == list(scores["exposed"])
    assert list(again["exposed"]) == list(per_example["exposed"])
    assert np.allclose(again["diff"], per_example["diff"], atol=0.051)
    assert list(again["age"]) == list(per_example["age"])
