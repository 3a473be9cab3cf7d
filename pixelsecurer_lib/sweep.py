"""Sweeps: many forget sets x seeds x methods, run one by one or on Ray (chapter 08, bench).

A sweep is a list of independent tasks (forget spec, seed, method). Each task computes the one
row that ``experiment.run_experiment`` gives for that method and seed, so the rows of a sweep
are exactly the rows of the sequential experiments over the same seeds; the JSON adds the
paired statistics of ``stats`` (per forget spec) and a ``timing`` section (engine, wall time,
tasks per minute), the only part that differs between engines.

Engines:

* ``local`` -- the tasks one after the other in this process.
* ``ray`` -- one Ray task per (spec, seed, method) (the optional extra ``pixelsecurer[cluster]``).
  Without ``address`` Ray starts on this machine's cores; with ``address`` (``ray://host:10001``
  or ``host:6379``) it joins that cluster, whose nodes must see the same cache folder (a shared
  file system) and the same data.

Tasks share the trained-model cache by path: the first task that needs A(D) or A(D_r) for a
seed trains it while the others wait on the cache's file lock, then load it. A task that fails
is retried (``max_retries``; Ray also retries a task whose worker died). With ``journal`` (the
CLI uses ``FILE.partial.jsonl`` beside ``--json FILE``) every finished row is appended at once;
a sweep started again with the same configuration skips the tasks already in the journal, so
a crash loses only the tasks that were running.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from functools import lru_cache
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import pandas as pd

from ._io import file_lock

ENGINES = ("local", "ray")
TIMING_FIELDS = ("seconds", "seconds_over_retrain")   # wall times: differ between runs


class SweepFailed(RuntimeError):
    """Some tasks of a sweep failed after their retries (the journal keeps the finished ones)."""


def split_forget_specs(text: str) -> List[str]:
    """``"age:0-30,identity:Ann,Bob,age:60-101"`` -> ``["age:0-30", "identity:Ann,Bob",
    "age:60-101"]``: a comma starts a new spec only where the next part has a ``kind:``."""
    from .data import parse_forget_spec

    specs: List[str] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if ":" in part or not specs:
            specs.append(part)
        else:
            specs[-1] += "," + part
    if not specs:
        raise ValueError(f"--forget {text!r}: expected one or more specs such as age:0-30")
    for spec in specs:
        parse_forget_spec(spec)
    return list(dict.fromkeys(specs))


def sweep_tasks(forgets: Sequence[str], seeds: Sequence[int],
                methods: Sequence[str]) -> List[Tuple[str, int, str]]:
    """The tasks in the order of the sequential experiments: spec, then seed, then method."""
    return [(str(f), int(s), str(m)) for f in forgets for s in seeds for m in methods]


def _load_context(profile: str, data_root: Optional[str], device: Optional[str], cache: str):
    """A chapter context for this configuration, its data read (and fingerprinted) now."""
    from .config import use_cache_dir
    from .session import setup_chapter

    use_cache_dir(cache)
    return setup_chapter(seed=0, profile=profile, device=device,
                         data_root=data_root or "synthetic", progress=False, verbose=False)


@lru_cache(maxsize=4)
def _context(profile: str, data_root: Optional[str], device: Optional[str], cache: str,
             data_fingerprint: str):
    """One chapter context per worker process, configuration and data version (data decoded
    once); ValueError when the folder no longer holds the data the sweep started on."""
    ctx = _load_context(profile, data_root, device, cache)
    if ctx.data.fingerprint != data_fingerprint:
        raise ValueError(f"the data at {data_root or 'synthetic'} changed during the sweep "
                         f"(fingerprint {data_fingerprint} -> {ctx.data.fingerprint}); run the "
                         "sweep again")
    return ctx


def run_task(config: Dict, forget: str, seed: int, method: str) -> Dict:
    """The result row of ``method`` on ``forget`` with ``seed`` (one ``run_experiment`` row)."""
    import torch

    from .experiment import clean_rows, run_experiment

    if torch.get_num_threads() != config["threads"]:
        torch.set_num_threads(config["threads"])
    ctx = _context(config["profile"], config.get("data_root"), config.get("device"),
                   config["cache"], config["data_fingerprint"])
    df = run_experiment(forget, methods=[method], seeds=[seed], ctx=ctx, progress=False)
    return clean_rows(df.to_dict("records"))[0]


# -- engines ----------------------------------------------------------------------------------
def map_tasks(fn: Callable, tasks: Sequence[tuple], engine: str = "local", *,
              max_retries: int = 2, address: Optional[str] = None,
              num_cpus: Optional[int] = None) -> Iterator[Tuple[tuple, object, Optional[BaseException]]]:
    """Run ``fn(*task)`` for every task; yield ``(task, result, error)`` as each one finishes.

    A task that raises is run again, up to ``max_retries`` more times; after that its last
    error is yielded (``result`` None) and the other tasks go on. ``ray`` runs each task as a
    Ray task (``num_cpus`` cores on this machine, default all; ``address`` joins a cluster).
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if max_retries < 0:
        raise ValueError(f"max_retries must be 0 or more, got {max_retries}")
    if engine == "local":
        for task in tasks:
            error = None
            for _ in range(max_retries + 1):
                try:
                    yield task, fn(*task), None
                    break
                except Exception as exc:  # noqa: BLE001 - retried, then reported with the task
                    error = exc
            else:
                yield task, None, error
        return
    yield from _map_ray(fn, tasks, max_retries=max_retries, address=address, num_cpus=num_cpus)


