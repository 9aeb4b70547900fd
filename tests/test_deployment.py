"""Tests for cola_workshop.deployment: ONNX export of the classifier, onnxruntime parity, latency and size.

Everything is built offline in the test: a byte-level BPE tokenizer trained on a few sentences (GPT-2's kind of
tokenizer, with ``<|endoftext|>`` as EOS and pad token) and a randomly initialised 2-layer
GPT2ForSequenceClassification. The model is exported once per module (a few seconds); the tests share the file.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch

from cola_workshop.deployment import (
    EXAMPLE_SENTENCES,
    INPUT_NAMES,
    OUTPUT_NAMES,
    _batches,
    export_onnx,
    file_size_mb,
    latency_per_sentence,
    onnx_session,
    probabilities_onnx,
    probabilities_torch,
)

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
LONG_SENTENCE = " ".join(CORPUS)  # many more tokens than the export example


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


def _tiny_classifier(tokenizer, **overrides):
    from transformers import GPT2Config, GPT2ForSequenceClassification

    torch.manual_seed(0)
    settings = dict(
        n_layer=2,
        n_head=2,
        n_embd=32,
        n_positions=256,  # the long test sentence has about 170 tokens with this small vocabulary
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        num_labels=2,
        initializer_range=0.3,  # spread-out logits, so that probabilities are far from 0.5 and differences show
    )
    settings.update(overrides)
    return GPT2ForSequenceClassification(GPT2Config(**settings)).eval()


@pytest.fixture(scope="module")
def model(tokenizer):
    return _tiny_classifier(tokenizer)


@pytest.fixture(scope="module")
def onnx_path(model, tokenizer, tmp_path_factory):
    return export_onnx(model, tokenizer, tmp_path_factory.mktemp("onnx") / "classifier.onnx")


@pytest.fixture(scope="module")
def session(onnx_path):
    return onnx_session(onnx_path)


def _n_tokens(tokenizer, sentence):
    return len(tokenizer(sentence)["input_ids"])


# --------------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------------


def test_export_writes_one_self_contained_file_with_dynamic_axes(onnx_path):
    assert onnx_path.suffix == ".onnx" and onnx_path.is_file()
    assert not onnx_path.with_name(onnx_path.name + ".data").exists()  # weights are inside the one file
    proto = onnx.load(str(onnx_path))
    onnx.checker.check_model(proto)
    assert [i.name for i in proto.graph.input] == list(INPUT_NAMES)
    assert [o.name for o in proto.graph.output] == list(OUTPUT_NAMES)
    for graph_input in proto.graph.input:
        dims = graph_input.type.tensor_type.shape.dim
        assert [d.dim_param for d in dims] == ["batch", "sequence"]  # symbolic, not fixed to the example
    logits_dims = proto.graph.output[0].type.tensor_type.shape.dim
    assert logits_dims[0].dim_param == "batch" and logits_dims[1].dim_value == 2


def test_session_runs_batch_of_one_and_a_sentence_longer_than_the_example(session, tokenizer):
    longest_example = max(_n_tokens(tokenizer, s) for s in EXAMPLE_SENTENCES)
    assert _n_tokens(tokenizer, LONG_SENTENCE) > 2 * longest_example
    for sentence in ("Hi.", LONG_SENTENCE):
        encoded = tokenizer([sentence], return_tensors="np")
        (logits,) = session.run(["logits"], {name: encoded[name].astype(np.int64) for name in INPUT_NAMES})
        assert logits.shape == (1, 2) and np.isfinite(logits).all()


def test_onnx_probabilities_match_pytorch_within_1e_4(model, tokenizer, session):
    sentences = SENTENCES + [LONG_SENTENCE]
    assert len({_n_tokens(tokenizer, s) for s in sentences}) == len(sentences)  # all lengths differ
    expected = probabilities_torch(model, tokenizer, sentences)
    got = probabilities_onnx(session, tokenizer, sentences)
    assert got.shape == expected.shape == (len(sentences), 2)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-9)
    assert np.ptp(expected[:, 1]) > 0.05  # the random model does tell the sentences apart: a meaningful check
    assert np.abs(got - expected).max() < 1e-4


def test_padded_batch_equals_one_sentence_at_a_time(model, tokenizer, session):
    """The graph itself finds each sentence's last non-pad token: a padded batch equals one sentence at a time."""
    sentences = SENTENCES + [LONG_SENTENCE]
    one_at_a_time = probabilities_torch(model, tokenizer, sentences, batch_size=1)  # no padding at all
    batched = probabilities_onnx(session, tokenizer, sentences, batch_size=len(sentences))
    assert np.abs(batched - one_at_a_time).max() < 1e-4
    # even for a tokenizer set to pad on the left (the helpers always pad on the right)
    left = copy.deepcopy(tokenizer)
    left.padding_side = "left"
    assert np.abs(probabilities_onnx(session, left, sentences, batch_size=4) - one_at_a_time).max() < 1e-4


