"""Statistics over seeds: which differences between methods can we trust? (chapter 08)

An experiment with seeds s = 0..n-1 gives, for every method m and metric X, one number X_m(s)
per seed. Runs of the same seed share their original model A(D) and their retrained model
A(D_r), so two methods a and b are compared **paired by seed**: with

    d(s) = X_a(s) - X_b(s),   d_bar = (1/n) sum_s d(s),   S_d^2 = sum_s (d(s) - d_bar)^2 / (n - 1),

the 95% interval of the mean difference is the paired Student t interval

    d_bar -/+ t_{0.975, n-1} * S_d / sqrt(n).

The difference is called *distinguishable* when the interval excludes 0 (a paired t test at
the 5% level); otherwise the page says "not distinguishable". A method's own mean gets the
one-sample t interval of its n values in the same way (``metrics.mean_ci95``).

Why pairing: the seed moves both methods together (they start from the same A(D) and are
measured against the same A(D_r)), so the seed-to-seed noise they share cancels in d(s);
an unpaired interval would count it twice and hide real differences.

Why Student t rather than a bootstrap: we have few seeds (5 to 10). A percentile bootstrap
over n = 5 values has only 126 distinct resamples and its intervals are known to be too
narrow for small n (they cover the mean less often than promised), which would produce
verdicts the data do not support. The t interval is exact when the differences are normal
and stays close to its nominal coverage for moderately skewed differences at these n; its
assumption is the one stated here. Each interval is a per-comparison 95% interval: with many
comparisons on one page, about one in twenty true ties can still look distinguishable.

The noise floor enters as a pseudo-method ``noise_floor`` for W1: per seed s it is W1 on D_f
between A(D_r) with seed s and with seed s + 1000 (``experiment.noise_floor``), so "method vs
noise floor" asks whether the method is farther from retraining than retraining is from itself.
"""
from __future__ import annotations

from itertools import combinations
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd
from scipy import stats as _scipy_stats

from .metrics import mean_ci95

COMPARED_METRICS = ("w1_to_retrain", "retain_mae", "forget_mae")
NOISE_FLOOR = "noise_floor"
CONFIDENCE = 0.95


def paired_difference_interval(a: Sequence[float], b: Sequence[float],
                               confidence: float = CONFIDENCE) -> Dict[str, float]:
    """Mean of ``a - b`` (paired by position) and its Student t interval.

    Returns ``mean_diff``, ``ci_low``, ``ci_high``, ``n`` and ``distinguishable`` (the interval
    excludes 0). Pairs where either value is missing (None or NaN) are dropped. With fewer than
    two pairs the interval is undefined (NaN) and nothing is distinguishable.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    x = np.asarray([np.nan if v is None else v for v in a], dtype=np.float64)
    y = np.asarray([np.nan if v is None else v for v in b], dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"paired samples must have the same length, got {len(x)} and {len(y)}")
    d = (x - y)[np.isfinite(x) & np.isfinite(y)]
    n = int(d.size)
    if n == 0:
        return {"mean_diff": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"),
                "n": 0, "distinguishable": False}
    mean = float(d.mean())
    if n < 2:
        return {"mean_diff": mean, "ci_low": float("nan"), "ci_high": float("nan"), "n": n,
                "distinguishable": False}
    half = float(_scipy_stats.t.ppf(0.5 + confidence / 2, n - 1) * d.std(ddof=1) / np.sqrt(n))
    low, high = mean - half, mean + half
    return {"mean_diff": mean, "ci_low": low, "ci_high": high, "n": n,
            "distinguishable": bool(low > 0 or high < 0)}


def _by_seed(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Seeds x methods table of ``metric`` (plus the ``noise_floor`` column for W1)."""
    table = df.pivot_table(index="seed", columns="method", values=metric, aggfunc="first",
                           dropna=False)
    table = table.apply(pd.to_numeric, errors="coerce")
    if metric == "w1_to_retrain" and "noise_floor_w1" in df:
        floors = pd.to_numeric(df.groupby("seed")["noise_floor_w1"].first(), errors="coerce")
        if floors.notna().any():
            table[NOISE_FLOOR] = floors
    return table


def _methods_in_order(df: pd.DataFrame) -> List[str]:
    return list(dict.fromkeys(df["method"]))


