"""bench/REPORT.md from bench/results.json: one function per section of the report."""
from __future__ import annotations

from pathlib import Path

from pixelsecurer_lib._io import atomic_path
from pixelsecurer_lib.anchors import REFERENCE_CODE, SLIDES
from sections import BOOK_BUDGET_S, METHODS, REPORT


def fmt(value, digits=2):
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def pm(rows: dict, method: str, metric: str, digits=2):
    """Mean ± 95% half-width of ``metric`` for ``method`` from summary rows keyed by
    (method, metric) (the one summary schema, ``psl.experiment.summarize``)."""
    row = rows.get((method, metric))
    if row is None or row["mean"] is None or row["mean"] != row["mean"]:
        return "–"
    half = row["mean"] - row["ci_low"]
    if half != half:                                   # one seed: no interval
        return f"{row['mean']:.{digits}f}"
    return f"{row['mean']:.{digits}f} ± {half:.{digits}f}"


def experiment_summary(results: list) -> dict:
    """Summary rows (``psl.experiment.summarize``) of an experiment's result rows, keyed by
    (method, metric)."""
    import pandas as pd

    from pixelsecurer_lib.experiment import summarize

    return {(r["method"], r["metric"]): r
            for r in summarize(pd.DataFrame(results)).to_dict("records")}


def _over_retrain(rows: dict, method: str, metric: str):
    """The method's mean of ``metric`` divided by the retrained model's."""
    mine, retrain = rows.get((method, metric)), rows.get(("retrain", metric))
    if mine is None or retrain is None or not retrain["mean"]:
        return None
    return mine["mean"] / retrain["mean"]


def counted_ratio(method: str, profile: str, cfg: dict):
    """Images a method trains on ÷ those of retraining (``psl.unlearning.cost_ratio``)."""
    if method == "original":
        return None
    from pixelsecurer_lib.config import get_profile
    from pixelsecurer_lib.unlearning import cost_ratio

    return cost_ratio(method, get_profile(profile), cfg["forget_size"], cfg["retain_size"])


def provenance_line(p: dict) -> str:
    dirty = " (with uncommitted changes)" if p.get("uncommitted_changes") else ""
    return (f"Provenance: commit `{p.get('commit')}`{dirty}, pixelsecurer {p.get('version')}, "
            f"{p.get('date')}, {p.get('machine')}; command `{p.get('command')}`.")


def shown_comparison(r: dict) -> bool:
    """The comparisons the report prints (all are in results.json)."""
    if r["metric"] == "w1_to_retrain":
        return r["b"] == "noise_floor" or "original" not in (r["a"], r["b"])
    return "retrain" in (r["a"], r["b"])


def seeds_report(x) -> list:
    if not x:
        return []
    from pixelsecurer_lib.stats import verdict

    cfg = x["config"]
    lines = [f"## Comparisons over {len(cfg['seeds'])} seeds ({cfg['profile']} profile, paired by seed)",
             "", provenance_line(x["provenance"]), "",
             "Means with 95% Student t intervals over seeds; differences a − b paired by seed "
             "(same original and retrained models), 95% paired t interval; *distinguishable* when "
             "the interval excludes 0 (`pixelsecurer_lib/stats.py` says why t, not bootstrap). "
             "`noise_floor` is W1 between two retrained models of different seeds, per seed.", ""]
    for forget in cfg["forgets"]:
        lines += [f"### Forget `{forget}`", "",
                  "| method | W1 to retrain | retain MAE | forget MAE |", "|---|---|---|---|"]
        rows = {(r["method"], r["metric"]): r for r in x["summary"] if r["forget"] == forget}
        for method in list(cfg["methods"]) + ["noise_floor"]:
            cells = []
            for metric in ("w1_to_retrain", "retain_mae", "forget_mae"):
                r = rows.get((method, metric))
                cells.append("–" if r is None else f"{r['mean']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]")
            if any(c != "–" for c in cells):
                lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines += ["", "| metric | a | b | mean a − b | 95% interval | verdict |", "|---|---|---|---|---|---|"]
        for r in x["comparisons"]:
            if r["forget"] != forget or not shown_comparison(r):
                continue
            lines.append(f"| {r['metric']} | {r['a']} | {r['b']} | {r['mean_diff']:+.2f} | "
                         f"[{r['ci_low']:+.2f}, {r['ci_high']:+.2f}] | {verdict(r)} |")
        lines += ["", "Shown: W1 between the unlearning methods and of every model against the "
                  "noise floor; MAE of each method against retraining. Every comparison is in "
                  "`bench/results.json`.", ""]
    t = x.get("timing", {})
    lines += [f"{t.get('tasks_run')} tasks run on {t.get('engine')} in {t.get('wall_seconds', 0) / 60:.1f} min "
              f"({t.get('tasks_resumed')} resumed from the journal).", ""]
    return lines


