"""The tiny profile's assets in data/: CoLA's format, sensible content, a loadable model, and a reproducible generator."""

from __future__ import annotations

import json
import re

import pytest

from cola_workshop import tiny_assets
from cola_workshop.settings import REPO_ROOT

DATA = REPO_ROOT / "data" / "cola_tiny"
MODEL = REPO_ROOT / "data" / "tiny-gpt2"
RAW_SPLITS = {"raw/in_domain_train.tsv": 960, "raw/in_domain_dev.tsv": 96, "raw/out_of_domain_dev.tsv": 64}
TEST_SPLIT = "glue_test/test.tsv"
# Only present on machines that hold the real corpus next to the checkout; used to check nothing was copied.
REAL_COLA = REPO_ROOT.parent / "shared" / "data" / "cola_public"


def _raw_rows(name: str) -> list[list[str]]:
    text = (DATA / name).read_text(encoding="utf-8")
    assert text.endswith("\n") and not text.endswith("\n\n"), f"{name}: one trailing newline"
    return [line.split("\t") for line in text.splitlines()]


def _test_sentences() -> list[str]:
    lines = (DATA / TEST_SPLIT).read_text(encoding="utf-8").splitlines()
    return [line.split("\t")[1] for line in lines[1:]]


def _all_sentences() -> dict[str, list[str]]:
    sentences = {name: [row[3] for row in _raw_rows(name)] for name in RAW_SPLITS}
    sentences[TEST_SPLIT] = _test_sentences()
    return sentences


@pytest.mark.parametrize("name", sorted(RAW_SPLITS))
def test_raw_files_have_colas_format(name):
    rows = _raw_rows(name)
    assert len(rows) == RAW_SPLITS[name]
    for row in rows:
        assert len(row) == 4, row
        source, label, mark, sentence = row
        assert re.fullmatch(r"tw\d\d", source), row
        assert label in ("0", "1"), row
        assert mark == ("*" if label == "0" else ""), row
        assert sentence == sentence.strip() and sentence[0].isupper() and sentence.endswith("."), row
        assert sentence.count(".") == 1 and "  " not in sentence, row
        assert 2 <= len(sentence.split()) <= 16, row
    acceptable = sum(row[1] == "1" for row in rows) / len(rows)
    assert 0.6 <= acceptable <= 0.8, f"{name}: {acceptable:.0%} acceptable"


def test_sources_separate_in_domain_from_out_of_domain():
    sources = {name: {row[0] for row in _raw_rows(name)} for name in RAW_SPLITS}
    train = sources["raw/in_domain_train.tsv"]
    assert len(train) >= 2
    assert sources["raw/in_domain_dev.tsv"] == train
    assert sources["raw/out_of_domain_dev.tsv"] and not sources["raw/out_of_domain_dev.tsv"] & train
    for name in RAW_SPLITS:  # grouped by source, as in CoLA's files
        column = [row[0] for row in _raw_rows(name)]
        assert column == sorted(column)


def test_glue_test_file_has_glues_format():
    lines = (DATA / TEST_SPLIT).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "index\tsentence"
    rows = [line.split("\t") for line in lines[1:]]
    assert 20 <= len(rows) <= 40
    assert [row[0] for row in rows] == [str(i) for i in range(len(rows))]
    assert all(len(row) == 2 and row[1].endswith(".") for row in rows)


def test_no_sentence_appears_twice_within_or_across_splits():
    everything = [sentence for sentences in _all_sentences().values() for sentence in sentences]
    assert len(everything) == len(set(everything))
    assert len(set(map(str.lower, everything))) == len(everything)


@pytest.mark.skipif(not REAL_COLA.is_dir(), reason="the real CoLA corpus is not next to this checkout")
def test_no_sentence_comes_from_the_real_corpus():
    real = set()
    for path in sorted((REAL_COLA / "raw").glob("*.tsv")):
        real |= {line.split("\t")[-1].strip() for line in path.read_text(encoding="utf-8").splitlines()}
    ours = {sentence for sentences in _all_sentences().values() for sentence in sentences}
    assert not ours & real


