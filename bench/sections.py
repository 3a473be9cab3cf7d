"""The measurements of `make bench`, one function per section (run_bench.py calls them).

Each returns a JSON-able dict; run_bench.py merges it into bench/results.json and report.py
turns results.json into bench/REPORT.md.
"""
from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pixelsecurer_lib.config import TrainingRecipe, cache_folder
from pixelsecurer_lib.unlearning import names as method_names

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results.json"
REPORT = HERE / "REPORT.md"
SEED_FORGETS = ("age:0-30", "age:60-101")
BOOK_BUDGET_S = 600                       # the cpu-profile book's budget (README, Profiles)
BENCH_CACHE = ROOT / ".cache" / "bench"   # the cold book build fills it; the experiments reuse it
FORGETS = ("age:0-30", "age:60-101", "identities:5")
METHODS = tuple(method_names())           # every registered method, the reference included
ONE_EPOCH = TrainingRecipe(epochs=1, lr=0.01, batch_size=128, schedule="constant", crop_padding=4)


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

    from pixelsecurer_lib.data import agedb, synthetic
    from pixelsecurer_lib.models import build_model
    from pixelsecurer_lib.training import fit

    out = {}
    with tempfile.TemporaryDirectory() as tmp, cache_folder(Path(tmp) / "cache"):
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
        fit(build_model("allcnn", 0.125), data, idx[:512], ONE_EPOCH, seed=0, device="cpu",
            progress=False)                                        # warm-up, not timed
        timings = {"from_cache": [], "in_memory": []}
        for _ in range(2):                                         # alternate; keep the best
            for label, images in (("from_cache", cached_images), ("in_memory", memory_images)):
                data.images = images
                t = time.perf_counter()
                fit(build_model("allcnn", 0.125), data, idx, ONE_EPOCH, seed=0, device="cpu",
                    progress=False)
                timings[label].append(time.perf_counter() - t)
        timings = {label: min(values) for label, values in timings.items()}
        out["epoch_4096_from_cache_s"] = timings["from_cache"]
        out["epoch_4096_in_memory_s"] = timings["in_memory"]
        out["cache_over_memory"] = timings["from_cache"] / timings["in_memory"]
    return out


def bench_epochs() -> dict:
    import pixelsecurer_lib as psl
    from pixelsecurer_lib.models import build_model
    from pixelsecurer_lib.training import fit

    out = {}
    for name in ("smoke", "cpu", "paper"):
        profile = psl.get_profile(name)
        ctx = psl.setup_chapter(profile=name, progress=False, verbose=False)
        train = ctx.split.train
        n = len(train) if name != "paper" else min(len(train), 1024)   # paper: extrapolate
        model = build_model(profile.model.architecture, profile.model.width)
        t = time.perf_counter()
        recipe = dataclasses.replace(profile.training, epochs=1, schedule="constant")
        fit(model, ctx.data, train[:n], recipe, seed=0, device=ctx.device, progress=False)
        seconds = (time.perf_counter() - t) * len(train) / n
        out[name] = {"train_images": int(len(train)), "epoch_s": seconds,
                     "images_per_s": len(train) / seconds, "epochs": profile.training.epochs,
                     "estimated_training_s": seconds * profile.training.epochs,
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
    from pixelsecurer_lib.experiment import experiment_to_json, run_experiment

    ctx = psl.setup_chapter(profile=profile, progress=False, verbose=True, cache=BENCH_CACHE)
    out = {"profile": profile, "seeds": seeds, "forgets": {}}
    for forget in FORGETS:
        t = time.perf_counter()
        df = run_experiment(forget, methods=list(METHODS), seeds=seeds, ctx=ctx)
        payload = experiment_to_json(df, None)
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


def data_fingerprint(profile: str) -> str:
    """The fingerprint of the synthetic set the profile runs on (stored results record it, so
    that a chapter never shows results of another version of the data as its own)."""
    import pixelsecurer_lib as psl

    return psl.setup_chapter(profile=profile, data_root="synthetic", progress=False,
                             verbose=False).data.fingerprint


def bench_seeds(seeds: int, profile: str, cache: Path) -> dict:
    """Many seeds of every method, as one sweep on a local 2-worker Ray (one thread each)."""
    from pixelsecurer_lib.sweep import run_sweep

    journal = cache / f"seeds-{profile}-{seeds}.partial.jsonl"
    payload = run_sweep(SEED_FORGETS, list(METHODS), seeds, profile=profile, device="cpu",
                        engine="ray", num_cpus=2, threads=1, journal=journal, cache=cache)
    payload["config"]["data_fingerprint"] = data_fingerprint(profile)
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

    torch_threads(1)                     # the seeds section trained with one thread per task
    ctx = psl.setup_chapter(profile=profile, device="cpu", progress=False, verbose=False,
                            cache=cache)
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
                              "data_fingerprint": ctx.data.fingerprint,
                              "forgets": list(SEED_FORGETS)}, provenance=out["provenance"])
        print(f"stored {save_stored('audit', profile, stored)}", flush=True)
    return out


