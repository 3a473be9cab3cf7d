"""PixelSecurer benchmark: writes bench/REPORT.md and bench/results.json (run by `make bench`).

Sections (all by default; choose with --sections a,b,...):
  pipeline     synthetic generation, first decode, cached-tensor load, epoch from cache vs in memory
  epochs       training epoch time per profile on this machine; cached-model load time
  experiments  cpu-profile experiments for age:0-30, age:60-101, identities:5 with --seeds seeds
  book         wall time of a cold `make book` (cpu profile, empty cache)
  test         wall time of `bash .ci/run` (`make test`) in a fresh clone, cold install included
  seeds        --many-seeds seeds (default 10) of every method on age:0-30 and age:60-101, run
               as a sweep on a local 2-worker Ray, with the paired comparisons of `stats`
  audit        the per-example audit with K = --audit-k models per group (default 8), reusing
               the seeds section's models
  ain          the anamnesis index of every method for --ain-seeds seeds (default 2)
  sweep        tasks per minute of one cold smoke-profile sweep, sequential vs local Ray
Sections seeds, audit, ain and sweep record their provenance (commit, date, machine, command).
`--profile smoke --many-seeds 2 --audit-k 2 --results X --report Y --cache Z` is a quick check
of the code paths (tests/test_bench.py runs the seeds and audit sections that way).
Each section's raw figures are merged into bench/results.json, so sections can be rerun alone;
the report is rebuilt from everything in it. Nothing here is a test: timings vary between runs.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results.json"
REPORT = HERE / "REPORT.md"
SECTIONS = ("pipeline", "epochs", "book", "experiments", "test", "seeds", "audit", "ain", "sweep")
DEFAULT_SECTIONS = ("pipeline", "epochs", "book", "experiments", "test", "seeds", "audit", "sweep",
                    "ain")
SEED_FORGETS = ("age:0-30", "age:60-101")
BOOK_BUDGET_S = 600                       # the cpu-profile book's budget (DESIGN.md)
BENCH_CACHE = ROOT / ".cache" / "bench"   # the cold book build fills it; the experiments reuse it
FORGETS = ("age:0-30", "age:60-101", "identities:5")
METHODS = ("original", "retrain", "finetune", "amnesiac", "blindspot", "neggrad")

SEED_TABLE = {  # the seed slides: W1 to the retrained model, forget 0-30 / 60-101
    "w1": {"original": (6.3929, 8.7661), "amnesiac": (0.6148, 1.6962), "blindspot": (3.4921, 1.9200)},
    "loss_retain_forget": {"retrain": (9.8752, 20.4281), "amnesiac": (9.6447, 20.78454),
                           "blindspot": (9.8752, 18.85484)},
}
REFERENCE_CODE = {  # the reference code's stored AgeDB run, forget <= 30, one run
    "w1": {"original": 2.99, "finetune": 1.62, "amnesiac": 2.33, "blindspot": 1.15},
    "test_mae_retain_forget": {"original": (9.33, 12.77), "retrain": (11.38, 24.31),
                               "finetune": (9.79, 14.83), "amnesiac": (9.81, 17.07),
                               "blindspot": (9.98, 21.63)},
}


def machine() -> dict:
    import torch

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    try:
        mem = [l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")]
        info["memory_gib"] = round(int(mem[0].split()[1]) / 2 ** 20, 1)
    except (OSError, IndexError):
        pass
    return info


def bench_pipeline() -> dict:
    import numpy as np
    import torch

    from pixelsecurer_lib.data import agedb, synthetic
    from pixelsecurer_lib.models import build_model
    from pixelsecurer_lib.training import fit

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PIXELSECURER_CACHE"] = str(Path(tmp) / "cache")
        folder = Path(tmp) / "synth"
        t = time.perf_counter()
        synthetic.generate(folder, seed=0, progress=False)
        out["synth_generate_s"] = time.perf_counter() - t
        out["synth_images"] = sum(1 for _ in folder.iterdir())
        t = time.perf_counter()
        data = agedb.load_folder(folder, image_size=32, source="synthetic", progress=False)
        out["first_decode_s"] = time.perf_counter() - t
        t = time.perf_counter()
        data = agedb.load_folder(folder, image_size=32, source="synthetic", progress=False)
        out["cached_load_s"] = time.perf_counter() - t
        out["decode_images_per_s"] = len(data) / out["first_decode_s"]
        idx = np.arange(len(data))[: 4096]
        cached_images, memory_images = data.images, data.images.clone()
        fit(build_model("allcnn", 0.125), data, idx[:512], epochs=1, lr=0.01, batch_size=128,
            seed=0, device="cpu", progress=False)                  # warm-up, not timed
        timings = {"from_cache": [], "in_memory": []}
        for _ in range(2):                                         # alternate; keep the best
            for label, images in (("from_cache", cached_images), ("in_memory", memory_images)):
                data.images = images
                t = time.perf_counter()
                fit(build_model("allcnn", 0.125), data, idx, epochs=1, lr=0.01, batch_size=128,
                    seed=0, device="cpu", progress=False)
                timings[label].append(time.perf_counter() - t)
        timings = {label: min(values) for label, values in timings.items()}
        out["epoch_4096_from_cache_s"] = timings["from_cache"]
        out["epoch_4096_in_memory_s"] = timings["in_memory"]
        out["cache_over_memory"] = timings["from_cache"] / timings["in_memory"]
    return out


def bench_epochs() -> dict:
    import numpy as np
    import torch

    import pixelsecurer_lib as psl
    from pixelsecurer_lib.models import build_model
    from pixelsecurer_lib.training import fit

    out = {}
    for name in ("smoke", "cpu", "paper"):
        profile = psl.get_profile(name)
        ctx = psl.setup_chapter(profile=name, progress=False, verbose=False)
        train = ctx.split.train
        n = len(train) if name != "paper" else min(len(train), 1024)   # paper: extrapolate
        model = build_model(profile.model, profile.width)
        t = time.perf_counter()
        fit(model, ctx.data, train[:n], epochs=1, lr=profile.lr, batch_size=profile.batch_size,
            seed=0, device=ctx.device, progress=False)
        seconds = (time.perf_counter() - t) * len(train) / n
        out[name] = {"train_images": int(len(train)), "epoch_s": seconds,
                     "images_per_s": len(train) / seconds, "epochs": profile.epochs,
                     "estimated_training_s": seconds * profile.epochs,
                     "extrapolated_from": int(n), "device": ctx.device.type}
    ctx = psl.setup_chapter(profile="smoke", progress=False, verbose=False)
    ctx.original()
    t = time.perf_counter()
    loaded = ctx.original()
    out["cached_model_load_s"] = time.perf_counter() - t
    out["cached_model_from_cache"] = loaded.from_cache
    return out


def bench_experiments(seeds: int, profile: str) -> dict:
    import pixelsecurer_lib as psl
    from pixelsecurer_lib.experiment import experiment_to_json, run_experiment, summarize

    os.environ["PIXELSECURER_CACHE"] = str(BENCH_CACHE)
    ctx = psl.setup_chapter(profile=profile, progress=False, verbose=True)
    out = {"profile": profile, "seeds": seeds, "forgets": {}}
    for forget in FORGETS:
        t = time.perf_counter()
        df = run_experiment(forget, methods=list(METHODS), seeds=seeds, ctx=ctx)
        payload = experiment_to_json(df, None)
        payload["summary"] = json.loads(summarize(df).to_json(orient="records"))
        payload["wall_s"] = time.perf_counter() - t
        out["forgets"][forget] = payload
        print(f"{forget}: done in {payload['wall_s']:.0f} s", flush=True)
    return out


def provenance() -> dict:
    """What produced a section's figures: code version, date, machine, command."""
    import pixelsecurer_lib as psl

    def git(*args):
        proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else None

    m = machine()
    return {"commit": git("rev-parse", "HEAD"), "uncommitted_changes": bool(git("status", "--porcelain")),
            "version": psl.__version__, "date": m["date"],
            "machine": f"{m['cpu']}, {m['cores']} cores, {m.get('memory_gib', '?')} GiB, torch {m['torch']}",
            "command": "python bench/run_bench.py " + " ".join(sys.argv[1:])}


