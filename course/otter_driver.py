"""Otter's ``otter run`` with the grader's side of the sandbox (course/sandbox.py).

    python course/otter_driver.py run [otter run's arguments]

Run by course/grade.py, as root, in a session of its own. Two things differ from Otter's own
command, and only while a sandbox is set (``GRADE_SANDBOX`` in the environment):

* just before Otter's final cell (the one that runs every test and pickles the results), the
  hidden tests are copied into the kernel's working folder and the cell is told to write its
  results there; the grader copies them back when the cell is done. Until then the kernel
  cannot read the tests.
* the results the kernel pickled are read with an unpickler that builds only Otter's result
  classes and plain containers: a submission that writes its own pickle cannot run code in
  the grader.
"""
from __future__ import annotations

import io
import os
import pickle
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sandbox  # noqa: E402

_SAFE_BUILTINS = {"set", "frozenset", "dict", "list", "tuple", "str", "bytes", "int", "float",
                  "bool", "complex", "slice", "range", "bytearray"}
_RESULTS_OPEN = re.compile(r'open\("([^"]+)", "wb"\)')


class ResultsUnpickler(pickle.Unpickler):
    """Builds Otter's result objects and plain data, nothing else. A dotted name is refused
    (pickle would follow it: ``otter.test_files`` + ``os.system`` is ``os.system``), and from
    ``otter.test_files`` only classes defined there are built."""

    def find_class(self, module, name):
        if "." not in name and (
                (module == "builtins" and name in _SAFE_BUILTINS)
                or (module == "collections" and name == "OrderedDict")
                or (module == "copyreg" and name == "_reconstructor")):
            return super().find_class(module, name)
        if "." not in name and module.startswith("otter.test_files"):
            found = super().find_class(module, name)
            if isinstance(found, type) and found.__module__.startswith("otter.test_files"):
                return found
        raise pickle.UnpicklingError(f"the kernel's results hold {module}.{name}, "
                                     "expected only Otter's result classes")


class PlainUnpickler(pickle.Unpickler):
    """Builds plain data only (the log records Otter's kernel sends are dicts)."""

    def find_class(self, module, name):
        if module == "builtins" and name in _SAFE_BUILTINS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"a log record holds {module}.{name}, expected plain data")


class _SafePickle:
    """Stands for the pickle module inside otter.execute (it only loads results)."""
    UnpicklingError = pickle.UnpicklingError

    @staticmethod
    def load(f):
        return ResultsUnpickler(io.BytesIO(f.read())).load()

    @staticmethod
    def dump(obj, f, *args, **kwargs):
        return pickle.dump(obj, f, *args, **kwargs)


def patch_log_server(otter_logging) -> None:
    """Otter's log server (on localhost, so reachable from the kernel) unpickled whatever it
    received: it now builds plain data only."""
    otter_logging.LogRecordStreamHandler.unpickle = (
        lambda self, data: PlainUnpickler(io.BytesIO(data)).load())


def _patch() -> None:
    import nbclient
    import otter.execute
    import otter.execute.logging as otter_logging
    from nbclient.util import run_sync

    otter.execute.pickle = _SafePickle
    patch_log_server(otter_logging)
    run_cell = nbclient.NotebookClient.async_execute_cell

    async def execute_cell(self, cell, cell_index, *args, **kwargs):
        found = _RESULTS_OPEN.search(cell.source) if cell.cell_type == "code" else None
        # only Otter's own final cell (the last one; it appends it): a submission's cell with
        # the same words is run as it is
        if not (found and "Checker.check_if_not_already_checked" in cell.source
                and cell_index == len(self.nb.cells) - 1 and found[1].endswith(".pkl")
                and not Path(found[1]).is_symlink()):
            return await run_cell(self, cell, cell_index, *args, **kwargs)
        grader_copy = found[1]
        kernel_copy = sandbox.results_file_for_kernel()
        sandbox.hand_tests_to_kernel(Path("tests").resolve())
        original = cell.source
        cell.source = original.replace(found[0], f'open("{kernel_copy}", "wb")')
        try:
            return await run_cell(self, cell, cell_index, *args, **kwargs)
        finally:
            cell.source = original
            try:
                Path(grader_copy).write_bytes(sandbox.read_kernel_file(kernel_copy))
            except OSError:
                pass                    # no results from the kernel: Otter says so

    nbclient.NotebookClient.async_execute_cell = execute_cell
    nbclient.NotebookClient.execute_cell = run_sync(execute_cell)   # nbconvert calls this one


def main(argv) -> int:
    if os.environ.get("GRADE_SANDBOX"):
        _patch()
    from otter.cli import cli
    return cli.main(args=argv, prog_name="otter", standalone_mode=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
