"""Sweeps (pixelsecurer_lib.sweep): the same rows as the sequential experiments, locally and on
a local 2-worker Ray; failed tasks retried; a crash loses only the tasks in flight."""
import json
import os
import sys

import pytest

from pixelsecurer_lib import sweep
from pixelsecurer_lib.cli import main

METHODS = "original,retrain,amnesiac"
FORGETS = ["age:0-30", "identities:2"]


def test_forget_specs_split_on_commas_but_keep_identity_lists():
    assert sweep.split_forget_specs("age:0-30,identity:Ann,Bob,age:60-101") == [
        "age:0-30", "identity:Ann,Bob", "age:60-101"]
    with pytest.raises(ValueError, match="ages:0-30"):
        sweep.split_forget_specs("age:0-30,ages:0-30")


def test_tasks_come_in_the_order_of_the_sequential_experiments():
    assert sweep.sweep_tasks(["a:1", "b:2"], [0, 1], ["x", "y"])[:3] == [
        ("a:1", 0, "x"), ("a:1", 0, "y"), ("a:1", 1, "x")]


def _flaky(marker_dir, name):
    """Fails the first time it is called for ``name`` (a file remembers the call)."""
    marker = os.path.join(marker_dir, name)
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise RuntimeError(f"first try of {name} fails")
    return name.upper()


def _always_fails(name):
    raise RuntimeError(f"{name} is broken")


@pytest.fixture(scope="module")
def local_ray():
    """Ray on this machine with two workers, no dashboard, no usage reporting."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    # the test module is not importable in the workers: send its functions by value
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray
    ray.shutdown()


@pytest.mark.parametrize("engine", ["local", "ray"])
def test_a_failed_task_is_retried_and_a_hopeless_one_reported(engine, tmp_path, request):
    if engine == "ray":
        request.getfixturevalue("local_ray")
    tasks = [(str(tmp_path), "a"), (str(tmp_path), "b")]
    results = {t[1]: (r, e) for t, r, e in sweep.map_tasks(_flaky, tasks, engine, max_retries=1)}
    assert results == {"a": ("A", None), "b": ("B", None)}
    failed = list(sweep.map_tasks(_always_fails, [("c",)], engine, max_retries=1))
    assert failed[0][1] is None and "c is broken" in str(failed[0][2])


def test_ray_sweep_writes_the_sequential_json(tiny_agedb, tmp_path, local_ray, monkeypatch):
    """Sequential run in one cache, Ray sweep in another (its models trained by the workers):
    the JSON files agree except for wall times."""
    monkeypatch.setenv("PIXELSECURER_CACHE", str(tmp_path / "sequential-cache"))
    reference = sweep.sequential_payload(FORGETS, METHODS, 2, profile="smoke", data_root=tiny_agedb,
                                         device="cpu")
    monkeypatch.setenv("PIXELSECURER_CACHE", str(tmp_path / "ray-cache"))
    out = tmp_path / "sweep.json"
    assert main(["sweep", "--data", str(tiny_agedb), "--profile", "smoke", "--forget",
                 ",".join(FORGETS), "--methods", METHODS, "--seeds", "2", "--engine", "ray",
                 "--device", "cpu", "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert payload["timing"]["engine"] == "ray" and payload["timing"]["tasks_run"] == 12
    assert sweep.without_timings(payload) == json.loads(json.dumps(sweep.without_timings(reference)))
    assert {r["forget"] for r in payload["comparisons"]} == set(FORGETS)
    assert not (tmp_path / "sweep.json.partial.jsonl").exists()


def test_a_restarted_sweep_skips_the_tasks_in_its_journal(tiny_agedb, tmp_path, monkeypatch):
    monkeypatch.setenv("PIXELSECURER_CACHE", str(tmp_path / "cache"))
    journal = tmp_path / "run.partial.jsonl"
    first = sweep.run_sweep(["age:0-30"], "original,retrain", 1, profile="smoke",
                            data_root=tiny_agedb, device="cpu", journal=journal)
    assert first["timing"]["tasks_run"] == 2 and len(journal.read_text().splitlines()) == 2
    # a crash after the first task: keep one line, mark it so we can see it is reused
    line = json.loads(journal.read_text().splitlines()[0])
    line["row"]["retain_mae"] = -1.0
    journal.write_text(json.dumps(line) + "\n" + '{"cut short by a cra')
    second = sweep.run_sweep(["age:0-30"], "original,retrain", 1, profile="smoke",
                             data_root=tiny_agedb, device="cpu", journal=journal)
    assert second["timing"]["tasks_resumed"] == 1 and second["timing"]["tasks_run"] == 1
    assert second["results"][0]["retain_mae"] == -1.0
    assert second["results"][1] == first["results"][1]


@pytest.mark.parametrize("argv, fragment", [
    (["sweep", "--forget", "age:0-30", "--seeds", "0"], "--seeds"),
    (["sweep", "--forget", "age:0-30", "--seeds", "-3"], "--seeds"),
    (["sweep", "--forget", "age:0-30", "--seeds", "30000000"], "from 1 to 10000"),
    (["sweep", "--forget", "age:0-30", "--seeds", "99999999999999999999"], "from 1 to 10000"),
    (["sweep", "--forget", "age:0-30,nope:1", "--seeds", "1"], "unknown kind"),
    (["sweep", "--forget", "age:0-30", "--seeds", "1", "--address", "x:1"], "--engine ray"),
    (["sweep", "--forget", "age:0-30", "--seeds", "1", "--json", "/no/such/dir/x.json"],
     "does not exist"),
])
def test_bad_sweep_input_is_refused_before_any_work(argv, fragment, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1
