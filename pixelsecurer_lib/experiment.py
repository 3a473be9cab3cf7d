"""Experiments: the tidy table of every method's measurements, and its JSON (chapters 08-10).

``run_experiment(forget, methods, seeds)``: for each seed s, the original model A(D) and the
retrained model A(D_r) trained with seed s, every method applied to that original, and a second
retrained model with seed s + ``NOISE_FLOOR_OFFSET`` for the noise floor. Each row of the tidy
table is one (method, seed) with its MAE on the four parts, its W1 to the retrained model on
D_f, the membership-inference member rate on D_f, and the wall time the method took. A value
that does not apply (W1 of the retrained model to itself) is NaN.

``run_experiments({label: forget, ...})`` stacks several such tables with a ``range`` column,
and ``by_method(table, column)`` pivots one measurement to a method x forget-set table.
``results_payload`` is the one builder of the result JSON (``experiment`` and ``sweep``); the
statistics over seeds in it come from :mod:`pixelsecurer_lib.stats`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd

from .metrics import mae, membership_inference, w1
from .session import ChapterContext, setup_chapter
from .unlearning import names as method_names

MAX_SEED = 2 ** 31 - 1        # seeds are passed to torch and NumPy generators
MAX_SEEDS = 10_000            # more seeds than any study here needs; refused beyond
NOISE_FLOOR_OFFSET = 1000     # the second retrained model of the noise floor: seed s + 1000
METRIC_COLUMNS = ("retain_mae", "forget_mae", "test_retain_mae", "test_forget_mae",
                  "w1_to_retrain", "w1_over_floor", "w1_over_original", "mia_forget", "mia_auc",
                  "seconds", "seconds_over_retrain")


def parse_methods(methods: Union[str, Sequence[str], None]) -> List[str]:
    """A method list (comma-separated text or a sequence); ValueError naming unknown ones."""
    valid = method_names()
    if methods is None:
        return method_names(default_only=True)
    if isinstance(methods, str):
        methods = methods.split(",")
    names = [m.strip().lower() for m in methods if m.strip()]
    if not names:
        raise ValueError(f"no method given: expected some of {', '.join(valid)}")
    for name in names:
        if name not in valid:
            raise ValueError(f"unknown method {name!r}: expected one of {', '.join(valid)}")
    return list(dict.fromkeys(names))


def parse_seeds(seeds: Union[int, str, Iterable[int]]) -> List[int]:
    """The one seed parser: a count n (seeds 0..n-1; also as text, as the CLI passes it) or a
    list of seeds. ValueError for no seed, a negative or non-integer one, a count above
    ``MAX_SEEDS`` or a seed above ``MAX_SEED``."""
    if isinstance(seeds, str):
        text = seeds.strip()
        if not text.isdigit() or not 1 <= int(text) <= MAX_SEEDS:
            raise ValueError(f"{seeds!r}: expected a count of seeds from 1 to {MAX_SEEDS}")
        seeds = int(text)
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        if not 1 <= seeds <= MAX_SEEDS:
            raise ValueError(f"seeds={seeds}: expected a count from 1 to {MAX_SEEDS} "
                             "or a list of seeds")
        return list(range(int(seeds)))
    out = []
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
                or not 0 <= seed <= MAX_SEED:
            raise ValueError(f"seed {seed!r}: expected a whole number from 0 to {MAX_SEED}")
        out.append(int(seed))
    if not out or len(out) > MAX_SEEDS:
        raise ValueError(f"seeds {seeds!r}: expected from 1 to {MAX_SEEDS} seeds")
    return list(dict.fromkeys(out))


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


def _row(ctx: ChapterContext, forget_set, method: str, seed: int, trained, preds,
         reference, w1_original: float, floor: float) -> dict:
    """One row of the tidy table: the measurements of one method at one seed against the
    retrained ``reference`` (a TrainedModel and its predictions). The distance of the reference
    to itself does not apply (NaN)."""
    ages = ctx.data.ages
    losses = {k: np.abs(preds[k] - ages[idx]) for k, idx in
              (("retain", forget_set.retain), ("forget", forget_set.forget),
               ("test", ctx.split.test))}
    attack = membership_inference(losses["retain"], losses["test"], losses["forget"], seed=seed)
    reference_model, reference_preds = reference
    distance = (float("nan") if trained.key == reference_model.key
                else w1(preds["forget"], reference_preds["forget"]))
    return {
        "forget": str(forget_set.spec), "method": method, "seed": seed,
        "retain_mae": mae(preds["retain"], ages[forget_set.retain]),
        "forget_mae": mae(preds["forget"], ages[forget_set.forget]),
        "test_retain_mae": mae(preds["test_retain"], ages[forget_set.test_retain]),
        "test_forget_mae": mae(preds["test_forget"], ages[forget_set.test_forget]),
        "test_mae": mae(preds["test"], ages[ctx.split.test]),
        "w1_to_retrain": distance,
        "w1_over_floor": _ratio(distance, floor),
        "w1_over_original": _ratio(distance, w1_original),
        "mia_forget": attack["member_rate"], "mia_auc": attack["auc"],
        "seconds": trained.seconds,
        "seconds_over_retrain": _ratio(trained.seconds, reference_model.seconds),
        "noise_floor_w1": floor,
    }


def run_experiment(forget, methods=None, seeds: Union[int, Iterable[int]] = 1, profile=None,
                   data_root=None, ctx: Optional[ChapterContext] = None, device=None,
                   with_noise_floor: bool = True, progress: bool = True) -> pd.DataFrame:
    """Run ``methods`` on the forget set ``forget`` for each seed; one row per method x seed.

    ``forget`` is a forget spec (``"age:0-30"``, a parsed ForgetSpec) or a ForgetSet;
    ``methods`` a list or comma-separated text (default: the registry's default comparison);
    ``seeds`` a count (seeds 0..n-1) or a list. ``data_root`` is an AgeDB folder,
    ``"synthetic"`` for the synthetic set, or None for ``PIXELSECURER_AGEDB`` if set (used only
    without ``ctx``). ``df.attrs`` holds the noise floor and the configuration.
    """
    methods = parse_methods(methods)
    seeds = parse_seeds(seeds)
    if ctx is None:
        ctx = setup_chapter(seed=seeds[0], load_data=True, profile=profile, device=device,
                            data_root=data_root, progress=progress, verbose=False)
    forget_set = ctx.forget_set(forget)
    rows, floors = [], []
    for seed in seeds:
        retrained = ctx.retrained(forget_set, seed)
        reference = (retrained, predictions_on_parts(ctx, retrained, forget_set))
        preds_original = predictions_on_parts(ctx, ctx.original(seed), forget_set)
        floor = noise_floor(ctx, forget_set, seed) if with_noise_floor else float("nan")
        floors.append(floor)
        w1_original = w1(preds_original["forget"], reference[1]["forget"])
        for method in methods:
            trained = ctx.unlearned(method, forget_set, seed)
            preds = predictions_on_parts(ctx, trained, forget_set)
            rows.append(_row(ctx, forget_set, method, seed, trained, preds, reference,
                             w1_original, floor))
    df = pd.DataFrame(rows)
    df.attrs["noise_floor_w1"] = float(np.nanmean(floors)) if with_noise_floor else float("nan")
    df.attrs["config"] = experiment_config(ctx, forget_set, methods, seeds)
    return df


def experiment_config(ctx: ChapterContext, forget_set, methods, seeds) -> Dict:
    """What an experiment ran on: forget spec, methods, seeds, profile, the data's identity
    (source, fingerprint, folder), device and the sizes of the four parts."""
    return {"forget": str(forget_set.spec), "methods": list(methods), "seeds": list(seeds),
            "profile": ctx.profile.name, "data": ctx.data.source,
            "data_fingerprint": ctx.data.fingerprint, "data_root": str(ctx.data.root),
            "device": ctx.device.type, "forget_size": int(len(forget_set.forget)),
            "retain_size": int(len(forget_set.retain)),
            "test_forget_size": int(len(forget_set.test_forget)),
            "test_retain_size": int(len(forget_set.test_retain))}


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


def by_method(table: pd.DataFrame, column: str, methods: Optional[Sequence[str]] = None,
              key: str = "range") -> pd.DataFrame:
    """One measurement as a table: a row per method (in ``methods`` order, default the
    registry's), a column per value of ``key`` (in order of first appearance), the mean over
    seeds in each cell."""
    wide = table.pivot_table(index="method", columns=key, values=column, aggfunc="mean",
                             dropna=False)
    rows = [m for m in (methods or method_names()) if m in wide.index]
    return wide.reindex(index=rows, columns=list(dict.fromkeys(table[key])))


def summarize(df: pd.DataFrame, metrics: Sequence[str] = METRIC_COLUMNS) -> pd.DataFrame:
    """Mean over seeds with its 95% t interval, per forget set, method and metric: the one
    summary schema (``forget``, ``method``, ``metric``, ``mean``, ``ci_low``, ``ci_high``,
    ``n``) of ``stats.seed_summary`` as a DataFrame (intervals NaN with one seed)."""
    from .stats import seed_summary

    return pd.DataFrame(seed_summary(df, metrics))


def _clean(value):
    """A JSON value: NaN and infinities become null, NumPy scalars plain numbers."""
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def clean_rows(rows: Iterable[Mapping]) -> List[Dict]:
    """Rows as JSON values (``_clean`` on every value)."""
    return [{k: _clean(v) for k, v in row.items()} for row in rows]


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


def results_payload(config: Dict, rows: Sequence[Mapping], floor_per_spec: bool = False) -> Dict:
    """The result JSON of ``experiment`` and ``sweep`` alike: ``config``, ``results`` (one row
    per forget spec x seed x method), ``noise_floor_w1`` (mean over seeds: one number, or with
    ``floor_per_spec`` one per forget spec, as a sweep has several) and, with several seeds, ``summary`` and ``comparisons``
    (``stats``: means over seeds and differences paired by seed, with 95% intervals)."""
    from .stats import seed_comparisons, seed_summary

    results = clean_rows(rows)
    df = pd.DataFrame(results)
    floors = {}
    if len(df):
        for spec, group in df.groupby("forget", sort=False):
            per_seed = pd.to_numeric(group.groupby("seed")["noise_floor_w1"].first(),
                                     errors="coerce")
            floors[spec] = _clean(float(np.nanmean(per_seed)) if per_seed.notna().any()
                                  else float("nan"))
    payload = {"config": dict(config), "results": results,
               "noise_floor_w1": floors if floor_per_spec else next(iter(floors.values()), None)}
    if len(df) and df["seed"].nunique() > 1:
        payload["summary"] = clean_rows(seed_summary(df))
        payload["comparisons"] = clean_rows(seed_comparisons(df))
    return payload


def experiment_to_json(df: pd.DataFrame, path) -> dict:
    """The result JSON of ``run_experiment``'s table (``results_payload``), written atomically
    to ``path`` unless it is None."""
    from ._io import atomic_path

    payload = results_payload(df.attrs.get("config", {}), df.to_dict("records"))
    if path is not None:
        with atomic_path(Path(path)) as tmp:
            tmp.write_text(json.dumps(payload, indent=2))
    return payload
