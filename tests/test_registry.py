"""The method registry: each method declared once, and no second list of method names anywhere."""
import re
from pathlib import Path

import pytest

from pixelsecurer_lib import experiment, plots, unlearning
from pixelsecurer_lib.unlearning import Method, registered
from pixelsecurer_lib.unlearning.base import Hyperparameters, hyperparameter, positive_int, register

ROOT = Path(__file__).resolve().parent.parent
# everything a user runs or reads; tests may name the few methods a test needs
SCANNED = ["pixelsecurer_lib", "bench", "tools", "course", "book", "README.md", "Makefile", "_ext"]
SUFFIXES = {".py", ".md", ".ipynb", ".sh", ""}


def test_every_method_declares_what_it_is_once():
    methods = registered()
    assert list(methods)[:2] == ["original", "retrain"]
    for name, cls in methods.items():
        assert issubclass(cls, Method) and cls.name == name
        assert cls.label and cls.Hyperparameters.method == name
        assert re.fullmatch(r"#[0-9a-f]{6}", cls.color)
        assert cls.__module__ == f"pixelsecurer_lib.unlearning.{name}"   # one module each
    assert len(set(unlearning.colors().values())) == len(methods)
    assert unlearning.names(edits_original=True) == [
        n for n, c in methods.items() if c.edits_original]


def test_every_list_of_methods_is_read_from_the_registry():
    assert experiment.parse_methods(None) == unlearning.names(default_only=True)
    assert experiment.parse_methods(",".join(unlearning.names())) == unlearning.names()
    assert plots._label("blindspot") == registered()["blindspot"].label
    assert plots.method_color("amnesiac") == registered()["amnesiac"].color
    from pixelsecurer_lib.cli import build_parser

    help_text = build_parser()._subparsers._group_actions[0].choices["sweep"].format_help()
    assert "neggrad" in help_text.replace("\n", " ")


def _method_lists(path: Path, names) -> list:
    """Lines of ``path`` that list three or more method names: a list, tuple or set literal of
    quoted names, or one string of comma-separated names (a mapping from names to data, such as
    a published table, is not a list of methods)."""
    name = "|".join(names)
    literal = re.compile(rf"""[\[({{]\s*["']({name})["'](\s*,\s*["']({name})["']){{2,}}""")
    text = re.compile(rf"""["'`]\s*({name})(\s*,\s*({name})){{2,}}\s*["'`]""")
    found = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if literal.search(line) or text.search(line):
            found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    return found


def test_method_names_are_listed_in_one_place_only():
    names = unlearning.names()
    offenders = []
    for entry in SCANNED:
        base = ROOT / entry
        files = [base] if base.is_file() else [p for p in base.rglob("*") if p.is_file()]
        for path in files:
            if path.suffix not in SUFFIXES or path.name == Path(__file__).name \
                    or "__pycache__" in path.parts or path.suffix == ".ipynb" and "_build" in path.parts:
                continue
            offenders += _method_lists(path, names)
    assert not offenders, "method names listed outside the registry:\n" + "\n".join(offenders)


def test_the_scan_finds_a_planted_second_list(tmp_path, monkeypatch):
    planted = tmp_path / "x.py"
    planted.write_text('ALL = ("original", "retrain", "finetune")\n'
                       'DEFAULT = "original,retrain,blindspot"\n'
                       'PUBLISHED = {"original": 1.0, "retrain": 2.0, "finetune": 3.0}\n')
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    assert len(_method_lists(planted, unlearning.names())) == 2


def test_a_new_method_is_one_class_and_shows_up_everywhere(tiny_ctx, monkeypatch):
    """Adding a method: a Hyperparameters dataclass and a Method subclass, registered."""
    from dataclasses import dataclass
    from typing import ClassVar

    from pixelsecurer_lib.unlearning import base

    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))

    @dataclass(frozen=True)
    class HalfHp(Hyperparameters):
        method: ClassVar[str] = "halftune"
        epochs: int = hyperparameter(1, positive_int, "epochs over D_r")
        lr: float = hyperparameter(1e-3, lambda m, n, v: float(v), "learning rate")

    @register
    class HalfTune(Method):
        name, label, color = "halftune", "Half-tune", "#123456"
        trains_on = "retain"
        in_default_comparison = False
        Hyperparameters = HalfHp

    assert "halftune" in unlearning.names() and "halftune" in experiment.parse_methods("halftune")
    trained = tiny_ctx.unlearned("halftune", "age:0-30")
    assert trained.spec["role"] == "unlearn:halftune" and trained.seconds > 0
    assert plots.method_color("halftune") == "#123456"
    with pytest.raises(ValueError, match="new, non-empty name"):
        register(HalfTune)
