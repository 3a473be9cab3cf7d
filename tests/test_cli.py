"""The command-line contract of the README: synth, describe --json, experiment --json."""
import json
import subprocess
import sys

import pytest

from pixelsecurer_lib import unlearning
from pixelsecurer_lib.cli import main

RESULT_FIELDS = {"method", "seed", "retain_mae", "forget_mae", "test_retain_mae",
                 "test_forget_mae", "w1_to_retrain", "mia_forget", "seconds"}
DESCRIBE_FIELDS = {"images", "subjects", "age_min", "age_max", "images_per_subject_mean",
                   "median_subject_mean_age", "genders", "grayscale"}


def test_describe_json_prints_the_contract_fields(tiny_agedb, capsys):
    assert main(["describe", str(tiny_agedb), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert DESCRIBE_FIELDS <= set(summary)
    assert summary["subjects"] == 9 and set(summary["genders"]) == {"m", "f"}


def test_experiment_json_has_every_field(tiny_agedb, tmp_path, capsys):
    out = tmp_path / "out.json"
    code = main(["experiment", "--data", str(tiny_agedb), "--profile", "smoke", "--forget",
                 "age:0-30", "--methods", ",".join(unlearning.names()),
                 "--json", str(out), "--quiet", "--device", "cpu"])
    assert code == 0
    payload = json.loads(out.read_text())
    assert set(payload) == {"config", "results", "noise_floor_w1"}
    assert payload["noise_floor_w1"] > 0
    methods = [r["method"] for r in payload["results"]]
    assert methods == unlearning.names()
    for row in payload["results"]:
        assert RESULT_FIELDS <= set(row), row["method"]
        assert (row["w1_to_retrain"] is None) == (row["method"] == "retrain")
        assert 0 <= row["mia_forget"] <= 1 and row["seconds"] > 0
    assert "noise floor" in capsys.readouterr().out


@pytest.mark.parametrize("argv, fragment", [
    (["experiment", "--forget", "age:0-30", "--methods", "original,magic"], "unknown method 'magic'"),
    (["experiment", "--forget", "ages:0-30", "--profile", "smoke"], "unknown kind"),
    (["experiment", "--forget", "age:0-30", "--profile", "huge"], "unknown profile 'huge'"),
    (["experiment", "--forget", "age:0-30", "--data", "/no/such/folder"], "does not exist"),
    (["describe", "/no/such/folder"], "does not exist"),
    (["synth", "--out", "/tmp/x-psl", "--subjects", "0"], "subjects"),
])
def test_bad_input_is_one_line_on_stderr_and_nonzero(argv, fragment, capsys):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert fragment in err and len(err.splitlines()) == 1


def test_console_script_is_installed(tiny_agedb):
    proc = subprocess.run([sys.executable, "-m", "pixelsecurer_lib.cli", "describe",
                           str(tiny_agedb), "--json"], capture_output=True, text=True)
    assert proc.returncode == 0 and json.loads(proc.stdout)["images"] == 108


@pytest.mark.parametrize("argv, fragment", [
    (["synth", "--out", "/tmp/x-psl", "--size", "20000"], "--size: '20000': expected an integer from 16 to 512"),
    (["synth", "--out", "/tmp/x-psl", "--seed", "-1"], "--seed: '-1': expected an integer of at least 0"),
    (["synth", "--out", "/tmp/x-psl", "--subjects", "many"], "--subjects: 'many'"),
    (["experiment", "--forget", "age:0-30", "--seeds", "0"], "--seeds: '0'"),
    (["experiment", "--forget", "age:0-30", "--seeds", "99999999999999999999"],
     "--seeds: '99999999999999999999': expected a count of seeds from 1 to 10000"),
])
def test_numeric_options_name_themselves_and_their_range(argv, fragment, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("target", ["missing-folder/out.json", "a-folder"])
def test_a_bad_json_path_is_refused_before_any_work(tmp_path, target, capsys, monkeypatch):
    monkeypatch.setenv("PIXELSECURER_CACHE", str(tmp_path / "cache"))
    (tmp_path / "a-folder").mkdir()
    code = main(["experiment", "--profile", "smoke", "--forget", "age:0-30",
                 "--json", str(tmp_path / target), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--json" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "cache" / "models").exists()          # nothing was trained
    assert not list(tmp_path.rglob("*.tmp*"))                    # nothing half-written


def test_an_explicit_data_choice_beats_the_environment(tiny_agedb, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PIXELSECURER_AGEDB", str(tiny_agedb))
    out = tmp_path / "out.json"
    argv = ["experiment", "--profile", "smoke", "--forget", "age:0-30", "--methods", "original",
            "--json", str(out), "--quiet", "--device", "cpu"]
    assert main(argv + ["--data", "synthetic"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert "data: synthetic" in header and json.loads(out.read_text())["config"]["data"] == "synthetic"
    assert main(argv) == 0                         # no --data: the environment variable counts
    header = capsys.readouterr().out.splitlines()[0]
    assert f"data: AgeDB at {tiny_agedb}" in header
    assert json.loads(out.read_text())["config"]["data"] == "agedb"


def test_experiment_with_two_seeds_adds_summary_and_paired_comparisons(tiny_agedb, tmp_path,
                                                                      capsys):
    out = tmp_path / "seeds.json"
    code = main(["experiment", "--data", str(tiny_agedb), "--profile", "smoke", "--forget",
                 "age:0-30", "--methods", "original,retrain,amnesiac", "--seeds", "2",
                 "--json", str(out), "--quiet", "--device", "cpu"])
    assert code == 0
    payload = json.loads(out.read_text())
    assert {"summary", "comparisons"} <= set(payload)
    for row in payload["summary"]:
        assert {"method", "metric", "mean", "ci_low", "ci_high", "n"} <= set(row)
        assert row["n"] == 2 and row["ci_low"] <= row["mean"] <= row["ci_high"]
    # the summary's mean is the mean of the two seeds' rows
    rows = [r["forget_mae"] for r in payload["results"] if r["method"] == "amnesiac"]
    amnesiac = next(r for r in payload["summary"]
                    if (r["method"], r["metric"]) == ("amnesiac", "forget_mae"))
    assert amnesiac["mean"] == pytest.approx(sum(rows) / 2)
    pairs = {(r["a"], r["b"], r["metric"]) for r in payload["comparisons"]}
    assert ("original", "amnesiac", "w1_to_retrain") in pairs
    assert ("amnesiac", "noise_floor", "w1_to_retrain") in pairs
    assert ("original", "retrain", "retain_mae") in pairs
    assert not any("retrain" in (a, b) for a, b, m in pairs if m == "w1_to_retrain")
    for row in payload["comparisons"]:
        assert {"a", "b", "metric", "mean_diff", "ci_low", "ci_high", "distinguishable"} <= set(row)
        excludes_zero = row["ci_low"] > 0 or row["ci_high"] < 0
        assert row["distinguishable"] == excludes_zero
    assert "paired by seed" in capsys.readouterr().out


def test_one_seed_has_no_intervals(tiny_agedb, tmp_path):
    out = tmp_path / "one.json"
    assert main(["experiment", "--data", str(tiny_agedb), "--profile", "smoke", "--forget",
                 "age:0-30", "--methods", "original,retrain", "--json", str(out), "--quiet",
                 "--device", "cpu"]) == 0
    assert "comparisons" not in json.loads(out.read_text())
