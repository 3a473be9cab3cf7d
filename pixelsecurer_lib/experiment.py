"""Experiments and the one home of comparisons (chapters 08, 09 and 10).

``run_experiment(forget, methods, seeds)``: for each seed s, the original model A(D) and the
retrained model A(D_r) trained with seed s, every method applied to that original, and a second
retrained model with seed s + ``NOISE_FLOOR_OFFSET`` for the noise floor. Each row of the tidy
table is one (method, seed) with its MAE on the four parts, its W1 to the retrained model on
D_f, the membership-inference member rate on D_f, and the wall time the method took. A value
that does not apply (W1 of the retrained model to itself) is NaN.

``run_experiments({label: forget, ...})`` stacks several such tables with a ``range`` column,
and ``by_method(table, column)`` pivots one measurement to a method x forget-set table: the
comparisons every results chapter makes.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd

from .metrics import mae, mean_ci95, membership_inference, w1
from .session import ChapterContext, setup_chapter
from .unlearning import METHODS

ALL_METHODS = ("original", "retrain", "finetune", "amnesiac", "blindspot", "neggrad")
UNLEARNING_METHODS = ("finetune", "amnesiac", "blindspot", "neggrad")   # they edit A(D)
DEFAULT_METHODS = ("original", "retrain", "finetune", "amnesiac", "blindspot")
VALID_METHODS = ("original",) + tuple(METHODS)
NOISE_FLOOR_OFFSET = 1000     # the second retrained model of the noise floor: seed s + 1000
METRIC_COLUMNS = ("retain_mae", "forget_mae", "test_retain_mae", "test_forget_mae",
                  "w1_to_retrain", "w1_over_floor", "w1_over_original", "mia_forget", "mia_auc",
                  "seconds", "seconds_over_retrain")


def parse_methods(methods: Union[str, Sequence[str], None]) -> List[str]:
    """A method list (comma-separated text or a sequence); ValueError naming unknown ones."""
    if methods is None:
        return list(DEFAULT_METHODS)
    if isinstance(methods, str):
        methods = methods.split(",")
    names = [m.strip().lower() for m in methods if m.strip()]
    if not names:
        raise ValueError(f"no method given: expected some of {', '.join(VALID_METHODS)}")
    for name in names:
        if name not in VALID_METHODS:
            raise ValueError(f"unknown method {name!r}: expected one of {', '.join(VALID_METHODS)}")
    return list(dict.fromkeys(names))


def parse_seeds(seeds: Union[int, Iterable[int]]) -> List[int]:
    """A seed count (seeds 0..n-1) or a list of seeds; ValueError for none or a negative one."""
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValueError(f"seeds={seeds}: expected a positive count or a list of seeds")
        return list(range(int(seeds)))
    out = [int(s) for s in seeds]
    if not out or min(out) < 0:
        raise ValueError(f"seeds={seeds!r}: expected a non-empty list of non-negative seeds")
    return out


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


def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN where it is undefined (a zero or NaN denominator)."""
    if not np.isfinite(numerator) or not np.isfinite(denominator) or denominator <= 0:
        return float("nan")
    return numerator / denominator


def _row(ctx: ChapterContext, fs, method: str, seed: int, trained, preds, preds_retrain,
         w1_original: float, floor: float, retrain_seconds: float) -> dict:
    """One row of the tidy table: the measurements of one method at one seed."""
    ages = ctx.data.ages
    losses = {k: np.abs(preds[k] - ages[idx]) for k, idx in
              (("retain", fs.retain), ("forget", fs.forget), ("test", ctx.split.test))}
    attack = membership_inference(losses["retain"], losses["test"], losses["forget"], seed=seed)
    distance = float("nan") if method == "retrain" else w1(preds["forget"], preds_retrain["forget"])
    return {
        "forget": str(fs.spec), "method": method, "seed": seed,
        "retain_mae": mae(preds["retain"], ages[fs.retain]),
        "forget_mae": mae(preds["forget"], ages[fs.forget]),
        "test_retain_mae": mae(preds["test_retain"], ages[fs.test_retain]),
        "test_forget_mae": mae(preds["test_forget"], ages[fs.test_forget]),
        "test_mae": mae(preds["test"], ages[ctx.split.test]),
        "w1_to_retrain": distance,
        "w1_over_floor": _ratio(distance, floor),
        "w1_over_original": _ratio(distance, w1_original),
        "mia_forget": attack["member_rate"], "mia_auc": attack["auc"],
        "seconds": trained.seconds,
        "seconds_over_retrain": _ratio(trained.seconds, retrain_seconds),
        "noise_floor_w1": floor,
    }