def seed_summary(df: pd.DataFrame, metrics: Sequence[str] = COMPARED_METRICS) -> List[Dict]:
    """One row per (forget, method, metric): mean over seeds with its 95% t interval.

    ``df`` is ``run_experiment``'s table (one row per method x seed, column ``forget``
    optional). Methods without a value (retrain's own W1) are left out.
    """
    rows = []
    for forget, metric, methods, table in _seed_tables(df, metrics):
        for method in methods + ([NOISE_FLOOR] if NOISE_FLOOR in table else []):
            values = table[method].dropna().tolist()
            if not values:
                continue
            ci = mean_ci95(values)
            half = ci["ci95"] if ci["n"] > 1 else float("nan")
            row = {"method": method, "metric": metric, "mean": ci["mean"],
                   "ci_low": ci["mean"] - half, "ci_high": ci["mean"] + half, "n": ci["n"]}
            rows.append({"forget": forget, **row} if forget is not None else row)
    return rows


def seed_comparisons(df: pd.DataFrame, metrics: Sequence[str] = COMPARED_METRICS,
                     confidence: float = CONFIDENCE) -> List[Dict]:
    """Every pair of methods (in table order), per metric, paired by seed; for W1 also each
    method against the per-seed noise floor. ``mean_diff`` is a minus b."""
    rows = []
    for forget, metric, methods, table in _seed_tables(df, metrics):
        methods = [m for m in methods if table[m].notna().any()]
        pairs = list(combinations(methods, 2))
        if NOISE_FLOOR in table:
            pairs += [(m, NOISE_FLOOR) for m in methods]
        for a, b in pairs:
            result = paired_difference_interval(table[a].tolist(), table[b].tolist(),
                                                confidence=confidence)
            row = {"a": a, "b": b, "metric": metric, **result}
            rows.append({"forget": forget, **row} if forget is not None else row)
    return rows


def _seed_tables(df: pd.DataFrame, metrics: Sequence[str]):
    """(forget, metric, methods in table order, seeds x methods table) for each forget set and
    each metric the table has."""
    for forget, group in _groups(df):
        for metric in metrics:
            if metric in group:
                yield forget, metric, _methods_in_order(group), _by_seed(group, metric)


def _groups(df: pd.DataFrame):
    if "forget" in df and df["forget"].nunique() > 1:
        return list(df.groupby("forget", sort=False))
    forget = str(df["forget"].iloc[0]) if "forget" in df and len(df) else None
    return [(forget, df)]


def verdict(row: Dict) -> str:
    """A comparison row in words: which is larger, or "not distinguishable"."""
    if not row.get("distinguishable"):
        return "not distinguishable"
    return f"{row['a']} {'>' if row['mean_diff'] > 0 else '<'} {row['b']}"


def comparison_table(comparisons: Sequence[Dict], metric: Optional[str] = None) -> pd.DataFrame:
    """The comparisons as a DataFrame with a ``verdict`` column (optionally one metric)."""
    table = pd.DataFrame(list(comparisons))
    if table.empty:
        return table
    if metric is not None:
        table = table[table["metric"] == metric]
    table = table.copy()
    table["verdict"] = [verdict(r) for r in table.to_dict("records")]
    return table.reset_index(drop=True)


def closest_to_retraining(comparisons: Sequence[Dict], summary: Sequence[Dict],
                          methods: Sequence[str], forget: Optional[str] = None,
                          metric: str = "w1_to_retrain") -> Dict:
    """Which of ``methods`` has the lowest mean ``metric``, and which others the paired
    intervals cannot tell apart from it (``ties``); ``beats_floor`` says whether the best is
    distinguishably above the noise floor (True), or not distinguishable from it (False)."""
    def keep(row):
        return row["metric"] == metric and (forget is None or row.get("forget") == forget)

    means = {r["method"]: r["mean"] for r in summary if keep(r) and r["method"] in methods}
    if not means:
        raise ValueError(f"no {metric} summary for any of {', '.join(methods)}")
    best = min(means, key=means.get)
    pairs = {(r["a"], r["b"]): r for r in comparisons if keep(r)}
    ties = []
    for other in means:
        row = pairs.get((best, other)) or pairs.get((other, best))
        if other != best and row is not None and not row["distinguishable"]:
            ties.append(other)
    floor = pairs.get((best, NOISE_FLOOR))
    return {"best": best, "mean": means[best], "ties": ties,
            "above_floor": None if floor is None else bool(floor["distinguishable"]
                                                             and floor["mean_diff"] > 0),
            "floor_row": floor}
