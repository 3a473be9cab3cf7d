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
  alone        every chapter opened alone from the wheel in an empty folder, cold (--profile)
  assignment   a hand-in of the course assignment (smoke profile): the reference solution run top
               to bottom from an empty cache, then `course/grade.py` on it
Each section's raw figures are merged into bench/results.json, so sections can be rerun alone;
the report is rebuilt from everything in it. Nothing here is a test: timings vary between runs.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from pixelsecurer_lib._io import atomic_path
from pixelsecurer_lib.config import cache_dir, cache_folder
from report import write_report
from sections import (BENCH_CACHE, REPORT, RESULTS, bench_ain, bench_alone, bench_assignment,
                      bench_audit, bench_book,
                      bench_epochs, bench_experiments, bench_pipeline, bench_seeds, bench_sweep,
                      bench_test, machine, store_seed_results)

SECTIONS = ("pipeline", "epochs", "book", "experiments", "test", "seeds", "audit", "ain", "sweep",
            "assignment", "alone")
DEFAULT_SECTIONS = ("pipeline", "epochs", "book", "experiments", "test", "seeds", "audit", "sweep",
                    "ain", "assignment", "alone")


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
    # A cold bench trains everything: the release's shipped checkpoints are for students (the
    # `alone` section, whose fresh environment does not inherit this, measures them).
    os.environ["PIXELSECURER_CHECKPOINTS"] = "off"
    if not args.report_only:
        if set(sections) == set(SECTIONS) or "machine" not in results:
            results["machine"] = machine()   # a partial rerun keeps the full run's machine and date
        runners = {"pipeline": bench_pipeline, "epochs": bench_epochs,
                   "experiments": lambda: bench_experiments(args.seeds, args.profile),
                   "book": bench_book, "test": bench_test,
                   "seeds": lambda: bench_seeds(args.many_seeds, args.profile, cache),
                   "audit": lambda: bench_audit(args.audit_k, args.profile, cache,
                                                store=results_path == RESULTS),
                   "ain": lambda: bench_ain(args.ain_seeds, args.profile, cache),
                   "sweep": lambda: bench_sweep(cache), "assignment": bench_assignment,
                   "alone": lambda: bench_alone(args.profile)}
        for section in sections:
            print(f"== {section}", flush=True)
            with cache_folder(cache_dir()):    # a section that moves the cache moves it for itself
                results[section] = runners[section]()
            if section == "seeds" and results_path == RESULTS:
                print(f"stored {store_seed_results(results[section])}", flush=True)
            with atomic_path(results_path) as tmp:
                tmp.write_text(json.dumps(results, indent=1, default=str))
            write_report(results, report_path)
    write_report(results, report_path)
    print(f"wrote {report_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
