"""Deployment: export the fine-tuned classifier to ONNX and check it against PyTorch with onnxruntime.

The exported graph takes ``input_ids`` and ``attention_mask`` (int64, shape ``[batch, sequence]``, both axes
dynamic) and returns ``logits`` (float32, ``[batch, num_labels]``). It contains the model's own pooling: for
GPT-2 (and Llama-style) classifiers that is "the logits of the rightmost token that is not ``config.pad_token_id``",
computed from ``input_ids`` inside the graph, so a right-padded batch gives the same logits as one sentence at
a time, and a left-padded batch the same logits as PyTorch on that batch (which differ from the unpadded ones
because GPT-2's position ids then shift; this module's helpers therefore always pad on the right).
BERT-style classifiers (pooling the first token) export the same way.

How it is exported, and why (torch 2.13, transformers 5, onnxscript 0.7, onnxruntime 1.32):

* ``torch.onnx.export(..., dynamo=True)``: the ``torch.export``-based exporter, the default since torch 2.9.
  Measured on 2 busy CPU cores: 4 to 8 s for a 2-layer GPT-2 (the first export in a process includes a few
  seconds of warm-up), 14 to 25 s for a GPT-2 small sized model. The older TorchScript exporter
  (``dynamo=False``) still works on this stack and is faster (0.4 to 0.7 s and 15 s), but it is deprecated
  and traces with Python-level shape checks baked in (it prints a ``DeprecationWarning`` and several
  ``TracerWarning`` messages about transformers' mask code), whereas ``torch.export`` records the dynamic batch and
  sequence axes symbolically. Both matched PyTorch's logits (within 2e-6) on padded batches of tiny GPT-2,
  Llama and BERT classifiers.
* ``dynamic_shapes`` names axis 0 ``batch`` and axis 1 ``sequence`` of both inputs. The example batch has two
  sentences of different lengths, padded, so that neither axis is specialised to 1 and the traced graph
  contains the padding-aware pooling.
* :class:`LogitsOnly` calls the model with ``use_cache=False`` and returns only the logits tensor: a
  transformers 5 decoder otherwise returns a ``DynamicCache`` object, which ``torch.export`` refuses.
* Opset 20 (the exporter's default in torch 2.13, also named explicitly here), ``optimize=True`` (the
  onnxscript optimizer folds the graph from about 400 to about 160 nodes for a 2-layer GPT-2, for about
  half a second), weights inside the one ``.onnx`` file (a file above 2 GB, which no CoLA model here reaches,
  would get an ``<name>.onnx.data`` file next to it, which :func:`file_size_mb` counts).
* The exporter's warnings (Python warnings and torch's logging: "torchvision is not installed", axis-renaming
  notes, deprecation notes) are silenced during the export, so a notebook cell that exports prints nothing.
  Errors are still raised.

onnxruntime gives the same probabilities whatever its number of threads (checked bit for bit on GPT-2 small),
so :func:`onnx_session` uses as many intra-op threads as PyTorch does, which makes the latencies comparable.

Public API::

    LogitsOnly(model)                                          the module that is exported: ids, mask -> logits
    export_onnx(model, tokenizer, path)                        write the classifier to one .onnx file, return the path
    onnx_session(path)                                         an onnxruntime InferenceSession on the CPU
    probabilities_torch(model, tokenizer, sentences)           softmax of PyTorch's logits, np.ndarray [n, num_labels]
    probabilities_onnx(session, tokenizer, sentences)          the same with the ONNX model in onnxruntime
    latency_per_sentence(fn, sentences)                        median seconds of fn([sentence])
    file_size_mb(path)                                         size of a file (+ its .data) or a folder, MB
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

import numpy as np
import torch

__all__ = [
    "EXAMPLE_SENTENCES",
    "INPUT_NAMES",
    "OUTPUT_NAMES",
    "OPSET",
    "LogitsOnly",
    "export_onnx",
    "file_size_mb",
    "latency_per_sentence",
    "onnx_session",
    "probabilities_onnx",
    "probabilities_torch",
]

INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAMES = ("logits",)
OPSET = 20
#: The two sentences of the example batch traced at export: different lengths, so the batch is padded.
EXAMPLE_SENTENCES = ("The exported graph accepts batches of sentences of any length.", "Short one.")
_DYNAMIC_SHAPES = {name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES}


class LogitsOnly(torch.nn.Module):
    """Wrap a ``...ForSequenceClassification`` model: ``forward(input_ids, attention_mask) -> logits``.

    This is what gets exported: plain tensors in, one tensor out. Decoders are called with ``use_cache=False``
    (no key/value cache is built or returned); models whose config has no ``use_cache`` are called without it.
    """

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model
        self._extra = {"use_cache": False} if hasattr(model.config, "use_cache") else {}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask, **self._extra).logits


@contextlib.contextmanager
def _eval_mode(model: torch.nn.Module):
    """Put ``model`` in eval mode for the block and give it back in the mode it was in."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@contextlib.contextmanager
