"""Grading as a boundary (issue 26, cases 4-9): the fast checks of the grader's wrapper and its
sandbox. The hostile notebooks themselves are graded by `make grading` (tests/run_grading.py)."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "course"))

import grade  # noqa: E402
import sandbox  # noqa: E402

needs_sandbox = pytest.mark.skipif(sandbox.available() is not None,
                                   reason=f"no grading sandbox here: {sandbox.available()}")


def _autograder(tmp_path: Path) -> Path:
    zip_path = tmp_path / "autograder.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("tests/q1.py", "test = {'name': 'q1', 'points': 5, 'suites': []}\n")
    return zip_path


def _fake_otter(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "fake_otter.py"
    script.write_text("import os, signal, sys\nout = sys.argv[sys.argv.index('-o') + 1]\n" + body)
    return script


def test_a_shell_command_in_the_submission_name_is_a_name(tmp_path):
    """Case 8: make grade "SUBMISSION=x';touch INJECTED;echo '.ipynb" runs no command."""
    injected = tmp_path / "INJECTED"
    name = f"x';touch {injected};echo '.ipynb"
    done = subprocess.run(["make", "-s", "-C", str(ROOT), "grade", f"SUBMISSION={name}"],
                          capture_output=True, text=True, timeout=600)
    assert not injected.exists()
    assert done.returncode != 0
    assert f"error: submission {name} is not a file" in done.stderr


def test_a_grader_killed_by_a_signal_still_leaves_a_score_and_the_reason(tmp_path, monkeypatch, capsys):
    """Case 9: Otter is SIGKILLed mid-run: the score line and a results.json that says so."""
    monkeypatch.setattr(grade, "OTTER_DRIVER", _fake_otter(tmp_path, "os.kill(os.getpid(), signal.SIGKILL)\n"))
    submission = tmp_path / "nb.ipynb"
    submission.write_text("{}")
    score = grade.grade(submission, _autograder(tmp_path), tmp_path / "out", timeout=60)
    printed = capsys.readouterr().out.strip().splitlines()
    assert score == 0 and printed[-1] == "score: 0 / 5"
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert "killed by SIGKILL" in results["output"] and results["score"] == 0


@pytest.mark.parametrize("forged", ['{"score": 1000, "tests": []}', "not json",
                                    '{"tests": [{"name": "q1", "score": 9, "max_score": 5}]}'])
def test_forged_results_score_nothing(tmp_path, monkeypatch, capsys, forged):
    """Cases 5 and 9: results.json is checked before it is believed, and copied, never shared."""
    monkeypatch.setattr(grade, "OTTER_DRIVER", _fake_otter(
        tmp_path, f"open(os.path.join(out, 'results.json'), 'w').write({forged!r})\n"))
    submission = tmp_path / "nb.ipynb"
    submission.write_text("{}")
    assert grade.grade(submission, _autograder(tmp_path), tmp_path / "out", timeout=60) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "score: 0 / 5"
    assert "scores 0" in json.loads((tmp_path / "out" / "results.json").read_text())["output"]


@needs_sandbox
def test_the_sandbox_uid_cannot_write_the_grader_files_nor_outlive_it(tmp_path):
    """Cases 4 and 5: as the sandbox's uid, no write to root's files; a detached process of it is
    killed when the sandbox closes."""
    grader_file = tmp_path / "autograder.zip"
    grader_file.write_text("zip")
    tmp_path.chmod(0o755)
    with sandbox.Sandbox(sandbox.Limits(), {}) as box:
        as_box = ["setpriv", f"--reuid={box.uid}", f"--regid={box.uid}", "--clear-groups",
                  "--no-new-privs", "--inh-caps=-all", "--"]
        write = subprocess.run(as_box + [sys.executable, "-c", f"open({str(grader_file)!r}, 'a')"],
                               capture_output=True, text=True, timeout=60)
        assert write.returncode != 0 and "Permission denied" in write.stderr
        daemon = subprocess.Popen(as_box + ["sleep", "300"], start_new_session=True)
        time.sleep(0.2)
        assert daemon.pid in sandbox.processes_of(box.uid)
    assert daemon.wait(timeout=10) == -signal.SIGKILL
    assert grader_file.read_text() == "zip"


def _global_call(module: str, name: str) -> bytes:
    """A protocol-4 pickle that looks up ``module``/``name`` and calls it with no argument."""
    import pickle

    def text(s):
        data = s.encode()
        return b"\x8c" + bytes([len(data)]) + data          # SHORT_BINUNICODE

    return (b"\x80\x04" + text(module) + text(name) + b"\x93" + b")" + b"R" + b".")


@pytest.mark.parametrize("module, name", [("otter.test_files", "os.getpid"),
                                          ("otter.test_files", "pickle.loads"),
                                          ("os", "getpid"), ("builtins", "eval")])
def test_the_results_unpickler_builds_no_function(module, name):
    import pickle

    import otter_driver

    with pytest.raises(pickle.UnpicklingError):
        otter_driver.ResultsUnpickler(io.BytesIO(_global_call(module, name))).load()


def test_otters_log_server_no_longer_unpickles_code(monkeypatch):
    import pickle

    import otter.execute.logging as otter_logging
    import otter_driver

    monkeypatch.setattr(otter_logging.LogRecordStreamHandler, "unpickle",
                        otter_logging.LogRecordStreamHandler.unpickle)     # restored after
    otter_driver.patch_log_server(otter_logging)
    handler = otter_logging.LogRecordStreamHandler.__new__(otter_logging.LogRecordStreamHandler)
    assert handler.unpickle(pickle.dumps({"msg": "ok", "levelno": 20})) == {"msg": "ok",
                                                                           "levelno": 20}
    with pytest.raises(pickle.UnpicklingError):
        handler.unpickle(_global_call("os", "getpid"))


@needs_sandbox
def test_two_sandboxes_never_share_a_uid_and_leave_nothing_in_tmp():
    with sandbox.Sandbox(sandbox.Limits(), {}) as first, sandbox.Sandbox(sandbox.Limits(), {}) as second:
        assert first.uid != second.uid
        leftover = Path("/dev/shm") / f"left-by-{first.uid}"
        leftover.write_text("secret")
        os.chown(leftover, first.uid, first.uid)
    assert not leftover.exists()