def audit_report(a) -> list:
    if not a:
        return []
    lines = [f"## Per-example audit (K = {a['k']} models per group, {a['profile']} profile)", "",
             provenance_line(a["provenance"]), "",
             "Per forget image, a Welch t test between the method's K predictions and the K "
             "retrained models' predictions; Benjamini–Hochberg at q = 0.05 over the images of "
             "D_f. `noise_floor` tests K other retrained models (seeds + 1000): what chance flags.", "",
             "| forget | method | exposed images | share of D_f | median abs. difference (years) |",
             "|---|---|---|---|---|"]
    for r in a["scores"]:
        lines.append(f"| {r['forget']} | {r['method']} | {r['exposed']} / {r['examples']} | "
                     f"{r['exposed_share']:.3f} | {r['median_abs_diff']:.2f} |")
    return lines + [""]


def ain_report(a) -> list:
    if not a:
        return []
    import pandas as pd

    frame = pd.DataFrame(a["rows"])
    lines = [f"## Anamnesis index ({a['profile']} profile, {a['seeds']} seeds)", "",
             provenance_line(a["provenance"]), "",
             "AIN = steps for the unlearned model to relearn D_f (fine-tuning on D, Adam 1e-3, "
             "batch 256, at most 10 epochs, until the validation forget MAE is within 5% of the "
             "original's) ÷ the same for the retrained model (Tarun et al.'s definition). Near 1: "
             "forgotten as deeply as retraining; near 0: the knowledge comes back at once.", "",
             "| forget | method | AIN per seed | mean | unlearned steps per seed | retrained steps per seed | target reached |",
             "|---|---|---|---|---|---|---|"]
    for (forget, method), g in frame.groupby(["forget", "method"], sort=False):
        reached = "all" if g["unlearned_reached"].all() and g["retrained_reached"].all() else "not all (capped)"
        lines.append(f"| {forget} | {method} | {', '.join(f'{v:.3f}' for v in g['ain'])} | "
                     f"{g['ain'].mean():.3f} | {', '.join(str(int(v)) for v in g['unlearned_steps'])} | "
                     f"{', '.join(str(int(v)) for v in g['retrained_steps'])} | {reached} |")
    return lines + [""]


def sweep_report(w) -> list:
    if not w:
        return []
    lines = ["## Sweep throughput: sequential vs local Ray (smoke profile, cold caches)", "",
             provenance_line(w["provenance"]), "",
             "One forget set (age:0-30), 3 seeds, 6 methods = 18 tasks, each run with an empty "
             "model cache, so every task trains what it needs.", "",
             "| engine | threads per task | wall time (s) | tasks per minute |", "|---|---|---|---|"]
    for key, label, threads in (("sequential", "sequential (one process)", 1),
                                ("sequential_2_threads", "sequential (one process)", 2),
                                ("ray", "Ray, 2 local workers", 1)):
        t = w.get(key)
        if t:
            lines.append(f"| {label} | {threads} | {t['wall_seconds']:.1f} | {t['tasks_per_minute']:.1f} |")
    lines += ["", f"Ray's JSON equals the sequential one (one thread each) timings aside: "
              f"{w['identical_timings_aside']}. The runs are short and the machine may be shared "
              "(`make bench` under `nice`): rates move with the load of other jobs, so compare "
              "rows of one report only.", ""]
    return lines


def pipeline_report(p) -> list:
    """The data pipeline: generation, decoding, cached loads."""
    if not p:
        return []
    lines = ["## Data pipeline (synthetic default set, 32 px working resolution)", "",
             "| measurement | value |", "|---|---|",
             f"| generate the synthetic set ({p['synth_images']} images) | {p['synth_generate_s']:.1f} s |",
             f"| first decode to the cached uint8 tensor | {p['first_decode_s']:.1f} s ({p['decode_images_per_s']:.0f} images/s) |",
             f"| load the cached tensor afterwards | {p['cached_load_s']:.3f} s |",
             f"| training epoch (4,096 images, cpu-profile model) from the cached tensor | {p['epoch_4096_from_cache_s']:.2f} s |",
             f"| same epoch over a tensor already in memory | {p['epoch_4096_in_memory_s']:.2f} s |",
             f"| ratio cache / memory | {p['cache_over_memory']:.3f} |", ""]
    return lines


def epochs_report(e) -> list:
    """Training throughput per profile."""
    if not e:
        return []
    lines = ["## Training throughput per profile", "",
             "| profile | device | training images | epoch (s) | images/s | epochs | one full training (s, est.) |",
             "|---|---|---|---|---|---|---|"]
    for name in ("smoke", "cpu", "paper"):
        r = e[name]
        note = f" (extrapolated from {r['extrapolated_from']})" if r["extrapolated_from"] < r["train_images"] else ""
        lines.append(f"| {name} | {r['device']} | {r['train_images']} | {r['epoch_s']:.1f}{note} | "
                     f"{r['images_per_s']:.0f} | {r['epochs']} | {r['estimated_training_s']:.0f} |")
    lines += ["", f"A cached model loads in {e['cached_model_load_s']:.3f} s.", ""]
    return lines


