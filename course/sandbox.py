"""The sandbox a submission's kernel runs in while course/grade.py grades it.

Grading runs the student's code. When the grader runs as root (CI, a class server), the kernel
that executes the submission is started by this module's ``kernel`` command instead of
IPython's own launcher, and runs

* as a uid of its own (a free uid from 61000, no groups, no capabilities, ``no_new_privs``),
  so it can read what any stranger can read but write nothing of the grader's: not the
  grading cache (the library works from it read-only and keeps any new model in memory), not
  ``autograder.zip``, not the repository or its ``.venv``, not ``results.json``; and it cannot
  signal the grader, which runs as root;
* in a working folder of its own: a copy of the submission's folder *without* the hidden
  tests, which are copied in (readable by it) only when Otter's final cell runs them;
* under resource limits (memory, file size, number of processes; the wall time is the
  grader's per-cell and whole-run limits), so a submission that needs more loses points and
  the grader goes on;
* and when the run ends (or times out) every process of that uid is killed, so nothing the
  submission started outlives the grading.

``course/otter_driver.py`` (Otter's own ``otter run``, run as root in a session of its own)
does the two steps that need the grader's side: the hidden tests at the last cell, and
reading the kernel's results with an unpickler that only builds Otter's result classes.
"""
from __future__ import annotations

import json
import os
import pwd
import resource
import shutil
import signal
import stat
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

COURSE = Path(__file__).resolve().parent
FIRST_UID = 61000

# Defaults of the limits (course/grade.py's --memory, --file-size, --processes).
MEMORY_GIB = 3.0
FILE_SIZE_MIB = 512
PROCESSES = 256


@dataclass(frozen=True)
class Limits:
    """Resource limits of the submission's kernel (and every process it starts)."""
    memory_gib: float = MEMORY_GIB      # RLIMIT_DATA of each process (its heap and anonymous
                                        # memory; RLIMIT_AS is this plus 12 GiB, because PyTorch
                                        # alone maps 3.5 GiB of libraries)
    file_size_mib: int = FILE_SIZE_MIB  # RLIMIT_FSIZE: the largest file it may write
    processes: int = PROCESSES          # RLIMIT_NPROC: processes and threads of the sandbox uid

    def env(self) -> dict:
        return {"GRADE_LIMIT_DATA": str(int(self.memory_gib * 2 ** 30)),
                "GRADE_LIMIT_AS": str(int((self.memory_gib + 12) * 2 ** 30)),
                "GRADE_LIMIT_FSIZE": str(int(self.file_size_mib) * 2 ** 20),
                "GRADE_LIMIT_NPROC": str(int(self.processes))}


def available() -> str | None:
    """None when a sandbox can be made here, else why not (one line)."""
    if os.geteuid() != 0:
        return "the grader does not run as root, so it cannot start the submission as another user"
    if shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not installed"
    return None


def usable() -> str | None:
    """None when submissions can be graded in a sandbox here, else why not (one line)."""
    why = available()
    if why is None:
        with Sandbox(Limits(), {}) as box:
            why = probe(dict(os.environ, **box.env()))
    return why


def _uids_in_use() -> set:
    used = {entry.pw_uid for entry in pwd.getpwall()}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            for line in status.read_text().splitlines():
                if line.startswith("Uid:"):
                    used.update(int(u) for u in line.split()[1:])
                    break
        except OSError:
            pass
    return used


def processes_of(uid: int) -> list:
    """Pids of the processes whose real, effective or saved uid is ``uid``."""
    pids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            for line in status.read_text().splitlines():
                if line.startswith("Uid:"):
                    if uid in (int(u) for u in line.split()[1:4]):
                        pids.append(int(status.parent.name))
                    break
        except (OSError, ValueError):
            pass
    return pids


def kill_all(uid: int, wait: float = 10.0) -> int:
    """SIGKILL every process of ``uid`` until none is left (a fork in between is caught by the
    next round); returns how many were killed."""
    killed = set()
    deadline = time.monotonic() + wait
    while True:
        pids = processes_of(uid)
        if not pids or time.monotonic() > deadline:
            return len(killed)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


def _owned(path: Path, uid: int, mode: int) -> Path:
    os.chown(path, uid, uid)
    path.chmod(mode)
    return path