def bench_ain(seeds: int, profile: str, cache: Path) -> dict:
    """AIN of every unlearning method (and the original) per forget range and seed."""
    import pixelsecurer_lib as psl
    from pixelsecurer_lib.anamnesis import methods_anamnesis

    torch_threads(1)
    ctx = psl.setup_chapter(profile=profile, device="cpu", progress=False, verbose=False,
                            cache=cache)
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
        if engine == "sequential":
            runs[engine] = sequential_payload(["age:0-30"], list(METHODS), 3, profile="smoke",
                                              device="cpu", threads=1, cache=folder)
        else:
            runs[engine] = run_sweep(["age:0-30"], list(METHODS), 3, profile="smoke",
                                     device="cpu", engine="ray", num_cpus=2, threads=1,
                                     cache=folder)
        out[engine] = runs[engine]["timing"]
    out["identical_timings_aside"] = without_timings(runs["sequential"]) == without_timings(runs["ray"])
    folder = cache / "sweep-sequential-2"
    shutil.rmtree(folder, ignore_errors=True)
    out["sequential_2_threads"] = sequential_payload(["age:0-30"], list(METHODS), 3,
                                                     profile="smoke", device="cpu",
                                                     threads=2, cache=folder)["timing"]
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


def bench_assignment() -> dict:
    """Time a hand-in as a student makes it (the reference solution, smoke profile, empty cache)
    and as the grader grades it (`course/grade.py`, its cache then filled)."""
    sys.path.insert(0, str(ROOT / "course"))
    import assign
    import grade

    with tempfile.TemporaryDirectory() as tmp, cache_folder(Path(tmp) / "cache"):
        os.environ.update(PIXELSECURER_PROFILE="smoke", PIXELSECURER_STATIC="1")
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip()
        out = {"profile": "smoke", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "cores": os.cpu_count(), "command": "bench/run_bench.py --sections assignment",
               "commit": commit}
        for master in assign.masters():
            dist = assign.otter_assign(master, Path(tmp) / master.stem)
            notebook = Path(tmp) / master.stem / "master" / f"{master.stem}.ipynb"
            t = time.perf_counter()
            assign.execute(notebook)
            hand_in = time.perf_counter() - t
            t = time.perf_counter()
            score = grade.grade(dist / "autograder" / f"{master.stem}.ipynb",
                                dist / "autograder" / "autograder.zip", Path(tmp) / "grade")
            out[master.stem] = {"hand_in_cold_s": hand_in, "grade_s": time.perf_counter() - t,
                                "score": score,
                                "possible": grade.points_possible(dist / "autograder" / "autograder.zip")}
    return out


ALONE_CELL_TIMEOUT_S = 300      # no cell of a chapter alone needs a minute with the checkpoints
ALONE_ATTEMPTS = 3


def bench_alone(profile: str = "cpu") -> dict:
    """Every chapter opened alone, as a student does in Colab: the wheel installed into a fresh
    environment holding only what Colab has, the notebook copied into an empty folder, an empty
    cache (so only the release's shipped checkpoints help). One wheel and environment serve all
    chapters; each chapter gets its own empty folder, home and cache."""
    sys.path.insert(0, str(ROOT / "tools"))
    import alone

    work = Path(tempfile.mkdtemp(prefix="psl-bench-alone-"))
    try:
        start = time.perf_counter()
        python = alone.fresh_environment(work / "venv", alone.build_wheel(work / "wheel"))
        out = {"profile": profile, "prepare_s": time.perf_counter() - start, "chapters": {},
               "provenance": provenance()}
        for notebook in sorted((ROOT / "book").glob("*.ipynb")):
            # Cause of the old stalls: nbclient answered ipywidgets' Output widget on the shell
            # socket while awaiting the cell's reply there, and sometimes missed the reply
            # (jupyter/nbclient#312). The chapters no longer use interact and alone.py polls in
            # slices; a run that still times out is run again, cold, and the report says so.
            for attempt in range(1, ALONE_ATTEMPTS + 1):
                shutil.rmtree(work / notebook.stem, ignore_errors=True)
                result = alone.run_notebook(python, notebook, work / notebook.stem, profile,
                                            timeout=ALONE_CELL_TIMEOUT_S)
                if not (result["error"] and "Timeout" in result["error"]):
                    break
            cells = result["cells"][:-1]                 # the last cell is the import probe
            out["chapters"][notebook.stem] = {
                "seconds": result["seconds"], "first_cell_s": cells[0]["seconds"] if cells else None,
                "slowest_cell_s": max((c["seconds"] for c in cells), default=None),
                "error": result["error"], "attempts": attempt}
            print(f"{notebook.stem} alone: {result['seconds']:.1f} s", flush=True)
            shutil.rmtree(work / notebook.stem, ignore_errors=True)
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)