def experiments_report(x) -> list:
    """The unlearning experiments, one table per forget set, then the published anchors."""
    if not x:
        return []
    lines = [f"## Unlearning experiments ({x['profile']} profile, synthetic data, "
             f"{x['seeds']} seeds, means ± 95% interval)", "",
             "W1 is measured on D_f against the retrained model of the same seed; the noise "
             "floor is W1 between two retrained models that differ only in seed. Ratios "
             "`÷ retrain` divide by the retrained model's value of the same seed.", ""]
    for forget, payload in x["forgets"].items():
        rows = experiment_summary(payload["results"])
        cfg = payload["config"]
        lines += [f"### Forget `{forget}`  (|D_f| = {cfg['forget_size']}, |D_r| = {cfg['retain_size']}; "
                  f"noise floor W1 = {fmt(payload['noise_floor_w1'])})", "",
                  "| method | W1 to retrain | W1 ÷ noise floor | W1 ÷ original's W1 | retain MAE | forget MAE | "
                  "test retain MAE | test forget MAE | retain MAE ÷ retrain | forget MAE ÷ retrain | "
                  "MIA member rate on D_f | wall time (s) | time ÷ retrain | counted work ÷ retrain |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for method in METHODS:
            if (method, "retain_mae") not in rows:
                continue
            cells = [pm(rows, method, m) for m in ("w1_to_retrain", "w1_over_floor",
                                                   "w1_over_original", "retain_mae", "forget_mae",
                                                   "test_retain_mae", "test_forget_mae")]
            cells += [fmt(_over_retrain(rows, method, m)) for m in ("retain_mae", "forget_mae")]
            cells += [pm(rows, method, "mia_forget"), pm(rows, method, "seconds", 1),
                      pm(rows, method, "seconds_over_retrain"),
                      fmt(counted_ratio(method, x["profile"], cfg))]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines + anchors_report()


def anchors_report() -> list:
    """The published numbers (pixelsecurer_lib.anchors), in their own tables."""
    lines = ["## Published anchors (not computed here)", "",
             "These are the figures of others, on real AgeDB with the full recipe; they are "
             "shown for orientation and are not comparable one to one with the synthetic set.", "",
             f"**{SLIDES.source}** — W1 to the retrained model:", "",
             "| method | forget 0–30 | forget 60–101 |", "|---|---|---|"]
    for method, w1 in SLIDES["w1"].items():
        lines.append(f"| {method} | {w1['0–30']} | {w1['60–101']} |")
    lines += ["", f"**{SLIDES.source}** — losses on retain / forget:", "",
              "| method | retain | forget |", "|---|---|---|"]
    for method, retain in SLIDES["retain_mae"].items():
        lines.append(f"| {method} | {retain} | {SLIDES['forget_mae'][method]} |")
    lines += ["", f"**{REFERENCE_CODE.source}** (forget ≤ 30, one run):", "",
              "| method | W1 to retrain | test MAE retain | test MAE forget |", "|---|---|---|---|"]
    for method, retain in REFERENCE_CODE["test_retain_mae"].items():
        lines.append(f"| {method} | {REFERENCE_CODE['w1'].get(method, '–')} | {retain} | "
                     f"{REFERENCE_CODE['test_forget_mae'][method]} |")
    lines.append("")
    return lines


def timing_report(results: dict) -> list:
    """The cold book build and the fresh-clone `make test`, with per-chapter times."""
    lines = []
    for key, title in (("book", "Cold `make book` (cpu profile, empty cache)"),
                       ("test", "`make test` in a fresh clone (`bash .ci/run`, cold install included)")):
        r = results.get(key)
        if r:
            status = "succeeded" if r["returncode"] == 0 else f"FAILED (exit {r['returncode']})"
            budget = ""
            if key == "book":
                budget = (f" ({r['seconds'] / 60:.1f} min; the budget of 10 min is "
                          f"{'met' if r['seconds'] <= BOOK_BUDGET_S else 'MISSED'})")
            lines += [f"## {title}", "", f"{r['seconds']:.0f} s wall time{budget}; {status}.", ""]
            if r.get("per_chapter_s") and "error" not in r["per_chapter_s"]:
                lines += ["| chapter | execution (s) |", "|---|---|"]
                lines += [f"| {k} | {fmt(v, 1)} |" for k, v in sorted(r["per_chapter_s"].items())]
                lines.append("")
    return lines


def assignment_report(a) -> list:
    """One hand-in of the course assignment, run and graded."""
    if not a:
        return []
    lines = [f"## Course assignment: one hand-in ({a['profile']} profile, {a['cores']} cores, "
             f"{a['date']})", "",
             "| assignment | hand-in run top to bottom, empty cache (s) | `course/grade.py` on it (s) "
             "| score |", "|---|---|---|---|"]
    note = (f"Measured by `{a['command']}` at commit {a['commit']}. "
            if a.get("command") else "")
    for name, r in a.items():
        if isinstance(r, dict):
            lines.append(f"| {name} | {r['hand_in_cold_s']:.0f} | {r['grade_s']:.0f} | "
                         f"{r['score']:g} / {r['possible']:g} |")
    lines += ["", note + "The hand-in is the reference solution executed as a student runs it "
              "(data generated and models trained on first use); the grader's cache is then warm.", ""]
    return lines


def gpu_report(g) -> list:
    """What `make test-gpu` printed, or that it has not run on a GPU."""
    lines = ["## GPU validation (`make test-gpu`)", ""]
    if g:
        lines += [g.get("text", ""), ""]
    else:
        lines += ["Not run on a GPU yet: no device was lent to the session that wrote this "
                  "report. `make test-gpu` was checked in its CPU dry-run mode, and its offline "
                  "install (`make gpu-wheels`, then `bench/install_offline.sh` with pip "
                  "`--no-index`) in a fresh CPython 3.12 environment on the CPU.", ""]
    return lines


ALONE_TARGET_S, ALONE_FIRST_TARGET_S = 120, 30     # issue 14: a chapter alone, cold, on 2 cores


def retry_note(attempts: int, error) -> str:
    """Said of a chapter the headless harness had to run again (jupyter/nbclient#312)."""
    if attempts <= 1:
        return ""
    if error:
        return f" (timed out in all {attempts} runs)"
    return f"timed out {attempts - 1}x in the harness, then ran"


def alone_report(a) -> list:
    """Every chapter opened alone from the wheel, cold (tools/alone.py)."""
    if not a:
        return []
    p = a.get("provenance", {})
    lines = [f"## Each chapter alone, cold ({a['profile']} profile, wheel in a fresh environment, "
             "empty cache)", "",
             f"Wheel and environment: {a['prepare_s']:.0f} s (once). Measured by "
             f"`python bench/run_bench.py --sections alone` at commit {str(p.get('commit'))[:10]}, "
             f"{p.get('date')}, {p.get('machine')}. The release's shipped checkpoints are used "
             "where their spec matches; nothing else is cached. Target (issue 14): about "
             f"{ALONE_TARGET_S} s per chapter on 2 cores, the first printed result (the setup "
             f"cell's line) within {ALONE_FIRST_TARGET_S} s. A headless run could miss a widget "
             "cell's reply until the cell timeout (jupyter/nbclient#312: nbclient writes to the "
             "kernel for an Output widget while it awaits that reply); the chapters now redraw "
             "through display handles instead of interact, and the harness polls in half-second "
             "slices. A run that still times out is run again from an empty folder and cache, "
             "and the error column says so.", "",
             "| chapter | whole chapter (s) | first cell (s) | slowest cell (s) | within target | error |",
             "|---|---|---|---|---|---|"]
    for name, r in a["chapters"].items():
        met = (not r["error"] and r["seconds"] <= ALONE_TARGET_S
               and (r["first_cell_s"] or 0) <= ALONE_FIRST_TARGET_S)
        lines.append(f"| {name} | {r['seconds']:.0f} | {fmt(r['first_cell_s'], 1)} | "
                     f"{fmt(r['slowest_cell_s'], 1)} | {'yes' if met else 'no'} | "
                     f"{(r['error'] or '')[:80]}{retry_note(r.get('attempts', 1), r['error'])} |")
    return lines + [""]


def write_report(results: dict, report: Path = REPORT) -> None:
    lines = ["# PixelSecurer benchmark report", "",
             "Written by `make bench` (`bench/run_bench.py`); raw figures in `bench/results.json`.",
             "A benchmark, not a test: timings vary from run to run and nothing in `make test` "
             "depends on them.", ""]
    m = results.get("machine", {})
    lines += ["## Machine", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in m.items()]
    lines.append("")
    lines += pipeline_report(results.get("pipeline"))
    lines += epochs_report(results.get("epochs"))
    lines += experiments_report(results.get("experiments"))
    lines += timing_report(results)
    lines += seeds_report(results.get("seeds"))
    lines += audit_report(results.get("audit"))
    lines += ain_report(results.get("ain"))
    lines += sweep_report(results.get("sweep"))
    lines += assignment_report(results.get("assignment"))
    lines += alone_report(results.get("alone"))
    lines += gpu_report(results.get("gpu"))
    with atomic_path(report) as tmp:
        tmp.write_text("\n".join(lines))