class Sandbox:
    """A folder and a uid for one grading run (a context manager; root only).

    ``root`` (0711, root's): ``home/`` (the kernel's HOME, TMPDIR and IPython folder) and
    ``work/`` (its working folder), both the sandbox uid's, and ``grader/`` (root's, 0700:
    Otter's temporary files, its results and the kernel spec that starts this module).
    """

    def __init__(self, limits: Limits, ipython_startup: dict):
        self.limits = limits
        self.ipython_startup = ipython_startup
        used = _uids_in_use()
        self._uid_lock = None
        for uid in range(FIRST_UID + os.getpid() % 1000, FIRST_UID + 60000):
            if uid not in used and self._reserve(uid):      # two graders never share a uid
                self.uid = uid
                break
        else:
            raise RuntimeError("no free uid for the grading sandbox")

    def _reserve(self, uid: int) -> bool:
        """Hold an exclusive lock naming ``uid`` for as long as this sandbox lives."""
        import fcntl

        folder = Path(tempfile.gettempdir()) / ".grade-sandbox-uids"
        folder.mkdir(mode=0o700, exist_ok=True)
        handle = open(folder / f"{uid}.lock", "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._uid_lock = handle
        return True

    def __enter__(self):
        self.root = Path(tempfile.mkdtemp(prefix="grade-sandbox-"))
        self.root.chmod(0o711)
        self.home = self.root / "home"
        self.home.mkdir(mode=0o700)
        self.work = self.root / "work"
        self.work.mkdir()
        self.grader = self.root / "grader"
        self.grader.mkdir(mode=0o700)
        for name, text in self.ipython_startup.items():
            startup = self.home / ".ipython" / "profile_default" / "startup"
            startup.mkdir(parents=True, exist_ok=True)
            (startup / name).write_text(text)
        for path in [self.home, *self.home.rglob("*"), self.work]:
            os.chown(path, self.uid, self.uid)
        spec = self.grader / "jupyter" / "kernels" / "python3"
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, str(COURSE / "sandbox.py"), "kernel", "{connection_file}"],
            "display_name": "Python 3 (grading sandbox)", "language": "python"}))
        return self

    def env(self) -> dict:
        """What Otter's process needs in its environment to start kernels in this sandbox."""
        return {"GRADE_SANDBOX": str(self.root), "GRADE_SANDBOX_UID": str(self.uid),
                "JUPYTER_PATH": str(self.grader / "jupyter"), "TMPDIR": str(self.grader),
                **self.limits.env()}

    def __exit__(self, *exc):
        kill_all(self.uid)
        shutil.rmtree(self.root, ignore_errors=True)
        _remove_files_of(self.uid)
        if self._uid_lock is not None:
            self._uid_lock.close()
        return False


def _remove_files_of(uid: int) -> None:
    """What the sandbox uid left in the shared temporary folders (a later grading that gets
    the same uid must not find it)."""
    for folder in (Path(tempfile.gettempdir()), Path("/var/tmp"), Path("/dev/shm")):
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            try:
                if os.lstat(entry).st_uid != uid:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink()
            except OSError:
                pass


def _copy_for(uid: int, source: Path, target: Path) -> None:
    """Copy the submission's folder (not its tests/) to ``target``, owned by ``uid``."""
    for item in source.iterdir():
        if item.name in ("tests", "__pycache__") or item.is_symlink():
            continue
        if item.is_dir():
            shutil.copytree(item, target / item.name, symlinks=False,
                            ignore=shutil.ignore_patterns("__pycache__"))
        elif item.is_file():
            shutil.copy2(item, target / item.name)
    for path in [target, *target.rglob("*")]:
        os.chown(path, uid, uid, follow_symlinks=False)


PROBE = ("import importlib.util, ipykernel; spec = importlib.util.find_spec('pixelsecurer_lib'); "
         "open(spec.origin).read(1)")


def _needed_paths() -> list:
    """What the kernel must reach: the checkout, the Python it runs, the library's cache."""
    paths = {COURSE.parent, Path(sys.prefix), Path(sys.base_prefix),
             Path(os.path.realpath(sys.executable)).parents[1]}
    if os.environ.get("PIXELSECURER_CACHE"):
        paths.add(Path(os.environ["PIXELSECURER_CACHE"]))
    paths = {Path(os.path.realpath(p)) for p in paths if os.path.exists(p)}
    return sorted(p for p in paths if not any(q != p and q in p.parents for q in paths))


def blocked_folders() -> dict:
    """The folders a stranger cannot enter (no search bit for others) on the way to what the
    kernel needs (a checkout inside a 0700 folder), each with the needed paths beneath it."""
    blocked: dict = {}
    for path in _needed_paths():
        for folder in [*reversed(path.parents), path][1:]:
            if not os.stat(folder).st_mode & stat.S_IXOTH:
                blocked.setdefault(folder, []).append(path)
                break
    return blocked


# Folders of the checkout that hold solutions and hidden tests: an empty folder in the sandbox.
PRIVATE_FOLDERS = (COURSE.parent / "book" / "assignments" / "masters",
                   COURSE.parent / "book" / "assignments" / "solutions")


def _open_the_way(root: Path) -> None:
    """In this process's own mount namespace: over each blocked folder, an empty tmpfs (0755)
    with only the needed paths bound back into it, so the sandbox uid reaches them and
    nothing else that folder holds; over the checkout's solutions and masters, an empty one."""
    import subprocess
    staging = Path(tempfile.mkdtemp(prefix="mounts-", dir=root))     # root's, 0700
    for i, (folder, paths) in enumerate(blocked_folders().items()):
        held = []
        for j, path in enumerate(paths):
            (staging / f"{i}-{j}").mkdir()
            subprocess.run(["mount", "--bind", str(path), str(staging / f"{i}-{j}")], check=True)
            held.append((staging / f"{i}-{j}", path))
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=1m", "grade-sandbox",
                        str(folder)], check=True)
        for source, path in held:
            path.mkdir(parents=True, exist_ok=True)
            subprocess.run(["mount", "--bind", str(source), str(path)], check=True)
    for private in PRIVATE_FOLDERS:                  # the masters (solutions, hidden tests)
        if private.is_dir():                         # and the chapter solutions: hidden
            subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=64k", "grade-hidden",
                            str(private)], check=True)


