"""Deployment plumbing: a quiet block for timed exports, a latency timer and file sizes.

The lesson itself (``torch.onnx.export(...)``, ``onnxruntime.InferenceSession(...).run(...)``) is written out in
notebook 06, where a learner can copy it: PyTorch's TorchDynamo-based exporter (its default), with
``dynamic_shapes`` for variable batch and sequence axes, its progress and warnings shown as they come. What stays
here is what is not the lesson:

* :func:`quiet` silences what a block prints and warns about. Notebook 06 does not use it; the benchmark
  (``benchmarks/kernel_choices.py``) does, around the exports it times. Errors still raise.
* :func:`latency_per_sentence`: the median time of one call per sentence.
* :func:`file_size_mb`: a file (with its ``.data`` external weights, if any) or a folder, in MB.

How long each exporter takes on which CPU is in ``benchmarks/README.md`` ("ONNX export: the supported exporter").

Public API::

    quiet()                                 context manager: no warnings, log records or prints from the block
    latency_per_sentence(fn, sentences)     median seconds of fn([sentence])
    file_size_mb(path)                      size of a file (+ its .data) or a folder, MB
"""

from __future__ import annotations

import contextlib
import io
import logging
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["file_size_mb", "latency_per_sentence", "quiet"]


@contextlib.contextmanager
def quiet():
    """Silence Python warnings, WARNING-and-below log records, and prints for the block (errors still raise)."""
    previous_disable = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(
            io.StringIO()
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous_disable)


def latency_per_sentence(
    fn: Callable[[list[str]], object], sentences: Sequence[str], *, repeats: int = 1, warmup: int = 1
) -> float:
    """Median wall-clock seconds of ``fn([sentence])``, over every sentence, ``repeats`` times each.

    ``fn`` gets a list with one sentence; the median ignores the odd slow call. ``warmup`` calls on the first
    sentence run first, untimed. Twenty sentences once each already give a median that a few slow calls cannot
    move; more only lengthen the cell. On a machine shared with other processes, PyTorch's multi-threaded kernels
    can wait on busy cores (a 2-layer model took 136 ms a sentence with 2 threads on 2 loaded cores, 1 ms with
    ``torch.set_num_threads(1)``): for stable numbers set the threads first, for PyTorch and onnxruntime alike.
    """
    sentences = list(sentences)
    if not sentences or repeats < 1:
        raise ValueError("need at least one sentence and one repeat")
    for _ in range(warmup):
        fn(sentences[:1])
    timings = []
    for _ in range(repeats):
        for sentence in sentences:
            start = time.perf_counter()
            fn([sentence])
            timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def file_size_mb(path: str | Path) -> float:
    """Size in megabytes (10**6 bytes) of a file, counting ``<path>.data`` external weights next to it if present.

    For a folder (e.g. a ``save_pretrained`` folder) it is the total of the files in it, tokenizer files included;
    pass ``folder / "model.safetensors"`` to compare weights with weights.
    """
    path = Path(path)
    if path.is_dir():
        return sum(item.stat().st_size for item in path.rglob("*") if item.is_file()) / 1e6
    total = path.stat().st_size
    external = path.with_name(path.name + ".data")
    if external.is_file():
        total += external.stat().st_size
    return total / 1e6
