"""A per-example audit over many models: which forget images still give the method away?
(chapter 09-privacy-audit)

Population metrics (one W1, one member rate) can hide a few images that an unlearned model
still treats differently from a model that never saw them (Hayes et al., 2024). The NeurIPS
2023 unlearning challenge (Triantafillou et al., 2024) therefore compared, for every forget
example, the outputs of many unlearned models with those of many retrained models. We adapt
that idea to regression outputs with per-example two-sample tests.

For a forget example x_i, let m_i^(1..K) be the predicted ages of K models of the method
(seeds 0..K-1, each unlearned from its own original model) and r_i^(1..K') those of K'
retrained models. Under "the method behaves like retraining on x_i" the two samples come
from one distribution. Welch's t statistic

    t_i = (mean(m_i) - mean(r_i)) / sqrt(s_m^2 / K + s_r^2 / K')

gives a two-sided p-value p_i (Welch-Satterthwaite degrees of freedom). With n forget
examples we run n tests, so we control the false discovery rate with the Benjamini-Hochberg
procedure (Benjamini and Hochberg, 1995): sort p_(1) <= ... <= p_(n), find the largest j with
p_(j) <= j q / n, and call the examples with the j smallest p-values *exposed*. Among the
exposed examples, the expected share of false alarms is at most q (0.05 by default).

The method's score is the **exposed share**: the fraction of D_f flagged. Retraining scores
about 0 by construction; as a control, a second group of retrained models (seeds + 1000)
tested against the first shows what chance alone flags (``control="noise_floor"``).

Caveats: with small K the tests have little power (few examples can be flagged even when the
method differs), so a low share under the smoke profile means little; K >= 8 per group is
what the benchmark uses. The t test assumes roughly normal predictions across seeds.
"""
from __future__ import annotations

import json
import warnings
from typing import Dict, Iterable, Optional, Sequence

import numpy as np
import pandas as pd
from scipy import stats as _scipy_stats

NOISE_FLOOR_CONTROL = "noise_floor"
DEFAULT_Q = 0.05


def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """BH-adjusted p-values (q-values): reject at level q where the result is <= q."""
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError("benjamini_hochberg expects a one-dimensional list of p-values")
    if np.any((p < 0) | (p > 1)) or np.any(~np.isfinite(p)):
        raise ValueError("p-values must be finite numbers between 0 and 1")
    n = p.size
    if n == 0:
        return p
    order = np.argsort(p)
    scaled = p[order] * n / np.arange(1, n + 1)
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]   # enforce monotonicity from the top
    out = np.empty(n)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def welch_p_values(method_predictions, retrained_predictions) -> Dict[str, np.ndarray]:
    """Per-example Welch t tests between two stacks of predictions (models x examples).

    Returns ``mean_method``, ``mean_retrain``, ``diff`` and ``p_value`` per example. Where both
    groups have zero spread the p-value is 1 for equal means and 0 otherwise.
    """
    m = np.asarray(method_predictions, dtype=np.float64)
    r = np.asarray(retrained_predictions, dtype=np.float64)
    if m.ndim != 2 or r.ndim != 2 or m.shape[1] != r.shape[1]:
        raise ValueError(f"expected two (models x examples) arrays over the same examples, "
                         f"got shapes {m.shape} and {r.shape}")
    if m.shape[0] < 2 or r.shape[0] < 2:
        raise ValueError(f"each group needs at least 2 models, got {m.shape[0]} and {r.shape[0]}")
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # zero spread: handled just below
        p = _scipy_stats.ttest_ind(m, r, axis=0, equal_var=False).pvalue
    diff = m.mean(axis=0) - r.mean(axis=0)
    flat = ~np.isfinite(p)
    p[flat] = np.where(np.isclose(diff[flat], 0.0), 1.0, 0.0)
    return {"mean_method": m.mean(axis=0), "mean_retrain": r.mean(axis=0), "diff": diff,
            "p_value": p}


def per_example_audit(method_predictions, retrained_predictions, q: float = DEFAULT_Q,
                      examples: Optional[Sequence[int]] = None) -> pd.DataFrame:
    """One row per forget example: means, difference, p-value, BH q-value, ``exposed``."""
    if not 0 < q < 1:
        raise ValueError(f"q must lie strictly between 0 and 1, got {q}")
    tests = welch_p_values(method_predictions, retrained_predictions)
    frame = pd.DataFrame(tests)
    frame.insert(0, "example", np.arange(len(frame)) if examples is None else np.asarray(examples))
    frame["q_value"] = benjamini_hochberg(frame["p_value"].to_numpy())
    frame["exposed"] = frame["q_value"] <= q
    return frame


