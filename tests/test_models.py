"""Tests for cola_workshop.models: tokenizers with a padding token, the three model heads, refused folders.

Models come from data/tiny-gpt2 (or are built in tmp_path); the real GPT-2 tokenizer is read from
../shared/data/gpt2-tokenizer when it exists. Nothing here uses the network.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from cola_workshop import hub
from cola_workshop.models import (
    ID2LABEL,
    LABEL2ID,
    ModelSourceError,
    add_pad_token,
    load_causal_lm,
    load_classifier,
    load_question_answering,
    load_tokenizer,
    save_for_offline,
)
from cola_workshop.settings import REPO_ROOT

TINY_MODEL = "data/tiny-gpt2"
GPT2_TOKENIZER_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gpt2-tokenizer"
SENTENCES = [
    "The otter swam across the pond.",
    "Which lamp did you fix?",
    "Nobody expected the long and rather noisy parade to stop so suddenly at the bridge.",
    "Go.",
]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(TINY_MODEL)


@pytest.fixture(scope="module")
def classifier(tokenizer):
    return load_classifier(TINY_MODEL, tokenizer).eval()


def word_tokenizer(unk: bool):
    """A word-level tokenizer without end-of-text token, with or without an unknown-word token."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["[UNK]", "the", "cat", "sat"] if unk else ["the", "cat", "sat"]
    backend = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(words)}, unk_token="[UNK]" if unk else None))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, **({"unk_token": "[UNK]"} if unk else {}))
    assert tok.pad_token is None and tok.eos_token is None and (tok.unk_token is not None) == unk
    return tok


def copy_tiny_config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / TINY_MODEL / "config.json", folder / "config.json")
    return folder


# --------------------------------------------------------------------------------------------------
# Tokenizers and padding tokens
# --------------------------------------------------------------------------------------------------


def test_load_tokenizer_adds_the_end_of_text_token_for_padding(tokenizer):
    assert tokenizer.eos_token == "<|endoftext|>"
    assert tokenizer.pad_token == tokenizer.eos_token
    assert tokenizer.pad_token_id == tokenizer.eos_token_id
    assert len(tokenizer) == 50257, "reusing eos adds no token"
    assert tokenizer.padding_side == "right"


def test_load_tokenizer_without_pad_leaves_it_as_shipped():
    bare = load_tokenizer(TINY_MODEL, pad=False)
    assert bare.pad_token is None and bare.pad_token_id is None
    assert len(bare) == 50257


def test_add_pad_token_reuses_eos():
    tok = load_tokenizer(TINY_MODEL, pad=False)
    message = add_pad_token(tok)
    assert message == f"no padding token: reusing '<|endoftext|>' (id {tok.eos_token_id}) for padding"
    assert tok.pad_token == "<|endoftext|>" and len(tok) == 50257
    assert add_pad_token(tok) == "the tokenizer already has a padding token: '<|endoftext|>'"


def test_add_pad_token_falls_back_to_unk():
    tok = word_tokenizer(unk=True)
    message = add_pad_token(tok)
    assert message == "no padding token: reusing '[UNK]' (id 0) for padding"
    assert tok.pad_token == "[UNK]" and tok.pad_token_id == 0
    assert len(tok) == 4


def test_add_pad_token_adds_a_new_token_when_there_is_nothing_to_reuse():
    tok = word_tokenizer(unk=False)
    message = add_pad_token(tok)
    assert message == "no padding token and no end-of-text token: added a new '<pad>' token"
    assert tok.pad_token == "<pad>" and tok.pad_token_id == 3
    assert len(tok) == 4
    batch = tok(["the cat sat", "the"], padding=True)
    assert batch["input_ids"][1] == [0, 3, 3]


# --------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------


def test_classifier_has_colas_two_labels_and_the_pad_id(classifier, tokenizer):
    assert classifier.config.num_labels == 2
    assert classifier.config.id2label == {0: "unacceptable", 1: "acceptable"} == ID2LABEL
    assert classifier.config.label2id == {"unacceptable": 0, "acceptable": 1} == LABEL2ID
    assert classifier.config.pad_token_id == tokenizer.pad_token_id == 50256
    assert classifier.score.out_features == 2


def test_classifier_without_tokenizer_keeps_the_checkpoints_pad_id():
    model = load_classifier(TINY_MODEL)
    assert model.config.num_labels == 2 and model.config.pad_token_id is None


def test_padded_batch_gives_each_sentence_its_own_logits(classifier, tokenizer):
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    lengths = batch["attention_mask"].sum(dim=1)
    assert lengths.min() < batch["input_ids"].shape[1], "the batch must actually contain padding"
    with torch.no_grad():
        batched = classifier(**batch).logits
        for row, sentence in enumerate(SENTENCES):
            alone = classifier(**tokenizer(sentence, return_tensors="pt")).logits[0]
            torch.testing.assert_close(batched[row], alone, atol=1e-5, rtol=0)


def test_a_new_pad_token_grows_the_embeddings(tmp_path):
    tok = load_tokenizer(TINY_MODEL, pad=False)
    tok.add_special_tokens({"pad_token": "<pad>"})
    model = load_classifier(TINY_MODEL, tok)
    assert model.get_input_embeddings().weight.shape[0] == len(tok) == 50258
    assert model.config.pad_token_id == tok.pad_token_id == 50257


