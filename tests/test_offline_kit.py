"""Any checkpoint that can classify runs all six notebooks, from an offline kit.

One run covers two promises at once, so README's test command stays short:

- the offline half of ``cola-workshop prefetch``: a kit folder (model + data) runs the notebooks with no hub. The
  kit is built the way prefetch writes it, from the real CoLA corpus in ../shared/data (``save_for_offline``) and a
  model folder built here;
- any checkpoint with a sequence-classification class: the model is a small OLMo decoder (random weights, GPT-2's
  tokenizer), an architecture for which transformers has no question-answering class, and its tokenizer pads on
  the left, as several decoder families' do. Every notebook, check cells included, must complete; the sections it
  cannot run say why (notebooks 01 and 06), and the run's pre-flight names them.
"""

import json
import shutil
from pathlib import Path

import pytest

from cola_workshop import data
from cola_workshop.tools.cli import main
from cola_workshop.settings import REPO_ROOT, load_settings

CORPUS = REPO_ROOT.parent / "shared" / "data" / "cola_public"
TINY_GPT2 = REPO_ROOT / "data" / "tiny-gpt2"


def olmo_that_pads_on_the_left(folder: Path) -> Path:
    """A 0.8M-parameter OLMo decoder with GPT-2's tokenizer, padding on the left, saved as a checkpoint folder."""
    from transformers import AutoTokenizer, OlmoConfig, OlmoForCausalLM, set_seed

    set_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(TINY_GPT2, padding_side="left")
    tokenizer.pad_token = tokenizer.eos_token
    config = OlmoConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                        num_attention_heads=2, max_position_embeddings=128, pad_token_id=tokenizer.pad_token_id,
                        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    OlmoForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.runs_notebooks
def test_a_model_without_question_answering_that_pads_left_runs_all_six_notebooks_from_an_offline_kit(
        tmp_path, monkeypatch, capsys):
    if not CORPUS.is_dir():
        pytest.skip("../shared/data/cola_public is absent: only the workshop's CI and development machines have the real corpus")
    kit = tmp_path / "kit"
    data.save_for_offline(load_settings(environ={}, data=str(CORPUS)), kit / "data")
    olmo_that_pads_on_the_left(kit / "model")
    monkeypatch.setattr("cola_workshop.hub.hub_reachable", lambda timeout=3.0: False)

    outputs = tmp_path / "outputs"
    argv = ["run", "--model", str(kit / "model"), "--data", str(kit / "data"), "--max-train-samples", "64",
            "--epochs", "1", "--learning-rate", "1e-3", "--outputs", str(outputs)]
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "skips   : 01 and 06: question answering (transformers has no question-answering class for 'olmo')" \
        in captured.out
    facts = json.loads((outputs / "02_exploration" / "facts.json").read_text())
    assert facts["rows"] == {"train": 64, "validation": 1043, "test": 1063}
    assert facts["in_domain_validation_rows"] == 527
    manifest = json.loads((outputs / "03_preprocessing" / "manifest.json").read_text())
    assert manifest["settings"]["model"] == str(kit / "model")
    saved_tokenizer = json.loads((outputs / "03_preprocessing" / "tokenizer" / "tokenizer_config.json").read_text())
    assert saved_tokenizer["padding_side"] == "left"
    for stage in ("01_goal", "06_usage"):
        executed = (outputs / "executed" / f"{stage}.ipynb").read_text()
        assert "no question-answering class" in executed, f"{stage} does not say why it skips question answering"
    assert (outputs / "05_training" / "model" / "model.safetensors").is_file()
    assert json.loads((outputs / "05_training" / "model" / "config.json").read_text())["model_type"] == "olmo"
