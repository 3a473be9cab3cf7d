"""The ``pixelsecurer`` command: ``synth``, ``describe``, ``experiment``, ``sweep`` (see the README).

Bad input and file-system faults print one line on stderr and exit with status 2; a sweep
whose tasks failed after their retries prints one line and exits with 1; an interruption
exits with 130. Anything else is a bug and shows its traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional


def _cmd_synth(args) -> int:
    from .data.synthetic import generate

    out = generate(Path(args.out), seed=args.seed, subjects=args.subjects, size=args.size,
                   progress=not args.quiet)
    print(f"wrote the synthetic AgeDB-shaped set to {out}")
    return 0


def _cmd_describe(args) -> int:
    from .data import load_folder

    root = Path(args.folder)
    # the reader cannot tell AgeDB from the synthetic set (same format): call it a folder
    data = load_folder(root, image_size=args.size, source="folder", progress=not args.json)
    summary = data.summary()
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key:>26}: {value}")
    return 0


def _data_folder(choice):
    """--data resolved (it beats PIXELSECURER_AGEDB): an AgeDB folder, or None for synthetic."""
    from .config import resolve_data_root

    root = resolve_data_root(choice)
    if root is not None and not root.is_dir():
        raise FileNotFoundError(f"--data {root}: folder does not exist "
                                "(expected 'synthetic' or an AgeDB folder)")
    return root


def _cmd_experiment(args) -> int:
    from .config import get_profile
    from .data import parse_forget_spec
    from .experiment import (check_output_path, experiment_to_json, parse_methods,
                             run_experiment, summarize)
    from .session import setup_chapter

    # refuse bad input before any data is touched or any model trained
    methods = parse_methods(args.methods)
    seeds = args.seeds
    forget = parse_forget_spec(args.forget)
    profile = get_profile(args.profile)
    if args.json is not None:
        check_output_path(args.json, "--json")
    root = _data_folder(args.data)
    ctx = setup_chapter(seed=0, profile=profile, device=args.device,
                        data_root=root if root is not None else "synthetic",
                        progress=not args.quiet, verbose=False)
    print(ctx.describe())
    df = run_experiment(forget, methods=methods, seeds=seeds, ctx=ctx)
    payload = experiment_to_json(df, args.json)
    cols = ["retain_mae", "forget_mae", "test_retain_mae", "test_forget_mae", "w1_to_retrain",
            "mia_forget", "seconds"]
    means = summarize(df, cols).pivot_table(index="method", columns="metric", values="mean",
                                            sort=False)
    print(means.reindex(index=methods, columns=cols).to_string(
        float_format=lambda v: f"{v:.3f}", na_rep="—"))
    print(f"noise floor W1 (retrain vs retrain): {payload['noise_floor_w1']}")
    _print_verdicts(payload)
    if args.json:
        print(f"wrote {args.json}")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2), like every other error."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _int_at_least(low: int, high: Optional[int] = None):
    """An argparse type: an integer in [low, high]; the error names the value and the range."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f"of at least {low}"
            raise argparse.ArgumentTypeError(f"{text!r}: expected an integer {bound}")
        return value
    return parse


def _seed_count(text: str) -> list:
    """An argparse type: a count of seeds, parsed by the library's one seed parser."""
    from .experiment import parse_seeds

    try:
        return parse_seeds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _print_verdicts(payload: dict) -> None:
    """The paired comparisons of W1 to retraining, one line each (several seeds only)."""
    from .stats import verdict

    rows = [r for r in payload.get("comparisons", []) if r["metric"] == "w1_to_retrain"]
    if rows:
        print("W1 to retrain, paired by seed (a - b, 95% t interval):")
    for r in rows:
        spec = f"{r['forget']}: " if r.get("forget") else ""
        print(f"  {spec}{r['a']} - {r['b']}: {r['mean_diff']:+.3f} "
              f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}] n={r['n']} -> {verdict(r)}")


def _cmd_sweep(args) -> int:
    from .config import get_profile
    from .experiment import check_output_path, parse_methods
    from .sweep import journal_lock, run_sweep, split_forget_specs, write_json

    forgets = split_forget_specs(args.forget)      # bad input is refused before any work
    methods = parse_methods(args.methods)
    seeds = args.seeds
    get_profile(args.profile)
    if args.address and args.engine != "ray":
        raise ValueError("--address needs --engine ray")
    root = _data_folder(args.data)
    out = check_output_path(args.json, "--json") if args.json else None
    journal = out.with_name(out.name + ".partial.jsonl") if out is not None else None
    payload = run_sweep(forgets, methods=methods, seeds=seeds, profile=args.profile,
                        data_root=str(root) if root is not None else "synthetic",
                        device=args.device, engine=args.engine, address=args.address,
                        num_cpus=args.cpus, max_retries=args.max_retries, journal=journal,
                        threads=args.threads)
    timing = payload["timing"]
    print(f"{len(payload['results'])} rows ({timing['tasks_run']} tasks run, "
          f"{timing['tasks_resumed']} from the journal) on {args.engine} in "
          f"{timing['wall_seconds']:.1f} s")
    _print_verdicts(payload)
    if out is not None:
        write_json(payload, out)
        journal.unlink(missing_ok=True)
        journal_lock(journal).unlink(missing_ok=True)
        print(f"wrote {out}")
    return 0


