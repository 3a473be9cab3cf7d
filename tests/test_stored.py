"""Results stored with the library (pixelsecurer_lib.stored) and those shipped for chapter 08."""
import pytest

from pixelsecurer_lib import stored
from pixelsecurer_lib.stats import stored_seed_results


def test_stored_results_round_trip_and_need_provenance(tmp_path, monkeypatch):
    monkeypatch.setattr(stored, "STORED_DIR", tmp_path)
    assert stored.load_stored("seeds", "smoke") is None
    with pytest.raises(ValueError, match="provenance"):
        stored.save_stored("seeds", "smoke", {"results": []})
    path = stored.save_stored("audit", "smoke", {"scores": [1.5], "provenance": {"commit": "x"}})
    assert path == tmp_path / "audit-smoke.json"
    assert stored.load_stored("audit", "smoke") == {"scores": [1.5], "provenance": {"commit": "x"}}
    path.write_text("{broken")
    with pytest.raises(ValueError, match="audit-smoke.json"):
        stored.load_stored("audit", "smoke")
    with pytest.raises(ValueError, match="seeds, audit"):
        stored.stored_path("models", "cpu")


def test_shipped_cpu_results_have_ten_seeds_and_their_provenance():
    results = stored_seed_results("cpu")
    if results is None:
        pytest.skip("no stored cpu-profile results in this checkout")
    assert len(results["config"]["seeds"]) >= 5
    assert {"commit", "date", "machine", "command"} <= set(results["provenance"])
    assert {r["forget"] for r in results["comparisons"]} >= {"age:0-30", "age:60-101"}


def test_stored_results_of_other_data_are_not_shown_as_this_pages(tiny_ctx):
    from pixelsecurer_lib.stored import data_note, same_data

    ours = {"config": {"data_fingerprint": tiny_ctx.data.fingerprint}}
    other = {"config": {"data_fingerprint": "0" * 16}}
    older = {"config": {}}
    assert same_data(ours, tiny_ctx.data) and data_note(ours, tiny_ctx.data) is None
    assert not same_data(other, tiny_ctx.data)
    assert same_data(older, tiny_ctx.data) and "do not record" in data_note(older, tiny_ctx.data)
