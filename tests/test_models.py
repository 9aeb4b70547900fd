"""Tests for cola_workshop.models (is it a decoder? the prefetch copy) and for what the notebooks rely on when
they load a model themselves: the calls below are the notebooks' own (03 sets the padding token, 05 builds the
classifier, tells it the padding id and grows its embeddings for a new token).

Models come from data/tiny-gpt2 (or are built in tmp_path). Nothing here uses the network.
"""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from cola_workshop.models import is_causal_lm, save_for_offline
from cola_workshop.sources import ModelSourceError, model_source

TINY_MODEL = "data/tiny-gpt2"
ID2LABEL = {0: "unacceptable", 1: "acceptable"}
SENTENCES = [
    "The otter swam across the pond.",
    "Which lamp did you fix?",
    "Nobody expected the long and rather noisy parade to stop so suddenly at the bridge.",
    "Go.",
]


def notebook_tokenizer():
    """Notebooks 01 and 03: the model's tokenizer, with the end-of-text token for padding where it has none."""
    tokenizer = AutoTokenizer.from_pretrained(model_source(TINY_MODEL, weights=False))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def notebook_classifier(tokenizer):
    """Notebook 05: a two-label classifier (a new head on the pretrained body) that knows the padding id."""
    model = AutoModelForSequenceClassification.from_pretrained(
        model_source(TINY_MODEL), num_labels=2, id2label=ID2LABEL, label2id={v: k for k, v in ID2LABEL.items()}
    )
    model.config.pad_token_id = tokenizer.pad_token_id
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))
    return model.eval()


@pytest.fixture(scope="module")
def tokenizer():
    return notebook_tokenizer()


@pytest.fixture(scope="module")
def classifier(tokenizer):
    return notebook_classifier(tokenizer)


def test_the_end_of_text_token_pads_without_adding_a_token(tokenizer):
    assert AutoTokenizer.from_pretrained(model_source(TINY_MODEL, weights=False)).pad_token is None, "GPT-2 ships without"
    assert tokenizer.pad_token == tokenizer.eos_token == "<|endoftext|>"
    assert tokenizer.pad_token_id == tokenizer.eos_token_id == 50256
    assert len(tokenizer) == 50257, "reusing eos adds no token"
    assert tokenizer.padding_side == "right"


def test_classifier_has_colas_two_labels_and_the_pad_id(classifier, tokenizer):
    assert classifier.config.num_labels == 2
    assert classifier.config.id2label == ID2LABEL
    assert classifier.config.label2id == {"unacceptable": 0, "acceptable": 1}
    assert classifier.config.pad_token_id == tokenizer.pad_token_id == 50256
    assert classifier.score.out_features == 2


def test_padded_batch_gives_each_sentence_its_own_logits(classifier, tokenizer):
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    lengths = batch["attention_mask"].sum(dim=1)
    assert lengths.min() < batch["input_ids"].shape[1], "the batch must actually contain padding"
    with torch.no_grad():
        batched = classifier(**batch).logits
        for row, sentence in enumerate(SENTENCES):
            alone = classifier(**tokenizer(sentence, return_tensors="pt")).logits[0]
            torch.testing.assert_close(batched[row], alone, atol=1e-5, rtol=0)


def test_a_new_pad_token_grows_the_embeddings():
    tok = AutoTokenizer.from_pretrained(model_source(TINY_MODEL, weights=False))
    tok.add_special_tokens({"pad_token": "<pad>"})
    model = notebook_classifier(tok)
    assert model.get_input_embeddings().weight.shape[0] == len(tok) == 50258
    assert model.config.pad_token_id == tok.pad_token_id == 50257


def test_is_causal_lm_tells_decoders_from_encoders(tmp_path):
    from transformers import BertConfig

    assert is_causal_lm(TINY_MODEL)
    encoder = tmp_path / "bert"
    BertConfig(architectures=["BertForMaskedLM"]).save_pretrained(encoder)
    (encoder / "model.safetensors").write_bytes(b"")  # only the config is read
    assert not is_causal_lm(str(encoder))
    with pytest.raises(ModelSourceError, match="does not exist"):  # checked first, in one line
        is_causal_lm(str(tmp_path / "absent"))


def test_save_for_offline_refuses_a_local_folder(tmp_path):
    with pytest.raises(ModelSourceError, match="already a local folder"):
        save_for_offline(TINY_MODEL, tmp_path / "copy")
    assert not (tmp_path / "copy").exists()
