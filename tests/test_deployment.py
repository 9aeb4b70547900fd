"""Notebook 06's ONNX recipe, and the plumbing in cola_workshop.deployment (quiet, latency, file size).

The export itself is written out in notebook 06 (``torch.onnx.export(..., dynamic_shapes=..., external_data=False)``,
the TorchDynamo-based exporter, PyTorch's default); :func:`export_like_notebook_06` repeats that cell, so that the
recipe is tested on what nbval never feeds it: batches of other sizes, sentences longer than the traced example, a
batch of one, a tokenizer that pads on the left, and Llama- and BERT-style classifiers (``--model``). Everything is
built offline: a byte-level BPE tokenizer trained on a few sentences (GPT-2's kind of tokenizer, ``<|endoftext|>``
as EOS and pad token) and small randomly initialised models. Each export takes seconds (7 to 20 s per model on a
shared 2-core CPU), so the tests that export are marked ``slow``; the quick lane keeps the checks of the notebook's
cell and of the plumbing.
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from cola_workshop.deployment import file_size_mb, latency_per_sentence, quiet

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

ENDOFTEXT = "<|endoftext|>"
CORPUS = [
    "The cat sat on the mat.",
    "The dogs barked all night long in the yard.",
    "John seems to have left quickly.",
    "Mary gave the book to the student who asked for it.",
    "Which book did you say that the teacher wrote?",
    "The children are playing in the garden.",
    "She has never seen such a beautiful painting before.",
]
SENTENCES = [
    "Hi.",
    "The cat sat.",
    "The dogs barked all night long in the yard while the children were playing in the garden.",
    "Mary gave the book to the student.",
    "Book the to gave Mary.",
]
LONG_SENTENCE = " ".join(CORPUS)  # many more tokens than the traced example
EXAMPLE = ["A sentence to trace the model with.", "Short one."]  # notebook 06's example batch
INPUT_NAMES = ["input_ids", "attention_mask"]
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "06_usage.ipynb"


def export_like_notebook_06(model, tokenizer, path):
    """Notebook 06's export cell, as it is written there."""
    model.eval()
    model.config.use_cache = False
    example = tokenizer(EXAMPLE, padding=True, return_tensors="pt", return_token_type_ids=False)
    variable = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    torch.onnx.export(
        model, (), path, kwargs=dict(example), dynamic_shapes=variable, external_data=False,
        input_names=INPUT_NAMES, output_names=["logits"],
    )
    return path


def _notebook_export_cell():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    return next("".join(c["source"]) for c in cells if c["cell_type"] == "code" and "torch.onnx.export(" in "".join(c["source"]))


def onnx_probabilities(session, tokenizer, sentences):
    inputs = tokenizer(sentences, padding=True, return_tensors="np", return_token_type_ids=False)
    (logits,) = session.run(["logits"], dict(inputs))
    return torch.from_numpy(logits).softmax(-1).numpy()


def torch_probabilities(model, tokenizer, sentences):
    inputs = tokenizer(sentences, padding=True, return_tensors="pt", return_token_type_ids=False)
    with torch.inference_mode():
        return model(**inputs).logits.softmax(-1).numpy()


@pytest.fixture(scope="module")
def tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2TokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=[ENDOFTEXT], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    backend.train_from_iterator(CORPUS, trainer)
    tok = GPT2TokenizerFast(tokenizer_object=backend, bos_token=ENDOFTEXT, eos_token=ENDOFTEXT, unk_token=ENDOFTEXT)
    tok.pad_token = tok.eos_token
    assert len(tok) >= 257 and tok.pad_token_id == backend.token_to_id(ENDOFTEXT)
    return tok


def _classifier(kind, tokenizer):
    """A small random ...ForSequenceClassification of the given family, with spread-out logits."""
    from transformers import (BertConfig, BertForSequenceClassification, GPT2Config, GPT2ForSequenceClassification,
                              LlamaConfig, LlamaForSequenceClassification)

    torch.manual_seed(0)
    common = dict(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, num_labels=2, initializer_range=0.3)
    if kind == "gpt2":
        model = GPT2ForSequenceClassification(GPT2Config(n_layer=2, n_head=2, n_embd=32, n_positions=256, **common))
    elif kind == "llama":
        model = LlamaForSequenceClassification(LlamaConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
            max_position_embeddings=256, **common))
    else:
        model = BertForSequenceClassification(BertConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            max_position_embeddings=256, **common))
    return model.eval()


@pytest.fixture(scope="module", params=["gpt2", "llama", "bert"])
def exported(request, tokenizer, tmp_path_factory):
    model = _classifier(request.param, tokenizer)
    path = export_like_notebook_06(model, tokenizer, tmp_path_factory.mktemp(request.param) / "model.onnx")
    return model, path, ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def _n_tokens(tokenizer, sentence):
    return len(tokenizer(sentence)["input_ids"])


# --------------------------------------------------------------------------------------------------
# Notebook 06's export recipe
# --------------------------------------------------------------------------------------------------


@pytest.mark.slow  # an export: seconds each
def test_export_writes_one_self_contained_file_with_dynamic_axes(exported):
    _, path, _ = exported
    assert path.is_file() and not path.with_name(path.name + ".data").exists()
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    assert [i.name for i in proto.graph.input] == INPUT_NAMES  # no token_type_ids, no cache
    assert [o.name for o in proto.graph.output] == ["logits"]
    for graph_input in proto.graph.input:
        assert [d.dim_param for d in graph_input.type.tensor_type.shape.dim] == ["batch", "sequence"]
    logits_dims = proto.graph.output[0].type.tensor_type.shape.dim
    assert logits_dims[0].dim_param == "batch" and logits_dims[1].dim_value == 2


