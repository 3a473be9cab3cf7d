"""Results stored with the library (pixelsecurer_lib.stored) and those shipped for chapter 08."""
import pytest

from pixelsecurer_lib import stored


class _Data:
    fingerprint = "f" * 40


def test_stored_results_round_trip_and_need_provenance_and_data(tmp_path, monkeypatch):
    monkeypatch.setattr(stored, "STORED_DIR", tmp_path)
    assert stored.load_stored("seeds", "smoke", _Data()) is None
    with pytest.raises(ValueError, match="provenance"):
        stored.save_stored("seeds", "smoke", {"results": []})
    with pytest.raises(ValueError, match="data_fingerprint"):
        stored.save_stored("seeds", "smoke", {"results": [], "provenance": {"commit": "x"}})
    payload = {"scores": [1.5], "provenance": {"commit": "x"},
               "config": {"data_fingerprint": _Data.fingerprint}}
    path = stored.save_stored("audit", "smoke", payload)
    assert path == tmp_path / "audit-smoke.json"
    assert stored.load_stored("audit", "smoke", _Data()) == payload
    path.write_text("{broken")
    with pytest.raises(ValueError, match="audit-smoke.json"):
        stored.load_stored("audit", "smoke", _Data())
    with pytest.raises(ValueError, match="seeds, audit"):
        stored.stored_path("models", "cpu")


def test_shipped_cpu_results_have_ten_seeds_and_their_provenance():
    import json

    path = stored.stored_path("seeds", "cpu")
    if not path.exists():
        pytest.skip("no stored cpu-profile results in this checkout")
    results = json.loads(path.read_text())
    assert len(results["config"]["seeds"]) >= 5 and results["config"]["data_fingerprint"]
    assert {"commit", "date", "machine", "command"} <= set(results["provenance"])
    assert {r["forget"] for r in results["comparisons"]} >= {"age:0-30", "age:60-101"}


@pytest.mark.parametrize("config, fragment", [
    ({"data_fingerprint": "0" * 40}, "another version of the data set"),
    ({}, "do not record which data set"),
])
def test_stored_results_of_other_or_unknown_data_are_refused_with_the_way_to_redo_them(
        tmp_path, monkeypatch, config, fragment):
    import hashlib
    import json

    monkeypatch.setattr(stored, "STORED_DIR", tmp_path)
    text = json.dumps({"config": config, "provenance": {}})
    (tmp_path / "seeds-smoke.json").write_text(text)
    (tmp_path / stored.SUMS).write_text(json.dumps(
        {"seeds-smoke.json": hashlib.sha256(text.encode()).hexdigest()}))
    with pytest.raises(stored.StoredMismatch, match=fragment) as caught:
        stored.load_stored("seeds", "smoke", _Data())
    assert "bench/run_bench.py --sections seeds" in str(caught.value)


def test_stored_results_edited_by_hand_are_refused_even_with_their_fingerprint(
        tmp_path, monkeypatch):
    monkeypatch.setattr(stored, "STORED_DIR", tmp_path)
    payload = {"results": [{"w1_to_retrain": 1.25}], "provenance": {"commit": "x"},
               "config": {"data_fingerprint": _Data.fingerprint}}
    path = stored.save_stored("seeds", "smoke", payload)
    assert stored.load_stored("seeds", "smoke", _Data()) == payload
    path.write_text(path.read_text().replace("1.25", "0.25"))       # a number changed by hand
    with pytest.raises(stored.StoredMismatch, match="not the ones `make bench` wrote"):
        stored.load_stored("seeds", "smoke", _Data())


def test_the_shipped_stored_results_pass_their_checksums():
    for kind in stored.KINDS:
        path = stored.stored_path(kind, "cpu")
        if path.exists():
            import hashlib

            assert stored._sums()[path.name] == hashlib.sha256(path.read_bytes()).hexdigest(), kind
