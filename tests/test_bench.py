"""`make bench`'s many-seed and audit sections, in their quick smoke mode (the full run is long)."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_bench_writes_comparisons_and_audit_with_provenance(tmp_path):
    results, report = tmp_path / "results.json", tmp_path / "REPORT.md"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run_bench.py"),
                           "--sections", "seeds,audit", "--profile", "smoke", "--many-seeds", "2",
                           "--audit-k", "2", "--results", str(results), "--report", str(report),
                           "--cache", str(tmp_path / "cache")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    payload = json.loads(results.read_text())
    seeds = payload["seeds"]
    assert seeds["config"]["seeds"] == [0, 1] and seeds["comparisons"]
    assert {"commit", "date", "machine", "command"} <= set(seeds["provenance"])
    assert {r["method"] for r in payload["audit"]["scores"]} >= {"amnesiac", "noise_floor"}
    text = report.read_text()
    assert "Comparisons over 2 seeds" in text and "Per-example audit (K = 2" in text
    assert "Provenance: commit" in text