def kernel(connection_file: str, *extra: str) -> None:
    """Start IPython's kernel as the sandbox uid (called by Jupyter, as root, in the folder of
    the submission): connection file and submission copied to the sandbox, limits set, exec.
    With ``connection_file`` "--probe", only check that the sandbox uid can start Python with
    the library (course/grade.py does before it grades)."""
    root = Path(os.environ["GRADE_SANDBOX"])
    uid = int(os.environ["GRADE_SANDBOX_UID"])
    if not os.environ.get("GRADE_SANDBOX_NAMESPACE"):
        os.environ["GRADE_SANDBOX_NAMESPACE"] = "1"          # a mount namespace of its own
        unshare = shutil.which("unshare") or "unshare"
        os.execv(unshare, [unshare, "--mount", "--propagation", "private", "--", sys.executable,
                           str(Path(__file__).resolve()), "kernel", connection_file, *extra])
    if os.environ.get("GRADE_SANDBOX_NAMESPACE"):
        _open_the_way(root)
    home, work = root / "home", root / "work"
    if connection_file == "--probe":
        command = [sys.executable, "-c", PROBE]
    else:
        connection = home / "kernel-connection.json"
        connection.write_bytes(Path(connection_file).read_bytes())
        _owned(connection, uid, 0o600)
        _copy_for(uid, Path.cwd(), work)
        command = [sys.executable, "-m", "ipykernel_launcher", "-f", str(connection), *extra]
    for name, limit in (("DATA", "GRADE_LIMIT_DATA"), ("AS", "GRADE_LIMIT_AS"),
                        ("FSIZE", "GRADE_LIMIT_FSIZE"), ("NPROC", "GRADE_LIMIT_NPROC")):
        value = int(os.environ[limit])
        resource.setrlimit(getattr(resource, f"RLIMIT_{name}"), (value, value))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("GRADE_", "JUPYTER_", "SUDO_"))}
    env.update(HOME=str(home), TMPDIR=str(home), MPLCONFIGDIR=str(home / ".matplotlib"),
               IPYTHONDIR=str(home / ".ipython"), USER="grading-sandbox", LOGNAME="grading-sandbox",
               JUPYTER_RUNTIME_DIR=str(home / ".jupyter"), PYTHONDONTWRITEBYTECODE="1")
    os.chdir(work)
    os.execve(shutil.which("setpriv"), [
        "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
        "--inh-caps=-all", "--bounding-set=-all", "--", *command], env)


def probe(env: dict) -> str | None:
    """None when the sandbox uid can start this Python with the library, else why not."""
    import subprocess
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "kernel", "--probe"],
                          env=env, capture_output=True, text=True, timeout=120)
    if done.returncode == 0:
        return None
    lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    return (f"its user cannot start {sys.executable} with the library "
            f"({lines[-1] if lines else f'exit status {done.returncode}'})")


def hand_tests_to_kernel(tests: Path) -> None:
    """Put Otter's tests folder into the sandbox's working folder, readable by the kernel
    (course/otter_driver.py calls it just before Otter's final cell runs them). The copy is
    made and given its modes in a folder of root's, then renamed in: nothing is done as root
    inside the kernel's own folder but that rename (and removing what it put there)."""
    root = os.environ.get("GRADE_SANDBOX")
    if not root:
        return
    uid = int(os.environ["GRADE_SANDBOX_UID"])
    staged = Path(root) / "tests-staged"
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(tests, staged, symlinks=False)
    for path in [staged, *staged.rglob("*")]:
        os.chown(path, 0, uid, follow_symlinks=False)
        os.chmod(path, 0o750 if path.is_dir() else 0o640, follow_symlinks=False)
    target = Path(root) / "work" / "tests"
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        shutil.rmtree(target, ignore_errors=True)   # whatever the submission put there
    os.rename(staged, target)


def results_file_for_kernel() -> Path:
    """Where the kernel writes Otter's pickled results (the grader copies it back)."""
    return Path(os.environ["GRADE_SANDBOX"]) / "work" / ".otter-results.pkl"


def read_kernel_file(path: Path, limit: int = 64 * 2 ** 20) -> bytes:
    """The bytes of a regular file the kernel wrote (not through a link; at most ``limit``)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(limit)
    finally:
        os.close(fd)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "kernel":
        kernel(*sys.argv[2:])
    else:
        print("usage: sandbox.py kernel CONNECTION_FILE (started by Jupyter while grading)",
              file=sys.stderr)
        sys.exit(2)