def _run_options(parser, forget_help: str, seeds_required: bool, method_names) -> None:
    """The options ``experiment`` and ``sweep`` share: data, profile, forget set(s), methods,
    seeds, device and the JSON file."""
    parser.add_argument("--data", default=None,
                        help="'synthetic' or an AgeDB folder (default: $PIXELSECURER_AGEDB if "
                             "set, else synthetic)")
    parser.add_argument("--profile", default=None,
                        help="smoke, cpu or paper (default: $PIXELSECURER_PROFILE or cpu)")
    parser.add_argument("--forget", required=True, help=forget_help)
    parser.add_argument("--methods", default=None,
                        help=f"comma-separated, from {', '.join(method_names())} (default: "
                             f"{','.join(method_names(default_only=True))})")
    parser.add_argument("--seeds", type=_seed_count, required=seeds_required,
                        default=None if seeds_required else [0], help="how many seeds (0..N-1)")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda or mps")
    parser.add_argument("--json", default=None, help="write the results to this JSON file")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .unlearning import names as method_names
    from .data.synthetic import MAX_SIZE, MAX_SUBJECTS, MIN_SIZE

    parser = _Parser(prog="pixelsecurer",
                     description="Machine unlearning for deep age regression.")
    parser.add_argument("--version", action="version", version=f"pixelsecurer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    synth = sub.add_parser("synth", help="write the synthetic AgeDB-shaped data set")
    synth.add_argument("--out", required=True, help="folder to create")
    synth.add_argument("--seed", type=_int_at_least(0), default=0)
    synth.add_argument("--subjects", type=_int_at_least(1, MAX_SUBJECTS), default=568)
    synth.add_argument("--size", type=_int_at_least(MIN_SIZE, MAX_SIZE), default=64,
                       help="image side in pixels")
    synth.add_argument("--quiet", action="store_true", help="no progress bar")
    synth.set_defaults(func=_cmd_synth)

    describe = sub.add_parser("describe", help="statistics of an AgeDB-format folder")
    describe.add_argument("folder")
    describe.add_argument("--json", action="store_true", help="print one JSON object")
    describe.add_argument("--size", type=_int_at_least(MIN_SIZE, MAX_SIZE), default=32,
                          help="working resolution for decoding")
    describe.set_defaults(func=_cmd_describe)

    exp = sub.add_parser("experiment", help="unlearn a forget set with several methods and compare")
    _run_options(exp, forget_help="age:LO-HI, identity:NAME[,NAME...], identities:K or "
                                  "random:FRACTION", seeds_required=False,
                 method_names=method_names)
    exp.add_argument("--quiet", action="store_true", help="no progress bars")
    exp.set_defaults(func=_cmd_experiment)

    sweep = sub.add_parser("sweep", help="many forget sets x seeds x methods, locally or on Ray")
    _run_options(sweep, forget_help="one or more forget specs, comma-separated",
                 seeds_required=True, method_names=method_names)
    sweep.add_argument("--engine", choices=("local", "ray"), default="local",
                       help="local: one task after another here; ray: Ray tasks")
    sweep.add_argument("--address", default=None, help="Ray cluster to join (default: start one here)")
    sweep.add_argument("--cpus", type=_int_at_least(1), default=None,
                       help="cores for a Ray started here (default: all)")
    sweep.add_argument("--max-retries", type=_int_at_least(0), default=2,
                       help="runs again of a failed task")
    sweep.add_argument("--threads", type=_int_at_least(1), default=None,
                       help="CPU threads per task (default: this machine's torch default); "
                            "the same seed gives the same numbers only with the same count")
    sweep.set_defaults(func=_cmd_sweep)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:          # usage errors (one line, 2), --help and --version (0)
        return int(exc.code or 0)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, NotADirectoryError) as exc:
        print(f"pixelsecurer {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:              # any other file-system fault: name the path, one line
        where = exc.filename or "a file"
        print(f"pixelsecurer {args.command}: error: {where}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    except RuntimeError as exc:
        from .sweep import SweepFailed

        if not isinstance(exc, SweepFailed):
            raise
        print(f"pixelsecurer {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"pixelsecurer {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
