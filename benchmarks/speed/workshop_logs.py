"""Reading what a workshop run leaves behind: per-notebook wall times, per-epoch training times, throughput.

Pure helpers (no torch), unit-tested in tests/test_benchmark.py. The end-to-end mode feeds them the progress
lines of ``cola_workshop.tools.execution.run_notebooks`` and the Trainer's ``log_history`` that notebook 05 saves;
the reference run's log goes through the same code, so both sides are read alike.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TextIO

# run_notebooks prints "[2/6] 02_exploration: running ...", then "... done in 4.1 s" or "... failed after ...".
NOTEBOOK_LINE = re.compile(r"^\[(\d+)/(\d+)\] (\S+): (running|done in|failed after)\b")
_EVENTS = {"running": "start", "done in": "done", "failed after": "failed"}


def notebook_event(line: str) -> tuple[str, str] | None:
    """(stage, 'start' | 'done' | 'failed') for a progress line of run_notebooks, None for any other line."""
    match = NOTEBOOK_LINE.match(line.strip("\r\n"))
    return (match.group(3), _EVENTS[match.group(4)]) if match else None


class NotebookTimer:
    """A text stream to give run_notebooks as ``out``: notes when each notebook starts and ends.

    Lines are passed on to ``forward`` (per-cell progress lines only with ``show_cells``), so the run's
    progress stays visible. ``clock`` is injectable so the bookkeeping can be tested without running anything.
    """

    def __init__(self, forward: TextIO | None = None, clock: Callable[[], float] = time.perf_counter,
                 show_cells: bool = False):
        self.forward, self.clock, self.show_cells = forward, clock, show_cells
        self.timings: dict[str, dict] = {}
        self._pending = ""

    def isatty(self) -> bool:  # one progress line per cell, never rewritten in place
        return False

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._line(line)
        return len(text)

    def flush(self) -> None:
        if self.forward is not None:
            self.forward.flush()

    def _line(self, line: str) -> None:
        event = notebook_event(line)
        if event is not None:
            stage, kind = event
            if kind == "start":
                self.timings[stage] = {"start": self.clock(), "end": None, "status": "running"}
            elif stage in self.timings:
                self.timings[stage].update(end=self.clock(), status=kind)
        if self.forward is not None and (self.show_cells or not line.startswith("  cell ")):
            self.forward.write(line + "\n")

    def wall_seconds(self) -> dict[str, float]:
        """Seconds per notebook that finished (done or failed), in the order they ran."""
        return {stage: t["end"] - t["start"] for stage, t in self.timings.items() if t["end"] is not None}


def peak_between(samples: list[tuple[float, int]], start: float, end: float | None) -> int | None:
    """The largest sampled value with start <= time <= end (end None: to the last sample); None if none fell there."""
    inside = [value for moment, value in samples if moment >= start and (end is None or moment <= end)]
    return max(inside) if inside else None


def training_epochs(log_history: list[dict]) -> dict:
    """Training time per epoch from a Trainer's ``log_history`` (notebook 05's log_history.json).

    The log carries no timestamps, only the whole ``train_runtime`` (training, the per-epoch evaluations and
    checkpoint saves) and each evaluation's ``eval_runtime``. So the training time is ``train_runtime`` less
    the evaluations (saves stay in: they are part of an epoch's cost), shared out over the epochs by their
    optimizer steps; evaluation times are per epoch as measured. Evaluations logged after training (notebook
    05's final ``trainer.evaluate()``) are not counted.
    """
    summary_at = next((i for i, entry in enumerate(log_history) if "train_runtime" in entry), None)
    if summary_at is None:
        raise ValueError("the log has no 'train_runtime' entry: training did not finish; rerun notebook 05")
    summary = log_history[summary_at]
    evaluations = [entry for entry in log_history[:summary_at] if "eval_runtime" in entry]
    total_steps = int(summary.get("step", 0))
    eval_s = sum(entry["eval_runtime"] for entry in evaluations)
    training_s = summary["train_runtime"] - eval_s
    epochs, previous_step = [], 0
    for entry in evaluations:
        steps = int(entry["step"]) - previous_step
        previous_step = int(entry["step"])
        epochs.append({"epoch": entry.get("epoch"), "steps": steps, "eval_s": entry["eval_runtime"],
                       "train_s": training_s * steps / total_steps if total_steps else float("nan"),
                       "mcc": entry.get("eval_matthews_correlation")})
    if total_steps > previous_step:  # steps after the last evaluation (a fractional last epoch, no eval)
        steps = total_steps - previous_step
        epochs.append({"epoch": summary.get("epoch"), "steps": steps, "eval_s": None,
                       "train_s": training_s * steps / total_steps, "mcc": None})
    completed = float(summary.get("epoch") or len(evaluations) or 1)
    return {"epochs": completed, "steps": total_steps, "train_runtime_s": summary["train_runtime"],
            "eval_s": eval_s, "training_s": training_s, "training_s_per_epoch": training_s / completed,
            "per_epoch": epochs}


def training_throughput(training_s: float, epochs: float, train_rows: int, real_tokens_per_epoch: int) -> dict:
    """Samples and real (non-padding) tokens per second of training, evaluation excluded."""
    if training_s <= 0:
        return {"samples_per_s": float("nan"), "real_tokens_per_s": float("nan")}
    return {"samples_per_s": epochs * train_rows / training_s,
            "real_tokens_per_s": epochs * real_tokens_per_epoch / training_s}