def run_experiment(forget, methods=None, seeds: Union[int, Iterable[int]] = 1, profile=None,
                   data=None, ctx: Optional[ChapterContext] = None, device=None,
                   with_noise_floor: bool = True, progress: bool = True) -> pd.DataFrame:
    """Run ``methods`` on the forget set ``forget`` for each seed; one row per method x seed.

    ``forget`` is a spec (``"age:0-30"``, a parsed ForgetSpec) or a ForgetSet; ``methods`` a
    list or comma-separated text; ``seeds`` a count (seeds 0..n-1) or a list. ``data`` is a
    path to an AgeDB folder, ``"synthetic"`` for the synthetic set, or None for
    ``PIXELSECURER_AGEDB`` if set. ``df.attrs`` holds the noise floor and the configuration.
    """
    methods = parse_methods(methods)
    seeds = parse_seeds(seeds)
    if ctx is None:
        ctx = setup_chapter(seed=seeds[0], load_data=True, profile=profile, device=device,
                            data_root=data, progress=progress, verbose=False)
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
            if method in ("retrain", "original"):
                preds = preds_retrain if method == "retrain" else preds_original
            else:
                preds = predictions_on_parts(ctx, trained, fs)
            rows.append(_row(ctx, fs, method, seed, trained, preds, preds_retrain, w1_original,
                             floor, retrain.seconds))
    df = pd.DataFrame(rows)
    df.attrs["noise_floor_w1"] = float(np.nanmean(floors)) if with_noise_floor else float("nan")
    df.attrs["config"] = {"forget": str(fs.spec), "methods": methods, "seeds": seeds,
                          "profile": ctx.profile.name, "data": ctx.data.source,
                          "data_fingerprint": ctx.data.fingerprint,
                          "data_root": str(ctx.data.root), "device": ctx.device.type,
                          "forget_size": int(len(fs.forget)), "retain_size": int(len(fs.retain)),
                          "test_forget_size": int(len(fs.test_forget)),
                          "test_retain_size": int(len(fs.test_retain))}
    return df


def stack_runs(runs: Mapping[str, pd.DataFrame], key: str = "range") -> pd.DataFrame:
    """Several experiment tables as one, labelled by ``key`` (e.g. the forget range's name)."""
    return pd.concat([df.assign(**{key: label}) for label, df in runs.items()], ignore_index=True)


def run_experiments(forget_sets: Mapping[str, object], methods=None, seeds=1,
                    ctx: Optional[ChapterContext] = None, **kwargs) -> pd.DataFrame:
    """``run_experiment`` for each ``{label: forget spec}``, stacked with a ``range`` column.

    ``df.attrs["noise_floor_w1"]`` maps each label to its noise floor.
    """
    runs = {label: run_experiment(spec, methods=methods, seeds=seeds, ctx=ctx, **kwargs)
            for label, spec in forget_sets.items()}
    table = stack_runs(runs)
    table.attrs["noise_floor_w1"] = {label: df.attrs["noise_floor_w1"] for label, df in runs.items()}
    table.attrs["config"] = {label: df.attrs["config"] for label, df in runs.items()}
    return table


def by_method(table: pd.DataFrame, column: str, methods: Sequence[str] = ALL_METHODS,
              key: str = "range") -> pd.DataFrame:
    """One measurement as a table: a row per method (in ``methods`` order), a column per
    value of ``key`` (in order of first appearance), the mean over seeds in each cell."""
    wide = table.pivot_table(index="method", columns=key, values=column, aggfunc="mean",
                             dropna=False)
    rows = [m for m in methods if m in wide.index]
    return wide.reindex(index=rows, columns=list(dict.fromkeys(table[key])))


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
    """A JSON value: NaN and infinities become null, NumPy scalars plain numbers."""
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def check_output_path(path, option: str = "--json") -> Path:
    """Refuse, before any work, an output file that could not be written at the end: its
    folder must exist and be writable, and the path must not be a folder."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise ValueError(f"{option} {path}: is a folder; expected a file name")
    parent = path.parent
    if not parent.is_dir():
        raise ValueError(f"{option} {path}: folder {parent} does not exist; "
                         "expected an existing folder")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"{option} {path}: folder {parent} is not writable")
    return path


def experiment_to_json(df: pd.DataFrame, path) -> dict:
    """Write ``{"config", "results", "noise_floor_w1"}`` (the CLI contract) atomically.

    With more than one seed it adds ``summary`` and ``comparisons``: means over seeds and
    differences between methods paired by seed, each with its 95% interval (``stats``).
    """
    from ._io import atomic_path

    payload = {"config": df.attrs.get("config", {}),
               "results": [{k: _clean(v) for k, v in row.items()} for row in df.to_dict("records")],
               "noise_floor_w1": _clean(df.attrs.get("noise_floor_w1"))}
    if len(df) and df["seed"].nunique() > 1:
        from .stats import seed_comparisons, seed_summary

        payload["summary"] = [{k: _clean(v) for k, v in row.items()} for row in seed_summary(df)]
        payload["comparisons"] = [{k: _clean(v) for k, v in row.items()}
                                  for row in seed_comparisons(df)]
    if path is not None:
        with atomic_path(Path(path)) as tmp:
            tmp.write_text(json.dumps(payload, indent=2))
    return payload