def test_causal_lm_and_question_answering_load(tokenizer):
    lm = load_causal_lm(TINY_MODEL, tokenizer)
    assert not lm.training and lm.config.pad_token_id == tokenizer.pad_token_id
    with torch.no_grad():
        logits = lm(**tokenizer(SENTENCES[0], return_tensors="pt")).logits
    assert logits.shape[-1] == 50257
    qa = load_question_answering(TINY_MODEL)
    assert not qa.training
    with torch.no_grad():
        out = qa(**tokenizer(SENTENCES[1], return_tensors="pt"))
    assert out.start_logits.shape == out.end_logits.shape


def test_absolute_and_dot_relative_folders_load(tmp_path):
    model = load_causal_lm(str(REPO_ROOT / TINY_MODEL))
    assert model.config.n_layer == 4
    assert load_tokenizer("./" + TINY_MODEL).pad_token == "<|endoftext|>"


# --------------------------------------------------------------------------------------------------
# Refused model folders
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("loader", [load_tokenizer, load_classifier, load_causal_lm, load_question_answering])
def test_missing_model_folder_names_the_flag(tmp_path, loader):
    with pytest.raises(ModelSourceError) as error:
        loader(str(tmp_path / "no-such-model"))
    message = str(error.value)
    assert "\n" not in message
    assert "does not exist" in message and "--model" in message and "WORKSHOP_MODEL" in message


def test_folder_without_config_is_not_a_checkpoint(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model\n")
    with pytest.raises(ModelSourceError, match="not a model checkpoint \\(no config.json\\)") as error:
        load_classifier(str(tmp_path))
    assert "--model" in str(error.value)


def test_pickled_weights_are_refused_without_unpickling(tmp_path, monkeypatch):
    folder = copy_tiny_config(tmp_path / "pickled")
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"not": "weights"}))

    def refuse(*args, **kwargs):
        raise AssertionError("a pickled checkpoint was unpickled")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    for loader in (load_classifier, load_causal_lm, load_question_answering):
        with pytest.raises(ModelSourceError) as error:
            loader(str(folder))
        message = str(error.value)
        assert "\n" not in message
        assert "no .safetensors weights" in message and "safe_serialization=True" in message


def test_save_for_offline_refuses_a_local_folder(tmp_path):
    with pytest.raises(ModelSourceError, match="already a local folder"):
        save_for_offline(TINY_MODEL, tmp_path / "copy")
    assert not (tmp_path / "copy").exists()


# --------------------------------------------------------------------------------------------------
# The real GPT-2 tokenizer and the hub
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("as_given", ["absolute", "relative"])
def test_real_gpt2_tokenizer_files_alone(as_given):
    if not (GPT2_TOKENIZER_DIR / "vocab.json").is_file():
        pytest.skip("../shared/data/gpt2-tokenizer is absent: only the workshop's CI and development machines have it")
    name = str(GPT2_TOKENIZER_DIR) if as_given == "absolute" else "../shared/data/gpt2-tokenizer"
    tok = load_tokenizer(name)
    assert len(tok) == 50257
    assert tok.eos_token == "<|endoftext|>" and tok.eos_token_id == 50256
    assert tok.pad_token_id == 50256
    ids = tok("Our friends won't buy this analysis, let alone the next one we propose.")["input_ids"]
    assert ids == [5122, 2460, 1839, 470, 2822, 428, 3781, 11, 1309, 3436, 262, 1306, 530, 356, 18077, 13]


@pytest.fixture
def empty_hub_cache(tmp_path, monkeypatch):
    """An unreachable hub and an empty cache, whatever the developer has cached."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    # huggingface_hub computes its cache folder once, at import; transformers reads it from there at call time.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HOME", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: False)
    return tmp_path


@pytest.mark.parametrize("loader, what", [(load_tokenizer, "tokenizer"), (load_classifier, "model")])
def test_hub_id_without_hub_or_cache_fails_in_one_sentence(empty_hub_cache, loader, what):
    import huggingface_hub.constants

    offline_before = huggingface_hub.constants.HF_HUB_OFFLINE
    with pytest.raises(hub.HubUnreachableError) as error:
        loader("openai-community/gpt2")
    assert huggingface_hub.constants.HF_HUB_OFFLINE == offline_before, "offline mode must be switched back off"
    message = str(error.value)
    assert "\n" not in message
    assert f"the {what} 'openai-community/gpt2' is not in the local cache" in message
    assert "--profile tiny" in message
    assert not any(Path(empty_hub_cache).rglob("*.safetensors"))


def test_a_name_that_is_neither_a_folder_nor_cached_says_both(empty_hub_cache):
    with pytest.raises(hub.HubUnreachableError, match="the model 'my-modle', which is no folder here either, is not in"):
        load_classifier("my-modle")


def test_is_causal_lm_tells_decoders_from_encoders(tmp_path):
    from transformers import BertConfig

    from cola_workshop.models import is_causal_lm

    assert is_causal_lm("data/tiny-gpt2")
    encoder = tmp_path / "bert"
    BertConfig(architectures=["BertForMaskedLM"]).save_pretrained(encoder)
    (encoder / "model.safetensors").write_bytes(b"")  # only the config is read
    assert not is_causal_lm(str(encoder))
