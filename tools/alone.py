"""Open one chapter the way a student does in Colab: from the built wheel, alone, in an empty folder.

    python tools/alone.py book/05-retraining.ipynb [--profile smoke] [--work DIR]

1. build the wheel from a copy of the package sources (nothing is written into the repository);
2. make a fresh virtual environment (``venv --without-pip``) holding only what Colab has: the
   distributions of ``COLAB`` and everything they require, linked from this environment's
   site-packages (nothing is downloaded), and the wheel, installed with ``--no-deps`` and not
   editable: the repository's own copy of the package is nowhere on its path;
3. copy the notebook into an empty folder and execute it there with nbclient, the kernel being
   the fresh environment's Python, with an empty cache, an empty HOME and the given profile
   (waiting for each cell's reply in short slices: see ``Client`` in ``DRIVER``, and
   jupyter/nbclient#312);
4. append one probe cell that reports where ``pixelsecurer_lib`` was imported from.

The Colab install cell is skipped (it runs only when ``google.colab`` is imported): the wheel
stands in for what it would install. ``run`` returns the timings and what the probe saw;
tests/test_alone.py checks them, the command line prints them.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What a Colab runtime has without installing anything (and what the book's notebooks may use).
COLAB = ("torch", "torchvision", "numpy", "pandas", "scipy", "scikit-learn", "matplotlib",
         "seaborn", "ipywidgets", "tqdm", "nbclient", "ipykernel", "pillow")
PACKAGE_FILES = ("pyproject.toml", "README.md", "LICENSE", "pixelsecurer_lib")
PROBE = ("import json, sys, pixelsecurer_lib\n"
         "print('ALONE-PROBE ' + json.dumps({'file': pixelsecurer_lib.__file__, "
         "'version': pixelsecurer_lib.__version__, 'python': sys.executable, 'path': sys.path}))")


def build_wheel(out: Path) -> Path:
    """The wheel of pixelsecurer, built from a copy of the files a release needs."""
    src = out / "src"
    src.mkdir(parents=True)
    for name in PACKAGE_FILES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-index", "-q", "-w", str(out), str(src)], check=True)
    wheels = sorted(out.glob("pixelsecurer-*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"{out}: expected one pixelsecurer wheel, found {wheels}")
    return wheels[0]


def _name(requirement: str) -> str:
    return re.split(r"[\s;<>=!~\[(]", requirement.strip(), maxsplit=1)[0]


def closure(names=COLAB):
    """The installed distributions ``names`` need, themselves included (extras left out)."""
    from packaging.requirements import Requirement

    seen, todo = {}, list(names)
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            if name in names:
                raise RuntimeError(f"{name} is not installed here; run `make install` first")
            seen[key] = None                      # optional on this platform: absent here too
            continue
        seen[key] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    if "pixelsecurer" in seen:
        raise RuntimeError("pixelsecurer is among Colab's packages' requirements")
    return [d for d in seen.values() if d is not None]


def fresh_environment(folder: Path, wheel: Path) -> Path:
    """A venv with Colab's packages (linked) and the wheel (installed); returns its Python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    for dist in closure():
        for top in {Path(f).parts[0] for f in dist.files or []}:
            source = Path(dist.locate_file(top))
            if top in ("..", "__pycache__") or not source.exists() or (site / top).exists():
                continue
            if source.suffix == ".pth":
                continue                          # install hooks of the main environment
            (site / top).symlink_to(source)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                    "--no-index", "-q", str(wheel)], check=True)
    return python