def _quiet():
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


def _encode(tokenizer, sentences: Sequence[str], pad_id: int | None) -> dict[str, np.ndarray]:
    """Tokenize ``sentences`` and pad them on the right with ``pad_id``: int64 arrays (see :func:`_pad`)."""
    return _pad(tokenizer(list(sentences), truncation=True)["input_ids"], pad_id)


def _pad(ids: Sequence[Sequence[int]], pad_id: int | None) -> dict[str, np.ndarray]:
    """Token ids padded on the right with ``pad_id`` into ``input_ids`` and ``attention_mask`` int64 arrays.

    Always on the right, whatever ``tokenizer.padding_side`` says: GPT-2's position ids count from the first
    column, so left padding would shift the positions of a sentence's tokens and change its logits (in PyTorch
    too), while right padding with the attention mask gives exactly the logits of the sentence alone.
    """
    length = max(len(row) for row in ids)
    if pad_id is None and any(len(row) != length for row in ids):
        raise ValueError("sentences of different lengths need a pad token to be batched")
    input_ids = np.full((len(ids), length), pad_id if pad_id is not None else 0, dtype=np.int64)
    attention_mask = np.zeros((len(ids), length), dtype=np.int64)
    for i, row in enumerate(ids):
        input_ids[i, : len(row)] = row
        attention_mask[i, : len(row)] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def _batches(sentences: Sequence[str], tokenizer, batch_size: int):
    """Yield ``(rows, batch)``: the indices of some sentences and their padded arrays, shortest sentences first.

    Batching in order of token length puts sentences of similar length together, so a batch carries little
    padding: over CoLA's 1,043 validation sentences in their own order, batches of 32 compute 1.9 times the real
    tokens, sorted 1.05 times. Without a pad token, one sentence per batch (nothing to pad).
    """
    sentences = list(sentences)
    if not sentences:
        raise ValueError("no sentences given")
    ids = tokenizer(sentences, truncation=True)["input_ids"]
    empty = [i for i, row in enumerate(ids) if not row]
    if empty:
        raise ValueError(f"sentence {empty[0]} ({sentences[empty[0]]!r}) has no tokens: remove empty sentences first")
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # stable: equal lengths keep their order
    size = batch_size if tokenizer.pad_token_id is not None else 1
    for start in range(0, len(order), size):
        rows = order[start : start + size]
        yield rows, _pad([ids[i] for i in rows], tokenizer.pad_token_id)


def _probabilities(logits_of: Callable[[dict[str, np.ndarray]], np.ndarray], sentences, tokenizer, batch_size):
    """Softmax of ``logits_of(batch)`` over :func:`_batches`, rows back in the order of ``sentences``."""
    logits = None
    for rows, batch in _batches(sentences, tokenizer, batch_size):
        batch_logits = np.asarray(logits_of(batch), dtype=np.float32)
        if logits is None:
            logits = np.empty((len(sentences), batch_logits.shape[-1]), dtype=np.float32)
        logits[rows] = batch_logits
    return _softmax(logits)


