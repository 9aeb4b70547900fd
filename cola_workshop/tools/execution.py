"""Executing the workshop's notebooks headless: a fresh kernel per notebook, progress per cell, executed copies.

``run_notebooks`` runs a range of stages in order; ``execute_notebook`` runs one. Both save the executed copy after
every cell (a killed run shows how far it got), turn Ctrl-C / SIGTERM into a clean kernel interrupt, and report a
failing cell with the notebook, cell number and error. ``cola-workshop run`` and the tests call them.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence, TextIO

from ..artifacts import stage_name
from ..errors import WorkshopError, write_failure
from ..files import atomic_file
from ..settings import REPO_ROOT, Settings, display_path, settings_to_env

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
KERNEL_NAME = "python3"
EXIT_OK, EXIT_FAILED = 0, 1


class NotebookMissingError(WorkshopError):
    """A notebook of the requested range is not in the notebooks folder; the message says what to do."""




@dataclass(eq=False)
class NotebookFailed(Exception):
    """A notebook stopped at a cell; ``executed`` holds the copy saved up to that cell."""

    notebook: Path
    cell_number: int  # 1-based position among all cells of the notebook
    cell_count: int
    first_line: str
    error: str  # "ename: evalue"
    executed: Path

    def __str__(self) -> str:
        return self.describe()

    def describe(self) -> str:
        return "\n".join(
            [
                f"FAILED: {display_path(self.notebook)}, cell {self.cell_number}/{self.cell_count}",
                f"  cell starts with : {self.first_line}",
                f"  error            : {_indent(self.error, 21)}",
                f"  executed copy    : {display_path(self.executed)} (saved up to the failing cell)",
            ]
        )


@dataclass(eq=False)
class NotebookInterrupted(Exception):
    """Ctrl-C or SIGTERM while a notebook ran; ``executed`` holds the copy saved so far."""

    notebook: Path
    cell_number: int
    cell_count: int
    executed: Path
    signum: int

    def __str__(self) -> str:
        name = signal.Signals(self.signum).name
        return (
            f"interrupted ({name}) in {display_path(self.notebook)} at cell {self.cell_number}/{self.cell_count}; "
            f"executed copy so far: {display_path(self.executed)}"
        )


def _indent(text: str, width: int) -> str:
    return ("\n" + " " * width).join(text.strip().splitlines() or [""])


def _first_line(source: str) -> str:
    lines = [line for line in source.strip().splitlines() if line.strip()]
    return lines[0].strip() if lines else "(empty cell)"


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def kernel_environment(settings: Settings) -> dict[str, str]:
    """The kernel's environment: ours, with the WORKSHOP_* variables that make it load exactly ``settings``."""
    return {**os.environ, **settings_to_env(settings)}


def executed_path(settings: Settings, stage: str, suffix: str = ".ipynb") -> Path:
    return settings.outputs / "executed" / f"{stage}{suffix}"


def _write_executed(nb, destination: Path, html: bool = False) -> None:
    """Save the executed copy atomically (a kill while writing never leaves a broken .ipynb)."""
    import nbformat

    with atomic_file(destination) as partial:
        nbformat.write(nb, str(partial))
    if html:
        from nbconvert import HTMLExporter

        body, _ = HTMLExporter().from_notebook_node(nb)
        destination.with_suffix(".html").write_text(body, encoding="utf-8")