def bench_seeds(seeds: int, profile: str, cache: Path) -> dict:
    """Many seeds of every method, as one sweep on a local 2-worker Ray (one thread each)."""
    from pixelsecurer_lib.sweep import run_sweep

    os.environ["PIXELSECURER_CACHE"] = str(cache)
    journal = cache / f"seeds-{profile}-{seeds}.partial.jsonl"
    payload = run_sweep(SEED_FORGETS, list(METHODS), seeds, profile=profile, device="cpu",
                        engine="ray", num_cpus=2, threads=1, journal=journal)
    payload["provenance"] = provenance()
    return payload


def store_seed_results(payload: dict) -> Path:
    """Ship the seeds section with the library (``pixelsecurer_lib.stored``), so that
    chapter 08 can show it with its provenance, also in Colab where no repository is at hand."""
    from pixelsecurer_lib.stored import save_stored

    keep = {k: payload[k] for k in ("config", "results", "noise_floor_w1", "summary",
                                    "comparisons", "timing", "provenance") if k in payload}
    keep["config"] = {k: v for k, v in keep["config"].items() if k != "data_root"}
    keep["config"]["data"] = "synthetic" if payload["config"].get("data_root") is None else "folder"
    return save_stored("seeds", payload["config"]["profile"], keep)


def bench_audit(k: int, profile: str, cache: Path, store: bool = False) -> dict:
    """The per-example audit with K models per group (models from the seeds section); with
    ``store``, its compact form is kept with the library for chapter 09."""
    import pandas as pd

    import pixelsecurer_lib as psl
    from pixelsecurer_lib.audit import compact_audit, run_audit
    from pixelsecurer_lib.stored import save_stored

    os.environ["PIXELSECURER_CACHE"] = str(cache)
    torch_threads(1)                     # the seeds section trained with one thread per task
    ctx = psl.setup_chapter(profile=profile, device="cpu", progress=False, verbose=False)
    out = {"k": k, "profile": profile, "scores": [], "exposed_by_age": {}}
    all_scores, all_examples = [], []
    for forget in SEED_FORGETS:
        t = time.perf_counter()
        scores, per_example = run_audit(ctx, forget, [m for m in METHODS if m != "retrain"],
                                        seeds=range(k))
        all_scores.append(scores)
        all_examples.append(per_example)
        out["scores"] += json.loads(scores.to_json(orient="records"))
        per_example["decade"] = (per_example["age"] // 10) * 10
        out["exposed_by_age"][forget] = json.loads(
            per_example.groupby(["method", "decade"])["exposed"].mean().reset_index()
            .to_json(orient="records"))
        print(f"audit {forget}: {time.perf_counter() - t:.0f} s", flush=True)
    out["provenance"] = provenance()
    if store:
        stored = compact_audit(pd.concat(all_scores, ignore_index=True),
                               pd.concat(all_examples, ignore_index=True))
        stored.update(config={"k": k, "profile": profile, "data": "synthetic",
                              "forgets": list(SEED_FORGETS)}, provenance=out["provenance"])
        print(f"stored {save_stored('audit', profile, stored)}", flush=True)
    return out


def bench_ain(seeds: int, profile: str, cache: Path) -> dict:
    """AIN of every unlearning method (and the original) per forget range and seed."""
    import pixelsecurer_lib as psl
    from pixelsecurer_lib.anamnesis import methods_anamnesis

    os.environ["PIXELSECURER_CACHE"] = str(cache)
    torch_threads(1)
    ctx = psl.setup_chapter(profile=profile, device="cpu", progress=False, verbose=False)
    rows = []
    for forget in SEED_FORGETS:
        for seed in range(seeds):
            t = time.perf_counter()
            rows += methods_anamnesis(ctx, [m for m in METHODS if m != "retrain"], forget, seed)
            print(f"AIN {forget} seed {seed}: {time.perf_counter() - t:.0f} s", flush=True)
    return {"profile": profile, "seeds": seeds, "rows": rows, "provenance": provenance()}


def bench_sweep(cache: Path) -> dict:
    """Tasks per minute of a cold sweep (smoke profile, 3 seeds, 6 methods, age:0-30):
    sequential in this process vs a local 2-worker Ray, each with an empty model cache."""
    from pixelsecurer_lib.sweep import run_sweep, sequential_payload, without_timings

    out = {}
    runs = {}
    for engine in ("sequential", "ray"):
        folder = cache / f"sweep-{engine}"
        shutil.rmtree(folder, ignore_errors=True)
        os.environ["PIXELSECURER_CACHE"] = str(folder)
        if engine == "sequential":
            runs[engine] = sequential_payload(["age:0-30"], list(METHODS), 3, profile="smoke",
                                              device="cpu", threads=1)
        else:
            runs[engine] = run_sweep(["age:0-30"], list(METHODS), 3, profile="smoke",
                                     device="cpu", engine="ray", num_cpus=2, threads=1)
        out[engine] = runs[engine]["timing"]
    out["identical_timings_aside"] = without_timings(runs["sequential"]) == without_timings(runs["ray"])
    folder = cache / "sweep-sequential-2"
    shutil.rmtree(folder, ignore_errors=True)
    os.environ["PIXELSECURER_CACHE"] = str(folder)
    out["sequential_2_threads"] = sequential_payload(["age:0-30"], list(METHODS), 3,
                                                     profile="smoke", device="cpu",
                                                     threads=2)["timing"]
    out["provenance"] = provenance()
    return out


def torch_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def _timed(cmd, env) -> dict:
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    return {"command": " ".join(cmd), "seconds": time.perf_counter() - t,
            "returncode": proc.returncode, "tail": proc.stdout[-1500:] + proc.stderr[-1500:]}


def bench_book() -> dict:
    shutil.rmtree(BENCH_CACHE, ignore_errors=True)           # cold: no data, no models
    env = dict(os.environ, PIXELSECURER_CACHE=str(BENCH_CACHE), PIXELSECURER_PROFILE="cpu",
               PIXELSECURER_STATIC="1")
    shutil.rmtree(ROOT / "_build" / "bench-book", ignore_errors=True)
    result = _timed([str(ROOT / ".venv/bin/jupyter-book"), "build", "-W", "--keep-going",
                     "--path-output", str(ROOT / "_build" / "bench-book"), "."], env)
    reports = ROOT / "_build" / "bench-book" / "_build" / ".jupyter_cache"
    result["per_chapter_s"] = chapter_times(reports)
    return result


def chapter_times(cache_folder: Path) -> dict:
    """Execution time of each chapter, read from jupyter-cache's records."""
    try:
        from jupyter_cache import get_cache

        cache = get_cache(cache_folder)
        return {Path(r.uri).stem: r.data.get("execution_seconds") for r in cache.list_cache_records()}
    except Exception as exc:  # noqa: BLE001 - the figure is optional
        return {"error": str(exc)}


def bench_test() -> dict:
    """What CI does: a fresh clone of the committed tree, then `bash .ci/run` (cold install)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXELSECURER_")}
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        t = time.perf_counter()
        proc = subprocess.run(["bash", ".ci/run"], cwd=clone, env=env, capture_output=True,
                              text=True)
        total = time.perf_counter() - t
        # the kernels' "running over TCP without encryption" warnings would fill the tail
        log = "\n".join(line for line in (proc.stdout + proc.stderr).splitlines()
                        if "Kernel is running over TCP" not in line)
    return {"command": "git clone + bash .ci/run (make test, cold install)", "seconds": total,
            "returncode": proc.returncode, "tail": log[-3000:]}


def fmt(value, digits=2):
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def pm(row, key, digits=2):
    if row.get(key) is None:
        return "–"
    ci = row.get(f"{key}_ci95")
    return f"{row[key]:.{digits}f} ± {ci:.{digits}f}" if ci is not None else f"{row[key]:.{digits}f}"


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


def write_report(results: dict, report: Path = REPORT) -> None:
    lines = ["# PixelSecurer benchmark report", "",
             "Written by `make bench` (`bench/run_bench.py`); raw figures in `bench/results.json`.",
             "A benchmark, not a test: timings vary from run to run and nothing in `make test` "
             "depends on them.", ""]
    m = results.get("machine", {})
    lines += ["## Machine", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in m.items()]
    lines.append("")
    p = results.get("pipeline")
    if p:
        lines += ["## Data pipeline (synthetic default set, 32 px working resolution)", "",
                  "| measurement | value |", "|---|---|",
                  f"| generate the synthetic set ({p['synth_images']} images) | {p['synth_generate_s']:.1f} s |",
                  f"| first decode to the cached uint8 tensor | {p['first_decode_s']:.1f} s ({p['decode_images_per_s']:.0f} images/s) |",
                  f"| load the cached tensor afterwards | {p['cached_load_s']:.3f} s |",
                  f"| training epoch (4,096 images, cpu-profile model) from the cached tensor | {p['epoch_4096_from_cache_s']:.2f} s |",
                  f"| same epoch over a tensor already in memory | {p['epoch_4096_in_memory_s']:.2f} s |",
                  f"| ratio cache / memory | {p['cache_over_memory']:.3f} |", ""]
    e = results.get("epochs")
    if e:
        lines += ["## Training throughput per profile", "",
                  "| profile | device | training images | epoch (s) | images/s | epochs | one full training (s, est.) |",
                  "|---|---|---|---|---|---|---|"]
        for name in ("smoke", "cpu", "paper"):
            r = e[name]
            note = f" (extrapolated from {r['extrapolated_from']})" if r["extrapolated_from"] < r["train_images"] else ""
            lines.append(f"| {name} | {r['device']} | {r['train_images']} | {r['epoch_s']:.1f}{note} | "
                         f"{r['images_per_s']:.0f} | {r['epochs']} | {r['estimated_training_s']:.0f} |")
        lines += ["", f"A cached model loads in {e['cached_model_load_s']:.3f} s.", ""]
    x = results.get("experiments")
    if x:
        lines += [f"## Unlearning experiments ({x['profile']} profile, synthetic data, "
                  f"{x['seeds']} seeds, means ± 95% interval)", "",
                  "W1 is measured on D_f against the retrained model of the same seed; the noise "
                  "floor is W1 between two retrained models that differ only in seed. Ratios "
                  "`÷ retrain` divide by the retrained model's value of the same seed.", ""]
        for forget, payload in x["forgets"].items():
            rows = {r["method"]: r for r in payload["summary"]}
            cfg = payload["config"]
            retrain = rows.get("retrain", {})
            lines += [f"### Forget `{forget}`  (|D_f| = {cfg['forget_size']}, |D_r| = {cfg['retain_size']}; "
                      f"noise floor W1 = {fmt(payload['noise_floor_w1'])})", "",
                      "| method | W1 to retrain | W1 ÷ noise floor | W1 ÷ original's W1 | retain MAE | forget MAE | "
                      "test retain MAE | test forget MAE | retain MAE ÷ retrain | forget MAE ÷ retrain | "
                      "MIA member rate on D_f | wall time (s) | time ÷ retrain | counted work ÷ retrain |",
                      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
            for method in METHODS:
                r = rows.get(method)
                if not r:
                    continue
                ratio_r = r["retain_mae"] / retrain["retain_mae"] if retrain else None
                ratio_f = r["forget_mae"] / retrain["forget_mae"] if retrain else None
                lines.append(f"| {method} | {pm(r, 'w1_to_retrain')} | {pm(r, 'w1_over_floor')} | "
                             f"{pm(r, 'w1_over_original')} | {pm(r, 'retain_mae')} | {pm(r, 'forget_mae')} | "
                             f"{pm(r, 'test_retain_mae')} | {pm(r, 'test_forget_mae')} | {fmt(ratio_r)} | "
                             f"{fmt(ratio_f)} | {pm(r, 'mia_forget')} | {pm(r, 'seconds', 1)} | "
                             f"{pm(r, 'seconds_over_retrain')} | {fmt(counted_ratio(method, x['profile'], cfg))} |")
            lines.append("")
        lines += ["## Published anchors (not computed here)", "",
                  "These are the figures of others, on real AgeDB with the full recipe; they are "
                  "shown for orientation and are not comparable one to one with the synthetic set.", "",
                  "**Seed slides** — W1 to the retrained model:", "",
                  "| method | forget 0–30 | forget 60–101 |", "|---|---|---|"]
        for method, (a, b) in SEED_TABLE["w1"].items():
            lines.append(f"| {method} | {a} | {b} |")
        lines += ["", "**Seed slides** — losses on retain / forget:", "",
                  "| method | retain | forget |", "|---|---|---|"]
        for method, (a, b) in SEED_TABLE["loss_retain_forget"].items():
            lines.append(f"| {method} | {a} | {b} |")
        lines += ["", "**Reference code's stored AgeDB results** (forget ≤ 30, one run):", "",
                  "| method | W1 to retrain | test MAE retain | test MAE forget |", "|---|---|---|---|"]
        for method, (a, b) in REFERENCE_CODE["test_mae_retain_forget"].items():
            lines.append(f"| {method} | {REFERENCE_CODE['w1'].get(method, '–')} | {a} | {b} |")
        lines.append("")
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
    lines += seeds_report(results.get("seeds"))
    lines += audit_report(results.get("audit"))
    lines += ain_report(results.get("ain"))
    lines += sweep_report(results.get("sweep"))
    g = results.get("gpu")
    lines += ["## GPU validation (`make test-gpu`)", ""]
    if g:
        lines += [g.get("text", ""), ""]
    else:
        lines += ["Not run on a GPU yet: no device was lent to the session that wrote this "
                  "report. `make test-gpu` was checked in its CPU dry-run mode, and its offline "
                  "install (`make gpu-wheels`, then `bench/install_offline.sh` with pip "
                  "`--no-index`) in a fresh CPython 3.12 environment on the CPU.", ""]
    tmp = report.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(report)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default=",".join(DEFAULT_SECTIONS))
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the experiments section")
    parser.add_argument("--many-seeds", type=int, default=10, help="seeds of the seeds section")
    parser.add_argument("--audit-k", type=int, default=8, help="models per group in the audit")
    parser.add_argument("--ain-seeds", type=int, default=2, help="seeds of the AIN section")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--cache", default=str(BENCH_CACHE), help="model cache of the sections")
    parser.add_argument("--results", default=str(RESULTS))
    parser.add_argument("--report", default=str(REPORT))
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)
    if args.audit_k > args.many_seeds and "audit" in args.sections:
        print(f"run_bench: --audit-k {args.audit_k} needs as many --many-seeds, got {args.many_seeds}",
              file=sys.stderr)
        return 2
    results_path, report_path, cache = Path(args.results), Path(args.report), Path(args.cache)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        print(f"run_bench: unknown section(s) {sorted(unknown)}: expected {', '.join(SECTIONS)}",
              file=sys.stderr)
        return 2
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    if not args.report_only:
        results["machine"] = machine()
        runners = {"pipeline": bench_pipeline, "epochs": bench_epochs,
                   "experiments": lambda: bench_experiments(args.seeds, args.profile),
                   "book": bench_book, "test": bench_test,
                   "seeds": lambda: bench_seeds(args.many_seeds, args.profile, cache),
                   "audit": lambda: bench_audit(args.audit_k, args.profile, cache,
                                                store=results_path == RESULTS),
                   "ain": lambda: bench_ain(args.ain_seeds, args.profile, cache),
                   "sweep": lambda: bench_sweep(cache)}
        for section in sections:
            print(f"== {section}", flush=True)
            saved_cache = os.environ.get("PIXELSECURER_CACHE")
            results[section] = runners[section]()
            if saved_cache is None:
                os.environ.pop("PIXELSECURER_CACHE", None)
            else:
                os.environ["PIXELSECURER_CACHE"] = saved_cache
            if section == "seeds" and results_path == RESULTS:
                print(f"stored {store_seed_results(results[section])}", flush=True)
            tmp = results_path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(results, indent=1, default=str))
            tmp.replace(results_path)
            write_report(results, report_path)
    write_report(results, report_path)
    print(f"wrote {report_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