def _softmax(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def export_onnx(model: torch.nn.Module, tokenizer, path: str | Path, *, opset: int = OPSET) -> Path:
    """Export a ``...ForSequenceClassification`` model to ONNX at ``path`` and return the path.

    The graph has inputs ``input_ids`` and ``attention_mask`` (dynamic ``batch`` and ``sequence`` axes) and the
    output ``logits`` ``[batch, num_labels]``. The model is traced in eval mode (and put back in the mode it was
    in) on its own device; export a float32 model on the CPU for onnxruntime's CPU provider.
    ``model.config.pad_token_id`` must be set: GPT-2 pools the last token that is not padding and needs it
    to batch. The exporter's warnings are silenced; nothing is printed. A stale ``<path>.data`` next to
    ``path`` is removed; one is written only for a model above 2 GB.
    """
    path = Path(path)
    pad_id = getattr(model.config, "pad_token_id", None)
    if pad_id is None:
        raise ValueError(
            "model.config.pad_token_id is None: set it (for GPT-2, model.config.pad_token_id = "
            "tokenizer.pad_token_id) so that the exported model can pool the last non-padding token of a batch"
        )
    if tokenizer.pad_token_id is not None and tokenizer.pad_token_id != pad_id:
        raise ValueError(
            f"tokenizer.pad_token_id ({tokenizer.pad_token_id}) differs from model.config.pad_token_id ({pad_id}): "
            "padded batches would be pooled at the wrong token"
        )
    device = next(model.parameters()).device
    example = {k: torch.from_numpy(v).to(device) for k, v in _encode(tokenizer, EXAMPLE_SENTENCES, pad_id).items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    external = path.with_name(path.name + ".data")
    external.unlink(missing_ok=True)
    with _eval_mode(model), _quiet():
        program = torch.onnx.export(
            LogitsOnly(model).eval(),
            (),
            kwargs=example,
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_shapes=_DYNAMIC_SHAPES,
            opset_version=opset,
            dynamo=True,
            optimize=True,
            verbose=False,
        )
        program.save(str(path))  # one file; weights go to <path>.data only above protobuf's 2 GB limit
    return path


def onnx_session(path: str | Path, *, threads: int | None = None):
    """An ``onnxruntime.InferenceSession`` for ``path`` on the CPU.

    ``threads``: intra-op threads; ``None`` uses as many as PyTorch (``torch.get_num_threads()``), so that the
    latencies of both compare like with like. onnxruntime's own warnings are not printed (errors are).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    options.use_deterministic_compute = True
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


@torch.inference_mode()
def probabilities_torch(
    model: torch.nn.Module, tokenizer, sentences: Sequence[str], *, batch_size: int = 32
) -> np.ndarray:
    """Class probabilities from PyTorch (softmax of the logits), ``np.ndarray`` of shape ``[n, num_labels]``.

    Batches are padded on the right with ``tokenizer.pad_token_id``, exactly as :func:`probabilities_onnx` pads
    them; the result does not depend on ``batch_size`` (beyond float rounding).
    """
    device = next(model.parameters()).device
    wrapped = LogitsOnly(model)

    def logits_of(batch):
        return wrapped(**{k: torch.from_numpy(v).to(device) for k, v in batch.items()}).float().cpu().numpy()

    with _eval_mode(model):
        return _probabilities(logits_of, sentences, tokenizer, batch_size)


def probabilities_onnx(session, tokenizer, sentences: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
    """Class probabilities from an onnxruntime ``session`` of :func:`export_onnx`'s file, ``[n, num_labels]``."""
    names = [node.name for node in session.get_inputs()]
    return _probabilities(
        lambda batch: session.run(list(OUTPUT_NAMES), {name: batch[name] for name in names})[0],
        sentences, tokenizer, batch_size,
    )


def latency_per_sentence(
    fn: Callable[[list[str]], object], sentences: Sequence[str], *, repeats: int = 1, warmup: int = 1
) -> float:
    """Median wall-clock seconds of ``fn([sentence])``, over every sentence, ``repeats`` times each.

    One pass over notebook 06's 50 sentences already gives a median that a few slow calls cannot move; more
    repeats only lengthen the cell (GPT-2 small on one CPU core: tens of ms a call).

    ``fn`` gets a list with one sentence, e.g. ``lambda batch: probabilities_onnx(session, tokenizer, batch)``;
    the median ignores the odd slow call. ``warmup`` calls on the first sentence run first, untimed.
    On a machine shared with other processes, PyTorch's multi-threaded kernels can wait on busy cores (a 2-layer
    model took 136 ms a sentence with 2 threads on 2 loaded cores, 1 ms with ``torch.set_num_threads(1)``);
    for stable numbers set the threads first (:func:`onnx_session` follows ``torch.get_num_threads()``).
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