def start_ray(address: Optional[str] = None, num_cpus: Optional[int] = None):
    """Import Ray with its usage reporting off and start (or join) it; the ``ray`` module."""
    if address:
        check_address(address)             # before Ray, which would wait minutes for nothing
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")     # never phone home
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    try:
        import ray
    except ImportError as exc:
        raise ValueError("--engine ray needs Ray: pip install 'pixelsecurer[cluster]'") from exc
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    return ray


def _map_ray(fn, tasks, *, max_retries, address, num_cpus):
    ray = start_ray(address, num_cpus)
    remote = ray.remote(num_cpus=1, max_retries=max_retries, retry_exceptions=True)(fn)
    pending = {remote.remote(*task): task for task in tasks}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        task = pending.pop(done[0])
        try:
            yield task, ray.get(done[0]), None
        except Exception as exc:  # noqa: BLE001 - a task that failed after its retries
            yield task, None, getattr(exc, "cause", None) or exc   # the task's own error


def one_line(error: BaseException) -> str:
    """An error as one line: its type and the first line of its message (a remote traceback,
    coloured or not, is left out)."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def check_address(address: str, timeout: float = 5.0) -> None:
    """Refuse at once a Ray address where nothing answers (Ray itself would wait for minutes)."""
    import socket

    rest = address.split("://", 1)[-1]
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--address {address}: expected host:port or ray://host:port")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ValueError(f"--address {address}: nothing answers there ({exc.strerror or exc}); "
                         "expected a running Ray cluster") from None


# -- the sweep --------------------------------------------------------------------------------
def sweep_config(forgets: Iterable[str], methods=None, seeds=1, *, profile=None,
                 data_root=None, device=None, threads: Optional[int] = None,
                 cache=None) -> Dict:
    """The checked configuration of a sweep (ValueError naming a bad spec, method or seed).

    ``data_root`` is an AgeDB folder, ``"synthetic"``, or None for ``PIXELSECURER_AGEDB`` if
    set; ``cache`` the trained-model cache folder every task uses (default: ``cache_dir()``).

    ``threads`` (default: this process's ``torch.get_num_threads()``) is the number of CPU
    threads every task trains with. It belongs to the configuration because on the CPU the
    float rounding of a training run depends on how its sums are split between threads: the
    same seed gives the same numbers only with the same thread count.
    """
    import torch

    from .config import cache_dir, get_profile, resolve_data_root
    from .data import parse_forget_spec
    from .experiment import parse_methods, parse_seeds
    from .training import choose_device

    forgets = [str(f) for f in forgets]
    for spec in forgets:
        parse_forget_spec(spec)
    seeds = parse_seeds(seeds)
    if not forgets:
        raise ValueError("a sweep needs at least one forget spec, such as age:0-30")
    threads = torch.get_num_threads() if threads is None else int(threads)
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    root = resolve_data_root(data_root)   # None: PIXELSECURER_AGEDB if set, read once, here
    folder = None if root is None else str(root.resolve())
    if cache is not None:
        from ._io import ensure_folder

        cache = str(ensure_folder(Path(cache).expanduser().resolve(), "cache folder"))
    else:
        cache = str(cache_dir())
    return {"forgets": forgets, "methods": parse_methods(methods), "seeds": seeds,
            "profile": get_profile(profile).name, "data_root": folder,
            "device": choose_device(device).type, "threads": threads, "cache": cache}


def _config_key(config: Dict) -> str:
    stable = {k: config.get(k) for k in ("forgets", "methods", "seeds", "profile", "data_root",
                                         "data_fingerprint", "device", "threads")}
    return hashlib.sha256(json.dumps(stable, sort_keys=True).encode()).hexdigest()[:16]


ROW_FIELDS = ("forget", "method", "seed", "retain_mae", "forget_mae", "test_retain_mae",
              "test_forget_mae", "w1_to_retrain", "noise_floor_w1", "seconds")


def _row_digest(row: Dict) -> str:
    return hashlib.sha256(json.dumps(row, sort_keys=True).encode()).hexdigest()[:16]


def _journal_entry(line: bytes, key: str):
    """``((forget, seed, method), row)`` of one journal line of this configuration; None for
    another configuration's; ValueError for a line that is damaged, malformed or edited."""
    entry = json.loads(line.decode("utf-8"))
    if not isinstance(entry, dict) or "config" not in entry:
        raise ValueError("not a journal entry")
    if entry.get("config") != key:
        return None
    row, task = entry["row"], (entry["forget"], entry["seed"], entry["method"])
    if not isinstance(row, dict) or any(field not in row for field in ROW_FIELDS) \
            or (row["forget"], row["seed"], row["method"]) != task \
            or entry.get("digest") != _row_digest(row):
        raise ValueError("not a result row of its task, or edited")
    return (str(task[0]), int(task[1]), str(task[2])), row


def _read_journal(path: Optional[Path], key: str) -> Dict[Tuple[str, int, str], Dict]:
    """The finished rows of this configuration in the journal. A line cut short by a crash,
    damaged, malformed or edited (each row carries a digest) is left out with one warning:
    its task runs again."""
    done: Dict[Tuple[str, int, str], Dict] = {}
    if path is None or not path.exists():
        return done
    unusable = 0
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        try:
            found = _journal_entry(line, key)
        except (ValueError, KeyError, TypeError):   # UnicodeDecodeError and JSON errors too
            unusable += 1
            continue
        if found is not None:
            done[found[0]] = found[1]
    if unusable:
        import warnings

        warnings.warn(f"{path}: {unusable} journal line(s) cut short, damaged or edited were "
                      "left out; their tasks run again", stacklevel=3)
    return done


def run_sweep(forgets: Iterable[str], methods=None, seeds=1, *, profile=None, data_root=None,
              device=None, engine: str = "local", address: Optional[str] = None,
              num_cpus: Optional[int] = None, max_retries: int = 2,
              journal: Optional[Path] = None, threads: Optional[int] = None,
              cache=None) -> Dict:
    """Run every (forget, seed, method) task on ``engine``; the sweep's JSON payload.

    ``seeds`` is a count (0..n-1) or a list. The payload has ``config`` (with the data's
    fingerprint), ``results`` (rows in spec, seed, method order), ``noise_floor_w1`` (per spec),
    ``summary`` and ``comparisons`` (per spec, when there are several seeds) and ``timing``.
    The journal resumes only a sweep of the same configuration on the same data, and only one
    sweep may write it at a time (ValueError at once for a second). ``SweepFailed`` names the
    tasks that failed after their retries (the journal keeps the others).
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: expected one of {', '.join(ENGINES)}")
    config = with_data_fingerprint(sweep_config(forgets, methods, seeds, profile=profile,
                                                data_root=data_root, device=device,
                                                threads=threads, cache=cache))
    tasks = sweep_tasks(config["forgets"], config["seeds"], config["methods"])
    journal = Path(journal) if journal is not None else None
    busy = f"{journal}: another sweep is writing this journal; wait for it or choose another --json"
    with (file_lock(journal_lock(journal), busy=busy) if journal is not None
          else contextlib.nullcontext()):
        rows = _read_journal(journal, _config_key(config))
        todo = [t for t in tasks if t not in rows]
        start = time.perf_counter()
        failures = _run_tasks(config, todo, rows, journal, engine, max_retries=max_retries,
                              address=address, num_cpus=num_cpus)
    wall = time.perf_counter() - start
    if failures:
        raise SweepFailed(f"{len(failures)} of {len(tasks)} sweep tasks failed (finished ones "
                           f"are kept in the journal): " + "; ".join(failures))
    return _payload(config, [rows[t] for t in tasks], engine, address, wall, len(todo),
                    len(tasks) - len(todo))


def journal_lock(journal: Path) -> Path:
    """The lock file beside ``journal`` that the one sweep writing it holds."""
    return journal.with_name(journal.name + ".lock")


def with_data_fingerprint(config: Dict) -> Dict:
    """``config`` with the fingerprint of the data it runs on, read now (a folder changed since
    an earlier sweep in this process is read again)."""
    ctx = _load_context(config["profile"], config.get("data_root"), config.get("device"),
                        config["cache"])
    return {**config, "data_fingerprint": ctx.data.fingerprint}


def _run_tasks(config, todo, rows, journal, engine, **engine_options) -> List[str]:
    """Run ``todo``, putting each finished row into ``rows`` and the journal at once; the
    failures, one line each."""
    key = _config_key(config)
    failures = []
    handle = open(journal, "a") if journal is not None else None
    try:
        for task, row, error in map_tasks(run_task, [(config, *t) for t in todo], engine,
                                          **engine_options):
            task = task[1:]
            if error is not None:
                failures.append(f"{task[0]} seed {task[1]} {task[2]}: {one_line(error)}")
                continue
            rows[task] = row
            if handle is not None:
                handle.write(json.dumps({"config": key, "forget": task[0], "seed": task[1],
                                         "method": task[2], "row": row,
                                         "digest": _row_digest(row)}) + "\n")
                handle.flush()
    finally:
        if handle is not None:
            handle.close()
    return failures


def _payload(config, rows, engine, address, wall, ran, resumed) -> Dict:
    """``experiment.results_payload`` (one noise floor per spec) plus the ``timing``."""
    from .experiment import results_payload

    payload = results_payload({k: v for k, v in config.items() if k != "cache"}, rows,
                              floor_per_spec=True)
    payload["timing"] = {"engine": engine, "address": address, "wall_seconds": wall,
                         "tasks_run": ran, "tasks_resumed": resumed,
                         "tasks_per_minute": (60.0 * ran / wall) if ran and wall > 0 else None}
    return payload


def sequential_payload(forgets: Iterable[str], methods=None, seeds=1, *, profile=None,
                       data_root=None, device=None, threads: Optional[int] = None,
                       cache=None) -> Dict:
    """The same payload from plain ``run_experiment`` calls (one per spec, all seeds), the
    reference a sweep must reproduce (timings aside)."""
    import torch

    from .experiment import run_experiment

    config = with_data_fingerprint(sweep_config(forgets, methods, seeds, profile=profile,
                                                data_root=data_root, device=device,
                                                threads=threads, cache=cache))
    torch.set_num_threads(config["threads"])
    start = time.perf_counter()
    ctx = _context(config["profile"], config["data_root"], config["device"], config["cache"],
                   config["data_fingerprint"])
    rows = []
    for spec in config["forgets"]:
        df = run_experiment(spec, methods=config["methods"], seeds=config["seeds"], ctx=ctx,
                            progress=False)
        rows += df.to_dict("records")
    return _payload(config, rows, "sequential", None, time.perf_counter() - start,
                    len(rows), 0)


def without_timings(payload: Dict) -> Dict:
    """A payload with its wall times removed: what must match between engines."""
    out = {k: v for k, v in payload.items() if k != "timing"}
    out["results"] = [{k: v for k, v in r.items() if k not in TIMING_FIELDS}
                      for r in payload["results"]]
    return out


def write_json(payload: Dict, path) -> None:
    """Write ``payload`` to ``path`` atomically (temporary name, then rename)."""
    from ._io import atomic_path

    with atomic_path(Path(path)) as tmp:
        with open(tmp, "w") as handle:
            json.dump(payload, handle, indent=2)
