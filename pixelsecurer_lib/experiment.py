"""One experiment: a forget set, a list of methods, some seeds -> a tidy table (chapter 08).

For each seed s: the original model A(D) and the retrained model A(D_r) trained with seed s,
every method applied to that original, and a second retrained model with seed s + 1000 for
the noise floor. Each row of the table is one (method, seed) with its MAE on the four parts,
its W1 to the retrained model on D_f, the membership-inference member rate on D_f, and the
wall time the method took.
"""
from __future__ import annotations

import json
import os
from typing import Dict, Iterable, List, Optional, Sequence, Union

import numpy as np
import pandas as pd

from .metrics import mae, mean_ci95, membership_inference, w1
from .session import ChapterContext, setup_chapter
from .unlearning import METHODS

DEFAULT_METHODS = ("original", "retrain", "finetune", "amnesiac", "blindspot")
VALID_METHODS = ("original",) + tuple(METHODS)
NOISE_FLOOR_OFFSET = 1000
METRIC_COLUMNS = ("retain_mae", "forget_mae", "test_retain_mae", "test_forget_mae",
                  "w1_to_retrain", "w1_over_floor", "w1_over_original", "mia_forget", "mia_auc",
                  "seconds", "seconds_over_retrain")


def parse_methods(methods: Union[str, Sequence[str], None]) -> List[str]:
    """A method list (comma-separated text or a sequence); ValueError naming unknown ones."""
    if methods is None:
        return list(DEFAULT_METHODS)
    if isinstance(methods, str):
        methods = [m for m in methods.split(",")]
    names = [m.strip().lower() for m in methods if m.strip()]
    if not names:
        raise ValueError(f"no method given: expected some of {', '.join(VALID_METHODS)}")
    for name in names:
        if name not in VALID_METHODS:
            raise ValueError(f"unknown method {name!r}: expected one of {', '.join(VALID_METHODS)}")
    return list(dict.fromkeys(names))


def predictions_on_parts(ctx: ChapterContext, model, forget) -> Dict[str, np.ndarray]:
    """Predictions of ``model`` on D_f, D_r, test-forget, test-retain and the whole test set."""
    fs = ctx.forget_set(forget)
    parts = {"forget": fs.forget, "retain": fs.retain, "test_forget": fs.test_forget,
             "test_retain": fs.test_retain}
    preds = {name: ctx.predict(model, idx) for name, idx in parts.items()}
    # the whole test set is the two test parts put back in place: no second prediction
    test = ctx.split.test
    in_forget = np.isin(test, fs.test_forget)
    preds["test"] = np.empty(len(test), dtype=np.float32)
    preds["test"][in_forget] = preds["test_forget"]
    preds["test"][~in_forget] = preds["test_retain"]
    return preds


def noise_floor(ctx: ChapterContext, forget, seed: int = 0) -> float:
    """W1 on D_f between two retrained models that differ only in seed (s and s + 1000)."""
    fs = ctx.forget_set(forget)
    a = ctx.predict(ctx.retrained(fs, seed), fs.forget)
    b = ctx.predict(ctx.retrained(fs, seed + NOISE_FLOOR_OFFSET), fs.forget)
    return w1(a, b)


