"""Sweeps (pixelsecurer_lib.sweep): the same rows as the sequential experiments, locally and on
a local 2-worker Ray; failed tasks retried; a crash loses only the tasks in flight."""
import json
import shutil
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


def _first_sweep(tiny_agedb, tmp_path, monkeypatch, data_root=None):
    monkeypatch.setenv("PIXELSECURER_CACHE", str(tmp_path / "cache"))
    journal = tmp_path / "run.partial.jsonl"
    first = sweep.run_sweep(["age:0-30"], "original,retrain", 1, profile="smoke",
                            data_root=data_root or tiny_agedb, device="cpu", journal=journal)
    assert first["timing"]["tasks_run"] == 2 and len(journal.read_text().splitlines()) == 2
    assert first["config"]["data_fingerprint"]
    return journal, first


def test_a_restarted_sweep_skips_the_tasks_in_its_journal(tiny_agedb, tmp_path, monkeypatch):
    journal, first = _first_sweep(tiny_agedb, tmp_path, monkeypatch)
    # a crash after the first task: its line kept, the next one cut short
    journal.write_text(journal.read_text().splitlines()[0] + "\n" + '{"cut short by a cra')
    with pytest.warns(UserWarning, match="1 journal line"):
        second = sweep.run_sweep(["age:0-30"], "original,retrain", 1, profile="smoke",
                                 data_root=tiny_agedb, device="cpu", journal=journal)
    assert second["timing"]["tasks_resumed"] == 1 and second["timing"]["tasks_run"] == 1
    assert second["results"] == first["results"]


@pytest.mark.parametrize("bad_line", [b"\xff\xfe not utf-8", b"[1, 2, 3]", b"{}", "edited"])
def test_a_damaged_or_edited_journal_line_is_run_again_not_trusted(tiny_agedb, tmp_path,
                                                                    monkeypatch, bad_line):
    journal, first = _first_sweep(tiny_agedb, tmp_path, monkeypatch)
    lines = journal.read_bytes().splitlines()
    if bad_line == "edited":
        entry = json.loads(lines[0])
        entry["row"]["retain_mae"] = -1.0              # a number changed by hand
        lines[0] = json.dumps(entry).encode()
    else:
        lines[0] = bad_line
    journal.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.warns(UserWarning, match="damaged or edited"):
        again = sweep.run_sweep(["age:0-30"], "original,retrain", 1, profile="smoke",
                                data_root=tiny_agedb, device="cpu", journal=journal)
    assert again["timing"]["tasks_run"] == 1 and again["timing"]["tasks_resumed"] == 1
    assert again["results"] == first["results"] and len(again["results"]) == 2


def test_a_journal_of_other_data_is_not_resumed(tiny_agedb, tmp_path, monkeypatch):
    folder = tmp_path / "AgeDB"
    shutil.copytree(tiny_agedb, folder)
    journal, first = _first_sweep(tiny_agedb, tmp_path, monkeypatch, data_root=folder)
    for path in sorted(folder.glob("*.jpg"))[::2]:       # half the images deleted
        path.unlink()
    again = sweep.run_sweep(["age:0-30"], "original,retrain", 1, profile="smoke",
                            data_root=folder, device="cpu", journal=journal)
    assert again["timing"]["tasks_resumed"] == 0 and again["timing"]["tasks_run"] == 2
    assert again["config"]["data_fingerprint"] != first["config"]["data_fingerprint"]


def test_a_second_sweep_on_the_same_journal_is_refused_at_once(tiny_agedb, tmp_path):
    from pixelsecurer_lib._io import file_lock

    journal = tmp_path / "run.partial.jsonl"
    with file_lock(sweep.journal_lock(journal)):                  # a first sweep is writing
        with pytest.raises(ValueError, match="another sweep is writing this journal"):
            sweep.run_sweep(["age:0-30"], "original", 1, profile="smoke",
                            data_root=tiny_agedb, device="cpu", journal=journal)


def test_an_address_where_nothing_answers_is_refused_in_seconds():
    import time

    start = time.perf_counter()
    with pytest.raises(ValueError, match="nothing answers there"):
        sweep.start_ray("127.0.0.1:1")
    assert time.perf_counter() - start < 30


def test_a_remote_traceback_becomes_one_line():
    class RemoteError(RuntimeError):
        pass

    error = RemoteError("\x1b[36mray::run_task()\x1b[39m (pid=1)\n  File x, line 3\nValueError: no")
    assert sweep.one_line(error) == "RemoteError: ray::run_task() (pid=1)"


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
