"""Notebook 01 runs on any checkpoint that can classify, saying in one sentence what a model cannot do (continue
text, answer questions extractively, score sentences by the next word) instead of stopping.

``has_question_answering_class`` is checked on configurations alone; then notebook 01's own code cells (all but the
settings cell) run with ``exec`` on two small models built here and saved to a temporary folder, with GPT-2's
tokenizer: an OLMo decoder, an architecture for which transformers has no question-answering class (its
``AutoModelForQuestionAnswering`` raises ``ValueError: Unrecognized configuration class``), and a BERT encoder,
which has one but does not predict the next word. No kernel starts, no network is used.
"""

from __future__ import annotations

import json

import nbformat
import pytest
from transformers import (
    AutoModelForQuestionAnswering,
    AutoTokenizer,
    BertConfig,
    GPT2Config,
    LlamaConfig,
    OlmoConfig,
    PhiConfig,
)
from transformers.models.auto.modeling_auto import (
    MODEL_FOR_QUESTION_ANSWERING_MAPPING_NAMES,
    MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
)

from cola_workshop.models import has_question_answering_class
from cola_workshop.settings import REPO_ROOT, load_settings

NOTEBOOK = REPO_ROOT / "notebooks" / "01_goal.ipynb"
TINY_MODEL = REPO_ROOT / "data" / "tiny-gpt2"
SMALL = dict(vocab_size=50257, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)


def test_the_question_answering_class_is_known_from_the_configuration_alone():
    assert has_question_answering_class(GPT2Config())
    assert has_question_answering_class(BertConfig())
    assert has_question_answering_class(LlamaConfig())
    for config in (OlmoConfig(), PhiConfig()):
        assert config.model_type in MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES, "it can classify"
        assert config.model_type not in MODEL_FOR_QUESTION_ANSWERING_MAPPING_NAMES
        assert not has_question_answering_class(config)


def test_without_a_question_answering_class_the_library_call_would_stop_the_notebook():
    config = OlmoConfig(**SMALL, num_key_value_heads=2, pad_token_id=50256, bos_token_id=50256, eos_token_id=50256)
    with pytest.raises(ValueError, match="Unrecognized configuration class"):
        AutoModelForQuestionAnswering.from_config(config)


def olmo_decoder():
    from transformers import OlmoForCausalLM

    config = OlmoConfig(**SMALL, num_key_value_heads=2, max_position_embeddings=256,
                        pad_token_id=50256, bos_token_id=50256, eos_token_id=50256)
    return OlmoForCausalLM(config)


def bert_encoder():
    from transformers import BertForMaskedLM

    return BertForMaskedLM(BertConfig(**SMALL, max_position_embeddings=256, pad_token_id=50256))


def run_notebook_01(model, tmp_path, monkeypatch, capsys) -> tuple[dict, str]:
    """Save ``model`` with GPT-2's tokenizer, then run notebook 01's code cells after its settings cell on it."""
    import torch

    torch.manual_seed(0)
    folder = tmp_path / "model"
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(TINY_MODEL).save_pretrained(folder)
    monkeypatch.chdir(REPO_ROOT)
    monkeypatch.setattr("matplotlib.pyplot.show", lambda: None)
    settings = load_settings({"WORKSHOP_PROFILE": "tiny", "WORKSHOP_MODEL": str(folder),
                              "WORKSHOP_OUTPUTS": str(tmp_path / "outputs")})
    namespace = {"settings": settings}
    code_cells = [c for c in nbformat.read(str(NOTEBOOK), as_version=4).cells if c.cell_type == "code"]
    assert "notebook.start()" in code_cells[0].source
    for cell in code_cells[1:]:
        exec(compile(cell.source, str(NOTEBOOK), "exec"), namespace)  # noqa: S102 - the notebook's own cells
    return namespace, capsys.readouterr().out


@pytest.mark.slow
def test_notebook_01_runs_on_a_decoder_without_a_question_answering_class(tmp_path, monkeypatch, capsys):
    namespace, out = run_notebook_01(olmo_decoder(), tmp_path, monkeypatch, capsys)
    assert namespace["decoder"] and not namespace["qa_ready"]
    assert "transformers has no question-answering class for olmo: this section is skipped." in out
    assert namespace["zero_shot"] is not None, "a decoder still gets its zero-shot baseline"
    saved = json.loads((tmp_path / "outputs" / "01_goal" / "qa_baseline.json").read_text())
    assert saved["answers"] == [] and saved["question"] == "What is NASA?"


@pytest.mark.slow
def test_notebook_01_runs_on_an_encoder(tmp_path, monkeypatch, capsys):
    namespace, out = run_notebook_01(bert_encoder(), tmp_path, monkeypatch, capsys)
    assert not namespace["decoder"] and namespace["qa_ready"]
    assert "An encoder does not continue text: nothing to generate." in out
    assert "An encoder does not predict the next word: this section is skipped." in out
    assert namespace["zero_shot"] is None and len(namespace["answers"]) == 2
    assert all(text in namespace["context"] for text in namespace["answers"])