@pytest.mark.slow  # an export: seconds each
def test_onnx_matches_pytorch_on_batches_and_lengths_it_was_not_traced_on(exported, tokenizer):
    model, _, session = exported
    longest_example = max(_n_tokens(tokenizer, s) for s in EXAMPLE)
    assert _n_tokens(tokenizer, LONG_SENTENCE) > 2 * longest_example
    for batch in (SENTENCES + [LONG_SENTENCE], SENTENCES[:3], ["Hi."], [LONG_SENTENCE]):
        expected = torch_probabilities(model, tokenizer, batch)
        got = onnx_probabilities(session, tokenizer, batch)
        assert got.shape == expected.shape == (len(batch), 2)
        assert np.abs(got - expected).max() < 1e-4  # float32 on the CPU both: only the order of additions differs
    spread = torch_probabilities(model, tokenizer, SENTENCES)[:, 1]
    assert np.ptp(spread) > 0.05  # the random model does tell the sentences apart: a meaningful comparison


@pytest.mark.slow  # an export: seconds each
def test_a_padded_batch_equals_one_sentence_at_a_time(exported, tokenizer):
    """The graph keeps the padding: each row of a right-padded batch has the logits of its sentence alone."""
    _, _, session = exported
    batch = SENTENCES + [LONG_SENTENCE]
    alone = np.concatenate([onnx_probabilities(session, tokenizer, [s]) for s in batch])
    assert np.abs(onnx_probabilities(session, tokenizer, batch) - alone).max() < 1e-4


@pytest.mark.slow  # an export: seconds each
def test_a_tokenizer_that_pads_on_the_left_gets_pytorchs_probabilities_too(exported, tokenizer):
    """The file was traced on a right-padded batch; a left-padding tokenizer (many Llama-style ones) still gets
    from it what PyTorch gives on the same inputs (the pooling takes each row's rightmost token that is not padding)."""
    model, _, session = exported
    left = copy.deepcopy(tokenizer)
    left.padding_side = "left"
    batch = SENTENCES + [LONG_SENTENCE]
    assert left(batch, padding=True)["attention_mask"][0][0] == 0  # the short ones are padded on the left
    expected = torch_probabilities(model, left, batch)
    assert np.abs(onnx_probabilities(session, left, batch) - expected).max() < 1e-4


def test_the_notebook_exports_with_the_supported_exporter_and_hides_nothing():
    """PyTorch's TorchDynamo-based exporter (its default), variable axes, one file, and no warning silenced."""
    cell = _notebook_export_cell()
    assert "dynamo=False" not in cell and "dynamic_axes" not in cell  # the deprecated TorchScript exporter
    assert "dynamic_shapes=" in cell and "external_data=False" in cell
    assert not any(hidden in cell for hidden in ("quiet(", "warnings", "redirect_std", "logging"))


@pytest.mark.slow  # an export: seconds each
def test_export_of_a_model_in_training_mode_has_no_dropout(tokenizer, tmp_path):
    model = _classifier("gpt2", tokenizer).train()
    path = export_like_notebook_06(model, tokenizer, tmp_path / "model.onnx")
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    first, second = (onnx_probabilities(session, tokenizer, SENTENCES) for _ in range(2))
    assert np.array_equal(first, second)
    assert np.abs(first - torch_probabilities(model.eval(), tokenizer, SENTENCES)).max() < 1e-4


# --------------------------------------------------------------------------------------------------
# Plumbing: quiet (for the benchmark's timed exports), latency, size
# --------------------------------------------------------------------------------------------------


def test_quiet_silences_prints_warnings_and_log_records_but_not_errors(capfd):
    import logging

    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet():
            print("exporting...")
            warnings.warn("TracerWarning: converting a tensor to a Python boolean")
            logging.getLogger("torch.onnx").warning("torchvision is not installed")
    assert capfd.readouterr() == ("", "") and caught == []
    with pytest.raises(RuntimeError, match="export failed"), quiet():
        raise RuntimeError("export failed")
    assert logging.root.manager.disable == logging.NOTSET  # logging is given back


def test_latency_per_sentence_calls_fn_once_per_sentence_and_repeat():
    calls = []
    seconds = latency_per_sentence(calls.append, ["a", "b", "c"], repeats=2, warmup=1)
    assert seconds > 0
    assert calls == [["a"]] + [["a"], ["b"], ["c"]] * 2
    with pytest.raises(ValueError):
        latency_per_sentence(calls.append, [])


@pytest.mark.slow  # an export: seconds each
def test_latency_of_both_runtimes_is_positive(exported, tokenizer):
    model, _, session = exported
    for run in (lambda b: torch_probabilities(model, tokenizer, b), lambda b: onnx_probabilities(session, tokenizer, b)):
        assert 0 < latency_per_sentence(run, SENTENCES[:3]) < 5


@pytest.mark.slow  # an export: seconds each
def test_file_size_mb(exported):
    model, path, _ = exported
    size = file_size_mb(path)
    assert size == pytest.approx(path.stat().st_size / 1e6)
    assert size > 0.9 * sum(p.numel() for p in model.parameters()) * 4 / 1e6  # float32 weights are in the file


def test_file_size_mb_counts_external_weights_and_folders(tmp_path):
    (tmp_path / "weights.onnx").write_bytes(b"x" * 1000)
    (tmp_path / "weights.onnx.data").write_bytes(b"x" * 2000)
    assert file_size_mb(tmp_path / "weights.onnx") == pytest.approx(0.003)
    assert file_size_mb(tmp_path) == pytest.approx(0.003)  # a folder: all its files
