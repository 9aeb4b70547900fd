"""Deployment plumbing for notebook 06: a quiet export, a latency timer and file sizes.

The lesson itself (``torch.onnx.export(...)``, ``onnxruntime.InferenceSession(...).run(...)``) is written out in
notebook 06, where a learner can copy it. What stays here is what is not the lesson:

* :func:`quiet` silences what the exporter prints and warns about while it works. ``torch.onnx.export(...,
  dynamo=False)`` (the TorchScript exporter, which notebook 06 uses) warns that it is deprecated and prints
  ``TracerWarning`` notes about transformers' mask code; nbval compares a cell's streams, so they would also
  make the check flaky. Errors still raise.
* :func:`latency_per_sentence`: the median time of one call per sentence.
* :func:`file_size_mb`: a file (with its ``.data`` external weights, if any) or a folder, in MB.

Why notebook 06 exports with the TorchScript exporter (``dynamo=False``), measured with a GPT-2-small sized
classifier (``GPT2ForSequenceClassification(GPT2Config())``, 124M parameters, random weights, GPT-2's real
tokenizer), torch 2.13, onnxscript 0.7, on an Intel Xeon (2 cores, AVX512-BF16) shared with other jobs (load
average 13 to 17), two runs each: ``dynamo=False`` took 22.5 and 41.4 s including writing the 498 MB file;
``dynamo=True`` (the ``torch.export``-based default) took 106 to 151 s (82 to 137 s to trace and translate, most
of it in ``torch.export``'s symbolic-shape tracing, which does not depend on the weights, then 13 to 33 s to
write the file). Both matched PyTorch's logits within 1.1e-6 on a padded batch. On the tiny profile's model the
export cell of notebook 06 took 2.8 s against 46.6 s with ``dynamo=True`` (same machine, same load). The TorchScript exporter records the dynamic ``batch`` and
``sequence`` axes from ``dynamic_axes``; notebook 06 traces a padded batch of two sentences of different lengths,
so that the graph holds the padding-aware pooling of GPT-2's last real token (``tests/test_deployment.py`` runs the
same recipe on batches of other sizes and lengths).

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