def run_experiment(forget, methods=None, seeds: Union[int, Iterable[int]] = 1, profile=None,
                   data=None, ctx: Optional[ChapterContext] = None, device=None,
                   with_noise_floor: bool = True, progress: bool = True) -> pd.DataFrame:
    """Run ``methods`` on the forget spec ``forget`` for each seed; one row per method x seed.

    ``seeds`` is a count (seeds 0..n-1) or a list. ``data`` is a path to an AgeDB folder, or
    None / ``"synthetic"`` for the synthetic set. ``df.attrs`` holds the noise floor and the
    configuration.
    """
    methods = parse_methods(methods)
    seeds = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must be a positive count or a non-empty list")
    if ctx is None:
        root = None if data in (None, "synthetic") else data
        ctx = setup_chapter(seed=seeds[0], load_data=True, profile=profile, device=device,
                            data_root=root, progress=progress, verbose=False)
    fs = ctx.forget_set(forget)
    rows, floors = [], []
    for seed in seeds:
        retrain = ctx.retrained(fs, seed)
        original = ctx.original(seed)
        preds_retrain = predictions_on_parts(ctx, retrain, fs)
        preds_original = predictions_on_parts(ctx, original, fs)
        floor = noise_floor(ctx, fs, seed) if with_noise_floor else float("nan")
        floors.append(floor)
        w1_original = w1(preds_original["forget"], preds_retrain["forget"])
        for method in methods:
            trained = ctx.unlearned(method, fs, seed)
            preds = preds_retrain if method == "retrain" else (
                preds_original if method == "original" else predictions_on_parts(ctx, trained, fs))
            ages = ctx.data.ages
            losses = {k: np.abs(preds[k] - ages[idx]) for k, idx in
                      (("retain", fs.retain), ("forget", fs.forget), ("test", ctx.split.test))}
            attack = membership_inference(losses["retain"], losses["test"], losses["forget"],
                                          seed=seed)
            distance = None if method == "retrain" else w1(preds["forget"], preds_retrain["forget"])
            rows.append({
                "forget": str(fs.spec), "method": method, "seed": seed,
                "retain_mae": mae(preds["retain"], ages[fs.retain]),
                "forget_mae": mae(preds["forget"], ages[fs.forget]),
                "test_retain_mae": mae(preds["test_retain"], ages[fs.test_retain]),
                "test_forget_mae": mae(preds["test_forget"], ages[fs.test_forget]),
                "test_mae": mae(preds["test"], ages[ctx.split.test]),
                "w1_to_retrain": distance,
                "w1_over_floor": (distance / floor) if distance is not None and floor > 0 else None,
                "w1_over_original": (distance / w1_original) if distance is not None else None,
                "mia_forget": attack["member_rate"], "mia_auc": attack["auc"],
                "seconds": trained.seconds,
                "seconds_over_retrain": trained.seconds / retrain.seconds,
                "noise_floor_w1": floor,
            })
    df = pd.DataFrame(rows)
    df.attrs["noise_floor_w1"] = float(np.nanmean(floors)) if with_noise_floor else None
    df.attrs["config"] = {"forget": str(fs.spec), "methods": methods, "seeds": seeds,
                          "profile": ctx.profile.name, "data": ctx.data.source,
                          "data_root": str(ctx.data.root), "device": ctx.device.type,
                          "forget_size": int(len(fs.forget)), "retain_size": int(len(fs.retain)),
                          "test_forget_size": int(len(fs.test_forget)),
                          "test_retain_size": int(len(fs.test_retain))}
    return df


def summarize(df: pd.DataFrame, columns: Sequence[str] = METRIC_COLUMNS) -> pd.DataFrame:
    """Mean and 95% interval half-width of each metric per method (columns ``X`` and ``X_ci95``)."""
    out = []
    for (forget, method), group in df.groupby(["forget", "method"], sort=False):
        row = {"forget": forget, "method": method, "seeds": len(group)}
        for col in columns:
            if col in group:
                stats = mean_ci95(pd.to_numeric(group[col], errors="coerce").tolist())
                row[col], row[f"{col}_ci95"] = stats["mean"], stats["ci95"]
        out.append(row)
    return pd.DataFrame(out)


def _clean(value):
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def experiment_to_json(df: pd.DataFrame, path) -> dict:
    """Write ``{"config", "results", "noise_floor_w1"}`` (the CLI contract) atomically.

    With more than one seed it adds ``summary`` and ``comparisons``: means over seeds and
    differences between methods paired by seed, each with its 95% interval (``stats``).
    """
    payload = {"config": df.attrs.get("config", {}),
               "results": [{k: _clean(v) for k, v in row.items()} for row in df.to_dict("records")],
               "noise_floor_w1": _clean(df.attrs.get("noise_floor_w1"))}
    if len(df) and df["seed"].nunique() > 1:
        from .stats import seed_comparisons, seed_summary

        payload["summary"] = [{k: _clean(v) for k, v in row.items()} for row in seed_summary(df)]
        payload["comparisons"] = [{k: _clean(v) for k, v in row.items()}
                                  for row in seed_comparisons(df)]
    if path is not None:
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w") as handle:
            json.dump(payload, handle, indent=2)
        os.replace(tmp, path)
    return payload