def execute_notebook(
    source: Path,
    destination: Path,
    settings: Settings,
    *,
    timeout: int | None = None,
    html: bool = False,
    on_cell: Callable[[int, int, str], None] | None = None,
) -> Path:
    """Execute a copy of ``source`` in a fresh ``python3`` kernel (cwd: the notebook's folder) and save it to
    ``destination`` (and ``.html`` with ``html``).

    ``on_cell(number, count, first_line)`` is called before each code cell runs; ``timeout`` is per cell.
    The copy is saved after every code cell too, so it shows how far a killed run got. Raises NotebookFailed
    when a cell fails and NotebookInterrupted on Ctrl-C / SIGTERM (the kernel is interrupted first, so the
    cell stops cleanly; a second signal stops at once), both after saving the copy made so far.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(str(source), as_version=4)
    count = len(nb.cells)
    state = {"index": 0, "signal": None}

    def cell_starts(cell, cell_index, **_):
        if state["signal"] is not None:  # the signal came between two cells
            raise KeyboardInterrupt
        state["index"] = cell_index
        if on_cell is not None:
            on_cell(cell_index + 1, count, _first_line(cell.source))

    client = NotebookClient(
        nb,
        config=_kernel_config(),
        kernel_name=KERNEL_NAME,
        timeout=timeout,
        coalesce_streams=True,  # one print() is one output, even when a busy kernel flushes it in two parts
        # Stopped at once after its last reply (a graceful exit took about 1.4 s): nothing the notebooks run needs
        # clean-up at exit; work that did (an atexit hook) would not run.
        shutdown_kernel="immediate",
        resources={"metadata": {"path": str(source.parent)}},
        on_notebook_start=lambda **_: _interrupt_kernel_on_signals(client, state),
        on_cell_execute=cell_starts,
        on_cell_executed=lambda **_: _write_executed(nb, destination),  # progress survives even kill -9
    )
    try:
        client.execute(env=kernel_environment(settings))
    except (CellExecutionError, CellTimeoutError, DeadKernelError, KeyboardInterrupt) as exc:
        _write_executed(nb, destination, html)
        index = state["index"]
        if state["signal"] is not None or isinstance(exc, KeyboardInterrupt):
            signum = state["signal"] or signal.SIGINT
            raise NotebookInterrupted(source, index + 1, count, destination, signum) from None
        if isinstance(exc, CellExecutionError):
            error = f"{exc.ename}: {exc.evalue}"
            fix = write_failure(error, display_path(settings.outputs))  # e.g. a checkpoint on a full disk
            if fix is not None:
                error = f"{fix} ({' '.join(error.split())})"
        elif isinstance(exc, CellTimeoutError):
            error = f"TimeoutError: the cell ran longer than --timeout {timeout} s"
        else:
            error = f"DeadKernelError: the kernel died ({exc}); out of memory?"
        first_line = _first_line(nb.cells[index].source)
        raise NotebookFailed(source, index + 1, count, first_line, error, destination) from None
    _write_executed(nb, destination, html)
    return destination


def _interrupt_kernel_on_signals(client, state: dict) -> None:
    """Replace nbclient's SIGINT/SIGTERM handlers (which kill the kernel under the running cell) by ones that
    interrupt the kernel, so the cell ends with KeyboardInterrupt and the partial copy can be saved."""
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if state["signal"] is not None:
            raise KeyboardInterrupt  # second signal: stop now (nbclient's atexit hook shuts the kernel down)
        state["signal"] = signum
        result = client.km.interrupt_kernel()
        if inspect.isawaitable(result):
            asyncio.ensure_future(result)

    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, on_signal, signum)
        except (RuntimeError, ValueError, NotImplementedError):  # not the main thread, or Windows
            pass


def _kernel_config():
    """Encrypt the kernel's local ZMQ traffic where pyzmq can (this also silences ipykernel's TCP warning)."""
    import zmq
    from traitlets.config import Config

    config = Config()
    if zmq.has("curve"):
        config.KernelManager.transport_encryption = "auto"
    return config


class _CellProgress:
    """'  cell 7/23: first line' per code cell: rewritten in place on a terminal, one line each otherwise."""

    def __init__(self, out: TextIO):
        self.out = out
        self.tty = is_terminal(out)
        self.width = 0

    def __call__(self, number: int, count: int, first_line: str) -> None:
        text = f"  cell {number}/{count}: {first_line}"
        if self.tty:
            limit = max(20, shutil.get_terminal_size().columns - 1)
            text = text[:limit]
            self.out.write("\r" + text.ljust(self.width))
            self.width = len(text)
        else:
            self.out.write(text + "\n")
        self.out.flush()

    def clear(self) -> None:
        if self.tty and self.width:
            self.out.write("\r" + " " * self.width + "\r")
            self.out.flush()
        self.width = 0


def notebook_paths(stages: Sequence[str], notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    """``<notebooks_dir>/<stage>.ipynb`` for each stage; NotebookMissingError naming any that is missing."""
    notebooks = [Path(notebooks_dir) / f"{stage_name(stage)}.ipynb" for stage in stages]
    missing = [display_path(path) for path in notebooks if not path.is_file()]
    if missing:
        raise NotebookMissingError(f"notebook(s) not found: {', '.join(missing)}: run from a complete checkout of the workshop")
    return notebooks


def run_notebooks(
    settings: Settings,
    stages: Sequence[str],
    notebooks_dir: Path = NOTEBOOKS_DIR,
    *,
    timeout: int | None = None,
    html: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Execute ``<notebooks_dir>/<stage>.ipynb`` for each stage in order, with progress on ``out``.

    Copies go to ``<outputs>/executed/``. Returns 0 when all ran; on a failing cell prints which one to
    ``err`` and returns 1 (later stages are not run); 128 + signal number (130 for Ctrl-C, 143 for SIGTERM)
    when interrupted. NotebookMissingError when a notebook is missing.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    notebooks = notebook_paths(stages, notebooks_dir)
    started = time.monotonic()
    for number, notebook in enumerate(notebooks, 1):
        stage, tag = notebook.stem, f"[{number}/{len(notebooks)}] {notebook.stem}"
        print(f"{tag}: running {display_path(notebook)}", file=out, flush=True)
        progress, begin = _CellProgress(out), time.monotonic()
        try:
            execute_notebook(
                notebook, executed_path(settings, stage), settings, timeout=timeout, html=html, on_cell=progress
            )
        except NotebookFailed as failure:
            progress.clear()
            print(f"{tag}: failed after {_duration(time.monotonic() - begin)}", file=out, flush=True)
            print(failure.describe(), file=err, flush=True)
            return EXIT_FAILED
        except NotebookInterrupted as interruption:
            progress.clear()
            out.flush()
            print(interruption, file=err, flush=True)
            return 128 + interruption.signum
        progress.clear()
        print(f"{tag}: done in {_duration(time.monotonic() - begin)}", file=out, flush=True)
    total = _duration(time.monotonic() - started)
    print(f"{len(notebooks)} notebook(s) ran in {total}; executed copies in {display_path(settings.outputs / 'executed')}/", file=out)
    return EXIT_OK