DRIVER = r'''
import json, sys, time
from datetime import datetime
import nbformat
from nbclient import NotebookClient
notebook, folder, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3])
nb = nbformat.read(notebook, as_version=4)
nb.cells.append(nbformat.v4.new_code_cell(sys.argv[4]))


class Client(NotebookClient):
    """nbclient, waiting for each cell's reply in slices of half a second.

    nbclient mimics an ipywidgets Output widget (interact draws through one) by sending
    comm_msg on the shell channel from inside the IOPub loop while it awaits the cell's
    execute_reply on that same socket; that await then sometimes misses the reply, which sits
    unread until the cell timeout (jupyter/nbclient#312, open; seen with ipykernel 6.31 and
    7.4 alike). A poll that times out looks at the socket again, so short slices pick such a
    reply up within one slice instead of hanging the chapter."""

    async def async_start_new_kernel_client(self):
        from queue import Empty
        kc = await super().async_start_new_kernel_client()
        get_msg = kc.shell_channel.get_msg

        async def get_msg_in_slices(timeout=None):
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                left = None if deadline is None else deadline - time.monotonic()
                try:
                    return await get_msg(timeout=0.5 if left is None else max(0.0, min(0.5, left)))
                except Empty:
                    if left is not None and left <= 0.5:
                        raise

        kc.shell_channel.get_msg = get_msg_in_slices
        return kc


client = Client(nb, timeout=timeout, kernel_name="python3",
                resources={"metadata": {"path": folder}})
start = time.perf_counter()
error = None
try:
    client.execute()
except Exception as exc:                    # reported, not raised: the caller decides
    error = f"{type(exc).__name__}: {exc}"[-3000:]
total = time.perf_counter() - start
probe, cells = None, []
for i, cell in enumerate(nb.cells):
    if cell.cell_type != "code":
        continue
    timing = cell.metadata.get("execution", {})
    text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
    for line in text.splitlines():
        if line.startswith("ALONE-PROBE "):
            probe = line[len("ALONE-PROBE "):]
    if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
        begin, end = (datetime.fromisoformat(timing[k].replace("Z", "+00:00"))
                      for k in ("iopub.execute_input", "shell.execute_reply"))
        cells.append({"index": i, "seconds": (end - begin).total_seconds()})
nbformat.write(nb, notebook)
print("ALONE-RESULT " + json.dumps({"seconds": total, "error": error, "probe": probe, "cells": cells}))
'''


def run_notebook(python: Path, notebook: Path, work: Path, profile: str, timeout: int = 900) -> dict:
    """Execute a copy of ``notebook`` in an empty folder with the fresh environment's Python."""
    folder, home, cache = work / "alone", work / "home", work / "cache"
    for path in (folder, home, cache):
        path.mkdir(parents=True)
    copy = folder / notebook.name
    shutil.copy2(notebook, copy)
    env = {"PATH": f"{python.parent}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
           "PIXELSECURER_PROFILE": profile, "PIXELSECURER_CACHE": str(cache),
           "PIXELSECURER_DEVICE": os.environ.get("PIXELSECURER_DEVICE", "cpu"),
           "JUPYTER_PLATFORM_DIRS": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    done = subprocess.run([str(python), "-c", DRIVER, str(copy), str(folder), str(timeout), PROBE],
                          cwd=folder, env=env, capture_output=True, text=True)
    line = next((l for l in done.stdout.splitlines() if l.startswith("ALONE-RESULT ")), None)
    if line is None:
        raise RuntimeError(f"the notebook driver failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(line[len("ALONE-RESULT "):])
    result["probe"] = json.loads(result["probe"]) if result["probe"] else None
    result["folder"] = str(folder)
    result["cache"] = str(cache)
    result["python"] = str(python)
    return result


def run(notebook: Path, profile: str = "smoke", work: Path = None) -> dict:
    """Build, install and execute: everything in ``work`` (a new temporary folder by default)."""
    work = Path(work or tempfile.mkdtemp(prefix="psl-alone-"))
    start = time.perf_counter()
    wheel = build_wheel(work / "wheel")
    python = fresh_environment(work / "venv", wheel)
    prepared = time.perf_counter() - start
    result = run_notebook(python, Path(notebook).resolve(), work, profile)
    result.update(wheel=str(wheel), venv=str(work / "venv"), prepare_seconds=prepared)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--work", type=Path, help="empty folder to work in (default: a new temporary one)")
    args = parser.parse_args(argv)
    if not args.notebook.exists() or args.notebook.suffix != ".ipynb":
        parser.error(f"{args.notebook}: expected an existing .ipynb file")
    result = run(args.notebook, args.profile, args.work)
    print(f"{args.notebook.name} alone, {args.profile} profile, empty cache: "
          f"{result['seconds']:.1f} s (wheel and environment: {result['prepare_seconds']:.1f} s)")
    cells = result["cells"][:-1]                     # the last one is the probe
    if cells:
        slowest = max(cells, key=lambda c: c["seconds"])
        print(f"first cell (setup: data): {cells[0]['seconds']:.1f} s; slowest cell: "
              f"#{slowest['index']} {slowest['seconds']:.1f} s; cells: {len(cells)}")
    print(f"pixelsecurer_lib from: {result['probe'] and result['probe']['file']}")
    if result["error"]:
        print(result["error"], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
