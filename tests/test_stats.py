"""Paired statistics over seeds (pixelsecurer_lib.stats): known answers on made-up numbers."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from pixelsecurer_lib.stats import (NOISE_FLOOR, closest_to_retraining, comparison_table,
                                    paired_difference_interval,
                                    seed_comparisons, seed_summary, verdict)


def test_paired_interval_matches_a_hand_computation():
    # d = 1, 2, 3, 4: mean 2.5, s = sqrt(5/3), t(0.975, 3) = 3.182446
    result = paired_difference_interval([1, 2, 3, 4], [0, 0, 0, 0])
    half = 3.182446305 * math.sqrt(5 / 3) / 2
    assert result["n"] == 4
    assert result["mean_diff"] == pytest.approx(2.5)
    assert result["ci_low"] == pytest.approx(2.5 - half, rel=1e-6)
    assert result["ci_high"] == pytest.approx(2.5 + half, rel=1e-6)
    assert result["distinguishable"] is True


def test_paired_interval_matches_scipy_ttest_rel():
    rng = np.random.default_rng(3)
    a = rng.normal(5, 1, 10)
    b = a + rng.normal(0.3, 0.5, 10)
    ours = paired_difference_interval(a, b, confidence=0.9)
    ci = scipy_stats.ttest_rel(a, b).confidence_interval(confidence_level=0.9)
    assert ours["ci_low"] == pytest.approx(ci.low) and ours["ci_high"] == pytest.approx(ci.high)
    p = scipy_stats.ttest_rel(a, b).pvalue
    assert ours["distinguishable"] == (paired_difference_interval(a, b)["ci_low"] > 0
                                       or paired_difference_interval(a, b)["ci_high"] < 0)
    assert paired_difference_interval(a, b)["distinguishable"] == (p < 0.05)


def test_pairing_removes_the_noise_both_methods_share():
    # the seed moves both methods by up to +-3 years; a is always 0.5 above b
    seed_effect = np.array([-3.0, 1.0, 2.5, -1.5, 0.0])
    a = 10 + seed_effect + 0.5 + np.array([0.05, -0.05, 0.0, 0.02, -0.02])
    b = 10 + seed_effect
    paired = paired_difference_interval(a, b)
    assert paired["distinguishable"] and paired["ci_low"] > 0.4
    # the unpaired 95% intervals of the two means overlap widely
    half = scipy_stats.t.ppf(0.975, 4) * np.std(b, ddof=1) / np.sqrt(5)
    assert abs(a.mean() - b.mean()) < half


def test_a_tie_is_not_distinguishable():
    result = paired_difference_interval([1.0, 2.0, 3.0], [1.5, 1.5, 3.0])
    assert result["ci_low"] < 0 < result["ci_high"]
    assert result["distinguishable"] is False
    assert verdict({"a": "x", "b": "y", **result}) == "not distinguishable"


def test_missing_pairs_are_dropped_and_one_pair_has_no_interval():
    result = paired_difference_interval([1.0, None, 3.0], [0.0, 2.0, float("nan")])
    assert result["n"] == 1 and result["mean_diff"] == 1.0
    assert math.isnan(result["ci_low"]) and result["distinguishable"] is False
    with pytest.raises(ValueError, match="same length"):
        paired_difference_interval([1, 2], [1])
    with pytest.raises(ValueError, match="confidence"):
        paired_difference_interval([1, 2], [1, 2], confidence=95)


def _table():
    rows = []
    for seed, floor in enumerate([0.2, 0.3, 0.25, 0.35]):
        for method, w1, forget_mae in (("original", 5.0 + seed * 0.1, 3.0),
                                       ("retrain", None, 12.0 + seed),
                                       ("amnesiac", 1.0 + 0.1 * (seed % 2), 11.0 + seed),
                                       ("blindspot", 1.05 - 0.1 * (seed % 2), 11.5 + seed)):
            rows.append({"forget": "age:0-30", "method": method, "seed": seed,
                         "w1_to_retrain": w1, "retain_mae": 5.0 + 0.01 * seed,
                         "forget_mae": forget_mae, "noise_floor_w1": floor})
    return pd.DataFrame(rows)


def test_summary_has_a_row_per_method_and_metric_with_the_noise_floor():
    summary = seed_summary(_table())
    w1_rows = {r["method"]: r for r in summary if r["metric"] == "w1_to_retrain"}
    assert set(w1_rows) == {"original", "amnesiac", "blindspot", NOISE_FLOOR}   # no retrain W1
    floor = w1_rows[NOISE_FLOOR]
    assert floor["mean"] == pytest.approx(0.275) and floor["n"] == 4
    assert floor["ci_low"] < 0.275 < floor["ci_high"]
    mae_methods = [r["method"] for r in summary if r["metric"] == "forget_mae"]
    assert mae_methods == ["original", "retrain", "amnesiac", "blindspot"]
    assert all(r["forget"] == "age:0-30" for r in summary)


def test_comparisons_cover_every_pair_and_each_method_against_the_floor():
    comparisons = seed_comparisons(_table())
    w1 = [(r["a"], r["b"]) for r in comparisons if r["metric"] == "w1_to_retrain"]
    assert w1 == [("original", "amnesiac"), ("original", "blindspot"), ("amnesiac", "blindspot"),
                  ("original", NOISE_FLOOR), ("amnesiac", NOISE_FLOOR),
                  ("blindspot", NOISE_FLOOR)]
    mae = [(r["a"], r["b"]) for r in comparisons if r["metric"] == "forget_mae"]
    assert len(mae) == 6 and ("original", "retrain") in mae          # 4 methods, no floor
    table = comparison_table(comparisons, "w1_to_retrain").set_index(["a", "b"])
    assert table.loc[("original", "amnesiac"), "verdict"] == "original > amnesiac"
    assert table.loc[("amnesiac", "blindspot"), "verdict"] == "not distinguishable"
    # retrain - amnesiac forget MAE is exactly 1 on every seed: zero-width interval
    row = next(r for r in comparisons if r["metric"] == "forget_mae"
               and (r["a"], r["b"]) == ("retrain", "amnesiac"))
    assert row["mean_diff"] == pytest.approx(1.0) and row["distinguishable"]


def test_closest_to_retraining_names_the_best_and_its_ties():
    table = _table()
    summary, comparisons = seed_summary(table), seed_comparisons(table)
    result = closest_to_retraining(comparisons, summary, ["amnesiac", "blindspot"])
    assert result["best"] in ("amnesiac", "blindspot") and len(result["ties"]) == 1
    assert result["above_floor"] is True             # both sit well above a floor of ~0.3
    alone = closest_to_retraining(comparisons, summary, ["original", "amnesiac"])
    assert alone["best"] == "amnesiac" and alone["ties"] == []
    with pytest.raises(ValueError, match="no w1_to_retrain"):
        closest_to_retraining(comparisons, summary, ["magic"])