def test_data_readme_says_what_it_is_and_how_to_regenerate():
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    assert "Warstadt" in readme and "python -m cola_workshop.tiny_assets" in readme


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(MODEL)


def test_tokenizer_is_a_gpt2_byte_level_bpe_without_pad_token(tokenizer):
    assert 400 <= len(tokenizer) <= 600
    assert tokenizer.pad_token is None
    assert tokenizer.bos_token == tokenizer.eos_token == tokenizer.unk_token == "<|endoftext|>"
    config = json.loads((MODEL / "config.json").read_text())
    assert config["vocab_size"] == len(tokenizer)
    assert config["eos_token_id"] == config["bos_token_id"] == tokenizer.eos_token_id
    sentences = [sentence for sentences in _all_sentences().values() for sentence in sentences]
    for sentence in sentences + ["Zebras quietly juggle 42 umbrellas, don't they?"]:  # unseen words too
        ids = tokenizer(sentence)["input_ids"]
        assert tokenizer.eos_token_id not in ids
        assert tokenizer.decode(ids) == sentence
    # Byte-level BPE with GPT-2's leading-space convention and learned merges.
    assert tokenizer.tokenize("The girl wrote a letter.")[1] == "Ġgirl"


def test_model_folder_is_small_and_has_no_pickles():
    names = {path.name for path in MODEL.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md"} <= names
    assert not [name for name in names if name.endswith((".bin", ".pt", ".pth", ".pkl", ".ckpt"))]
    assert sum(path.stat().st_size for path in MODEL.iterdir()) < 1_000_000


def test_model_loads_for_sequence_classification_with_two_labels(tokenizer):
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForQuestionAnswering, AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(MODEL, use_safetensors=True)
    assert model.config.num_labels == 2 and model.score.out_features == 2
    assert (model.config.n_layer, model.config.n_head, model.config.n_embd) == (2, 2, 64)
    with torch.no_grad():
        logits = model(**tokenizer("The girl wrote a letter.", return_tensors="pt")).logits
    assert logits.shape == (1, 2)
    assert type(AutoModelForCausalLM.from_pretrained(MODEL, use_safetensors=True)).__name__ == "GPT2LMHeadModel"
    assert type(AutoModelForQuestionAnswering.from_pretrained(MODEL, use_safetensors=True)).__name__ == (
        "GPT2ForQuestionAnswering"
    )


def test_pretrained_lm_prefers_acceptable_sentences(tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(MODEL, use_safetensors=True).eval()
    rows = [(int(row[1]), row[3]) for row in _raw_rows("raw/in_domain_dev.tsv")]
    acceptable, unacceptable = tiny_assets.acceptability_gap(model, tokenizer, rows)
    assert acceptable > unacceptable + 0.2, (acceptable, unacceptable)


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_assets")
    tiny_assets.write_all(root / "cola_tiny", root / "tiny-gpt2")
    return root


def _files(folder):
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())


def test_generator_rewrites_the_sample_byte_for_byte(regenerated):
    assert _files(regenerated / "cola_tiny") == _files(DATA)
    for name in _files(DATA):
        assert (regenerated / "cola_tiny" / name).read_bytes() == (DATA / name).read_bytes(), name


def test_generator_rewrites_tokenizer_and_model(regenerated):
    import torch
    from safetensors.torch import load_file

    new = regenerated / "tiny-gpt2"
    assert _files(new) == _files(MODEL)
    for name in ("tokenizer.json", "tokenizer_config.json", "README.md"):
        assert (new / name).read_bytes() == (MODEL / name).read_bytes(), name
    for name in ("config.json", "generation_config.json"):  # equal but for the transformers version
        fresh, kept = json.loads((new / name).read_text()), json.loads((MODEL / name).read_text())
        fresh.pop("transformers_version"), kept.pop("transformers_version")
        assert fresh == kept, name
    fresh, kept = load_file(new / "model.safetensors"), load_file(MODEL / "model.safetensors")
    assert fresh.keys() == kept.keys()
    for key in kept:
        assert fresh[key].dtype == kept[key].dtype == torch.float32, key
        assert torch.equal(fresh[key], kept[key]), key