def exposure_score(per_example: pd.DataFrame) -> Dict[str, float]:
    """The method's score: share of forget examples exposed, with counts and effect sizes."""
    exposed = per_example["exposed"].to_numpy(bool)
    return {"exposed": int(exposed.sum()), "examples": int(len(exposed)),
            "exposed_share": float(exposed.mean()) if len(exposed) else float("nan"),
            "median_abs_diff": float(np.median(np.abs(per_example["diff"]))),
            "median_abs_diff_exposed": float(np.median(np.abs(per_example["diff"][exposed])))
            if exposed.any() else float("nan")}


def stacked_predictions(ctx, method: str, forget, seeds: Iterable[int]) -> np.ndarray:
    """Predictions on D_f of ``method``'s models for each seed: an array (models x examples).

    ``method`` may be ``retrain``, ``original``, any unlearning method, or ``noise_floor``
    (retrained models with seeds + ``experiment.NOISE_FLOOR_OFFSET``)."""
    from .experiment import NOISE_FLOOR_OFFSET

    fs = ctx.forget_set(forget)
    rows = []
    for seed in seeds:
        if method == NOISE_FLOOR_CONTROL:
            model = ctx.retrained(fs, seed + NOISE_FLOOR_OFFSET)
        else:
            model = ctx.unlearned(method, fs, seed)
        rows.append(ctx.predict(model, fs.forget))
    return np.stack(rows)


def run_audit(ctx, forget, methods: Sequence[str], seeds, q: float = DEFAULT_Q,
              control: bool = True):
    """The audit of ``methods`` on ``forget`` with K = len(seeds) models per group.

    Returns ``(scores, per_example)``: one row per method (plus ``noise_floor`` when
    ``control``) with its exposure score, and the long table of every example's test, with
    the example's true ``age`` and its image index ``index``.
    """
    seeds = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if len(seeds) < 2:
        raise ValueError(f"the per-example audit needs at least 2 seeds, got {len(seeds)}")
    fs = ctx.forget_set(forget)
    retrained = stacked_predictions(ctx, "retrain", fs, seeds)
    names = [m for m in methods if m != "retrain"] + ([NOISE_FLOOR_CONTROL] if control else [])
    scores, frames = [], []
    for name in names:
        frame = per_example_audit(stacked_predictions(ctx, name, fs, seeds), retrained, q=q,
                                  examples=np.arange(len(fs.forget)))
        frame.insert(0, "method", name)
        frame.insert(0, "forget", str(fs.spec))
        frame["index"] = fs.forget
        frame["age"] = ctx.data.ages[fs.forget]
        frames.append(frame)
        scores.append({"forget": str(fs.spec), "method": name, "models_per_group": len(seeds),
                       "q": q, **exposure_score(frame)})
    return pd.DataFrame(scores), pd.concat(frames, ignore_index=True)


def compact_audit(scores: pd.DataFrame, per_example: pd.DataFrame) -> Dict:
    """The audit in a small JSON-able form for ``stored`` (per forget set: the true ages once,
    and per method the rounded differences and the positions of the exposed images)."""
    examples = {}                        # differences to 0.1 year: enough for the figure
    for forget in dict.fromkeys(scores["forget"]):
        methods = list(scores.loc[scores["forget"] == forget, "method"])
        part = per_example[per_example["method"].isin(methods)]
        if "forget" in part:
            part = part[part["forget"] == forget]
        first = part[part["method"] == methods[0]]
        examples[forget] = {"age": [int(a) for a in first["age"]], "methods": {
            m: {"diff": [round(float(d), 1) for d in rows["diff"]],
                "exposed": [int(i) for i in np.flatnonzero(rows["exposed"].to_numpy(bool))]}
            for m, rows in part.groupby("method", sort=False)}}
    return {"scores": json.loads(scores.to_json(orient="records")), "examples": examples}


def expand_audit(stored: Dict):
    """``(scores, per_example)`` back from :func:`compact_audit`'s form (per_example has the
    columns the figure needs: forget, method, age, diff, exposed)."""
    frames = []
    for forget, part in stored["examples"].items():
        for method, values in part["methods"].items():
            exposed = np.zeros(len(part["age"]), dtype=bool)
            exposed[values["exposed"]] = True
            frames.append(pd.DataFrame({"forget": forget, "method": method, "age": part["age"],
                                        "diff": values["diff"], "exposed": exposed}))
    return pd.DataFrame(stored["scores"]), pd.concat(frames, ignore_index=True)