def test_rows_come_back_in_the_order_given_although_batches_go_by_length(model, tokenizer, session):
    """The helpers batch the shortest sentences first (less padding) and put each row back where it was given."""
    sentences = [LONG_SENTENCE, "Hi.", SENTENCES[2], "The cat sat.", SENTENCES[3], SENTENCES[4]]
    lengths = [_n_tokens(tokenizer, s) for s in sentences]
    assert lengths != sorted(lengths)  # given out of length order
    alone = np.concatenate([probabilities_torch(model, tokenizer, [s]) for s in sentences])
    assert np.abs(probabilities_torch(model, tokenizer, sentences, batch_size=2) - alone).max() < 1e-5
    assert np.abs(probabilities_onnx(session, tokenizer, sentences, batch_size=2) - alone).max() < 1e-4
    batches = list(_batches(sentences, tokenizer, 2))
    assert sorted(row for rows, _ in batches for row in rows) == list(range(len(sentences)))
    widths = [batch["input_ids"].shape[1] for _, batch in batches]
    assert widths == sorted(lengths)[1::2]  # each batch as wide as its longer sentence: pairs of neighbours


def test_an_empty_sentence_is_named_not_batched(model, tokenizer):
    with pytest.raises(ValueError, match=r"sentence 1 \(''\) has no tokens"):
        probabilities_torch(model, tokenizer, ["The cat sat.", "", "Hi."])


def test_graph_pools_the_last_real_token_of_a_left_padded_batch_like_pytorch(model, tokenizer, session):
    """Left padding changes GPT-2's logits (its positions shift), in PyTorch and ONNX alike: the graph matches."""
    left = copy.deepcopy(tokenizer)
    left.padding_side = "left"
    encoded = left(SENTENCES, padding=True, return_tensors="np")
    assert (encoded["attention_mask"][:, 0] == 0).any()  # really padded on the left
    inputs = {name: encoded[name].astype(np.int64) for name in INPUT_NAMES}
    (logits,) = session.run(["logits"], inputs)
    with torch.inference_mode():
        expected = model(**{k: torch.from_numpy(v) for k, v in inputs.items()}, use_cache=False).logits.numpy()
    assert np.abs(logits - expected).max() < 1e-4
    assert np.array_equal(logits, session.run(["logits"], inputs)[0])  # and runs repeat bit for bit


def test_export_traces_in_eval_mode_restores_the_mode_and_prints_nothing(tokenizer, tmp_path, capfd):
    from transformers import GPT2Config, GPT2ForSequenceClassification

    torch.manual_seed(1)
    config = GPT2Config(
        n_layer=1, n_head=2, n_embd=16, n_positions=64, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id
    )
    trained = GPT2ForSequenceClassification(config).train()  # dropout active: must not be baked into the graph
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = export_onnx(trained, tokenizer, tmp_path / "sub" / "model.onnx")
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")  # e.g. no "torchvision is not installed" log lines (nbval compares streams)
    assert [str(w.message) for w in caught] == []
    assert trained.training  # given back in the mode it came in
    got = probabilities_onnx(onnx_session(path, threads=1), tokenizer, SENTENCES)
    expected = probabilities_torch(trained, tokenizer, SENTENCES)  # evaluated in eval mode
    assert trained.training
    assert np.abs(got - expected).max() < 1e-4


def test_export_refuses_a_model_without_pad_token_id(tokenizer, tmp_path):
    model = _tiny_classifier(tokenizer, n_layer=1, pad_token_id=None)
    with pytest.raises(ValueError, match="pad_token_id"):
        export_onnx(model, tokenizer, tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


# --------------------------------------------------------------------------------------------------
# Latency and size
# --------------------------------------------------------------------------------------------------


def test_latency_per_sentence_is_positive_for_both_runtimes(model, tokenizer, session):
    sentences = SENTENCES[:3]
    torch_latency = latency_per_sentence(lambda b: probabilities_torch(model, tokenizer, b), sentences, repeats=2)
    onnx_latency = latency_per_sentence(lambda b: probabilities_onnx(session, tokenizer, b), sentences, repeats=2)
    assert 0 < torch_latency < 5 and 0 < onnx_latency < 5


def test_latency_per_sentence_calls_fn_once_per_sentence_and_repeat():
    calls = []
    seconds = latency_per_sentence(calls.append, ["a", "b", "c"], repeats=2, warmup=1)
    assert seconds > 0
    assert calls == [["a"]] + [["a"], ["b"], ["c"]] * 2
    with pytest.raises(ValueError):
        latency_per_sentence(calls.append, [])


def test_file_size_mb(onnx_path, model, tmp_path):
    size = file_size_mb(onnx_path)
    assert size == pytest.approx(onnx_path.stat().st_size / 1e6)
    n_weights = sum(p.numel() for p in model.parameters())
    assert size > 0.9 * n_weights * 4 / 1e6  # float32 weights are in the file
    (tmp_path / "weights.onnx").write_bytes(b"x" * 1000)
    (tmp_path / "weights.onnx.data").write_bytes(b"x" * 2000)
    assert file_size_mb(tmp_path / "weights.onnx") == pytest.approx(0.003)
    assert file_size_mb(tmp_path) == pytest.approx(0.003)  # a folder: all its files
