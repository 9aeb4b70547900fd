"""The model card: written into notebook 05's stage while it is being saved (so the manifest covers it), with the
metrics of eval_metrics.json; notebook 06's copy with the comparison in 06's own stage; sharing that never fails.

The stages here are small fakes written through the real ``save_stage``, so the checks include what
``load_stage`` (checksums, staleness) says about them afterwards.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

import cola_workshop.hub
from cola_workshop.artifacts import STAGES, load_stage, read_manifest, save_stage, write_json
from cola_workshop.model_card import (
    COMPARISON_CARD,
    ModelCardError,
    card_metrics,
    push_to_hub_or_explain,
    update_model_card,
    write_model_card,
)
from cola_workshop.settings import load_settings

# Unrounded, as the Trainer writes them: the card must carry exactly these.
METRICS = {"matthews_correlation": 0.31234567890123456, "accuracy": 0.7181208053691275, "loss": 0.61, "epoch": 3.0}
TRAINING_ARGS = {"learning_rate": 2e-05, "per_device_train_batch_size": 32, "num_train_epochs": 3.0, "weight_decay": 0.01,
                 "warmup_steps": 0.1, "lr_scheduler_type": "linear", "bf16": True, "fp16": False, "seed": 42,
                 "train_sampling_strategy": "group_by_length", "load_best_model_at_end": True,
                 "metric_for_best_model": "matthews_correlation"}
LOG_HISTORY = [{"epoch": 1.0, "eval_matthews_correlation": 0.2}, {"epoch": 2.0, "eval_matthews_correlation": 0.33},
               {"epoch": 3.0, "eval_matthews_correlation": 0.31}]


def _settings(tmp_path, profile):
    return load_settings({}, profile=profile, outputs=str(tmp_path / "outputs"))


def _upstream_stages(settings):
    """01 to 04 as notebook runs would leave them: 02's facts and 04's training arguments are what the card reads."""
    for stage in STAGES[:4]:
        with save_stage(settings, stage) as folder:
            if stage == "02_exploration":
                write_json(folder / "facts.json", {"rows": {"train": 8551, "validation": 1043, "test": 1063},
                                                   "in_domain_validation_rows": 527})
            if stage == "04_training_args":
                write_json(folder / "training_args.json", TRAINING_ARGS)


def _save_model(folder):
    """What save_pretrained leaves: config.json and safetensors weights (two small tensors, 6 + 4 parameters)."""
    from safetensors.numpy import save_file

    (folder / "model").mkdir()
    write_json(folder / "model" / "config.json", {"model_type": "gpt2", "id2label": {"0": "unacceptable", "1": "acceptable"}})
    save_file({"a": np.zeros((2, 3), np.float32), "b": np.zeros(4, np.float32)}, str(folder / "model" / "model.safetensors"))


def _train(settings, card=True):
    """Notebook 05's save cell, with the card written inside the stage block as the notebook does."""
    _upstream_stages(settings)
    with save_stage(settings, "05_training") as folder:
        _save_model(folder)
        write_json(folder / "eval_metrics.json", METRICS)
        write_json(folder / "log_history.json", LOG_HISTORY)
        if card:
            write_model_card(settings, folder)
    return settings.stage_dir("05_training")


def _front_matter(text):
    assert text.startswith("---\n")
    return yaml.safe_load(text[4 : text.index("\n---", 4)])


def test_card_is_part_of_the_sealed_stage_and_states_its_metrics(tmp_path):
    settings = _settings(tmp_path, "full")
    stage = _train(settings)
    card = stage / "model" / "README.md"
    assert "model/README.md" in read_manifest(stage)["files"], "the manifest must cover the card"
    assert load_stage(settings, "05_training") == stage  # checksums intact: the stage is not "modified"
    assert card_metrics(card) == {key: METRICS[key] for key in ("matthews_correlation", "accuracy")}
    header = _front_matter(card.read_text())
    assert header["license"] == "mit" and header["base_model"] == "openai-community/gpt2"
    assert header["datasets"] == ["nyu-mll/glue"] and header["pipeline_tag"] == "text-classification"
    assert header["model-index"][0]["results"][0]["dataset"] == {
        "name": "GLUE CoLA", "type": "nyu-mll/glue", "config": "cola", "split": "validation"}


def test_full_profile_card_reports_data_training_caveat_and_usage(tmp_path):
    text = (_train(_settings(tmp_path, "full")) / "model" / "README.md").read_text()
    assert "| Matthews correlation (MCC) | 0.312 |" in text and "| accuracy | 0.718 |" in text
    assert "8,551 sentences; all used" in text and "527 in-domain + 516 out-of-domain" in text
    assert "| learning rate | 2e-05 (linear schedule, warm-up 10% of the steps) |" in text
    assert "| precision | bf16 autocast |" in text and "(epoch 2)" in text  # the best epoch of the log
    assert "chose nothing" in text and "unbiased by that choice" in text and "Not a grammar checker" in text
    assert "optimistic" not in text  # the epoch is chosen on the selection split, not on the scores reported
    assert "Rehearsal" not in text and "Did fine-tuning help?" not in text
    usage = text.split("```python\n")[1].split("```")[0].splitlines()
    assert len(usage) == 3 and usage[0] == "from transformers import pipeline"
    assert 'pipeline("text-classification", model="' in usage[1] and "05_training/model" in usage[1]


def test_tiny_profile_card_says_it_is_a_rehearsal_model(tmp_path):
    text = (_train(_settings(tmp_path, "tiny")) / "model" / "README.md").read_text()
    header = _front_matter(text)
    assert "base_model" not in header, "data/tiny-gpt2 is no hub model: the hub would reject it as base_model"
    assert "rehearsal" in header["tags"] and header["model-index"][0]["results"][0]["dataset"]["type"] == "cola_tiny"
    assert "**Rehearsal model.**" in text and "Do not use it to judge sentences" in text


def test_a_sealed_stage_is_never_modified(tmp_path):
    settings = _settings(tmp_path, "tiny")
    stage = _train(settings, card=False)
    with pytest.raises(ModelCardError, match="finished stage"):
        write_model_card(settings, stage)
    assert not (stage / "model" / "README.md").exists()
    load_stage(settings, "05_training")


def test_card_needs_the_metrics_first(tmp_path):
    settings = _settings(tmp_path, "tiny")
    folder = tmp_path / "partial"
    folder.mkdir()
    _save_model(folder)
    with pytest.raises(ModelCardError, match="eval_metrics.json.*notebooks/05_training.ipynb"):
        write_model_card(settings, folder)


def test_a_card_without_02_and_04_facts_still_gets_written(tmp_path):
    """A missing detail must never lose a training run: the card leaves out what was not recorded."""
    settings = _settings(tmp_path, "tiny")
    folder = tmp_path / "partial"
    folder.mkdir()
    _save_model(folder)
    write_json(folder / "eval_metrics.json", {"matthews_correlation": 0.0})
    text = write_model_card(settings, folder).read_text()
    assert "## Training" not in text and "| Matthews correlation (MCC) | 0.000 |" in text and "| accuracy" not in text
    assert card_metrics(folder / "model" / "README.md") == {"matthews_correlation": 0.0}


def test_notebook_06_card_adds_the_comparison_in_its_own_stage(tmp_path):
    settings = _settings(tmp_path, "tiny")
    stage = _train(settings)
    before = (stage / "model" / "README.md").read_bytes()
    comparison = pd.DataFrame({"zero-shot (SLOR)": {"MCC": 0.1971, "accuracy": 0.5375},
                               "fine-tuned": {"MCC": 0.31234, "accuracy": 0.7181}}).T
    with save_stage(settings, "06_usage") as folder:
        update_model_card(settings, folder, comparison)
    card = settings.stage_dir("06_usage") / COMPARISON_CARD
    text = card.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| zero-shot") or line.startswith("| fine-tuned")]
    assert rows == ["| zero-shot (SLOR) | 0.197 | 0.537 |", "| fine-tuned | 0.312 | 0.718 |"]
    assert card_metrics(card) == card_metrics(stage / "model" / "README.md")
    assert (stage / "model" / "README.md").read_bytes() == before
    load_stage(settings, "05_training")  # 05's stage still intact
    assert COMPARISON_CARD in read_manifest(settings.stage_dir("06_usage"))["files"]


def test_notebook_06_card_shows_the_bootstrap_intervals_and_reads_each_paired_difference(tmp_path):
    settings = _settings(tmp_path, "tiny")
    _train(settings)
    comparison = pd.DataFrame({
        "zero-shot (SLOR)": {"MCC": 0.0, "95% low": 0.0, "95% high": 0.0, "accuracy": 0.32},
        "fine-tuned": {"MCC": 0.1328, "95% low": -0.011, "95% high": 0.2701, "accuracy": 0.605},
    }).T
    differences = {
        "fine-tuned minus a weaker baseline": {"difference": 0.2942, "95% low": 0.1014, "95% high": 0.4744},
        "fine-tuned minus zero-shot (SLOR)": {"difference": 0.1328, "95% low": -0.011, "95% high": 0.2701},
        "fine-tuned minus a better baseline": {"difference": -0.2, "95% low": -0.3, "95% high": -0.1},
    }
    with save_stage(settings, "06_usage") as folder:
        update_model_card(settings, folder, comparison, differences)
    lines = (settings.stage_dir("06_usage") / COMPARISON_CARD).read_text().splitlines()
    assert "| zero-shot (SLOR) | 0.000 | 0.00 to 0.00 | 0.320 |" in lines
    assert "| fine-tuned | 0.133 | -0.01 to 0.27 | 0.605 |" in lines
    assert "| fine-tuned minus a weaker baseline | +0.294 | +0.10 to +0.47 | fine-tuning helped |" in lines
    assert "| fine-tuned minus zero-shot (SLOR) | +0.133 | -0.01 to +0.27 | cannot be told apart |" in lines
    assert "| fine-tuned minus a better baseline | -0.200 | -0.30 to -0.10 | the baseline did better |" in lines


# --------------------------------------------------------------------------------------------------
# Sharing: one line, never an exception
# --------------------------------------------------------------------------------------------------


def _one_line(message, capsys):
    printed = capsys.readouterr().out
    assert printed == message + "\n" and "\n" not in message
    return message


def test_push_without_a_repo_id_says_how(tmp_path, capsys):
    message = _one_line(push_to_hub_or_explain(tmp_path), capsys)
    assert message.startswith("not pushed: no repo id given") and "hf auth login" in message


def test_push_offline_says_the_hub_is_unreachable(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = _train(_settings(tmp_path, "tiny")) / "model"
    message = _one_line(push_to_hub_or_explain(model, "someone/gpt2-cola"), capsys)
    assert "cannot be reached" in message


def test_push_when_not_logged_in_says_how_to_log_in(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cola_workshop.hub, "hub_reachable", lambda timeout=3.0: True)
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    model = _train(_settings(tmp_path, "tiny")) / "model"
    message = _one_line(push_to_hub_or_explain(model, "someone/gpt2-cola"), capsys)
    assert "not logged in" in message and "hf auth login" in message


class FakeHubApi:
    """Records what would be uploaded; ``refuse`` makes create_repo fail as the hub does without write access."""

    calls: list = []
    refuse: str | None = None

    def __init__(self, token=None):
        self.token = token

    def create_repo(self, repo_id, private, exist_ok):
        if FakeHubApi.refuse:
            raise RuntimeError(FakeHubApi.refuse)
        FakeHubApi.calls.append(("create_repo", repo_id, private))

    def create_commit(self, repo_id, operations, commit_message):
        FakeHubApi.calls.append(("create_commit", repo_id, operations))


@pytest.fixture
def fake_hub(monkeypatch):
    FakeHubApi.calls, FakeHubApi.refuse = [], None
    monkeypatch.setattr(cola_workshop.hub, "hub_reachable", lambda timeout=3.0: True)
    monkeypatch.setattr("huggingface_hub.get_token", lambda: "hf_not_a_real_token")
    monkeypatch.setattr("huggingface_hub.HfApi", FakeHubApi)
    return FakeHubApi


def test_push_uploads_the_model_with_06s_card_naming_the_repo(tmp_path, fake_hub, capsys):
    settings = _settings(tmp_path, "tiny")
    model = _train(settings) / "model"
    with save_stage(settings, "06_usage") as folder:
        update_model_card(settings, folder, {"fine-tuned": {"MCC": 0.3, "accuracy": 0.7}})
    message = _one_line(push_to_hub_or_explain(model, "someone/gpt2-cola", card=settings.stage_dir("06_usage") / COMPARISON_CARD), capsys)
    assert message.startswith("pushed 3 files to") and message.endswith("/someone/gpt2-cola (private)")
    (_, repo, private), (_, _, operations) = fake_hub.calls
    assert repo == "someone/gpt2-cola" and private is True
    uploaded = {op.path_in_repo: op for op in operations}
    assert set(uploaded) == {"README.md", "config.json", "model.safetensors"}
    readme = uploaded["README.md"].path_or_fileobj
    readme = readme if isinstance(readme, bytes) else readme.read()
    assert b"Did fine-tuning help?" in readme and b'model="someone/gpt2-cola"' in readme


def test_push_refused_by_the_hub_is_one_line(tmp_path, fake_hub, capsys):
    fake_hub.refuse = "403 Forbidden: you cannot write to someone/gpt2-cola\nrequest id: 123"
    model = _train(_settings(tmp_path, "tiny")) / "model"
    message = _one_line(push_to_hub_or_explain(model, "someone/gpt2-cola"), capsys)
    assert message == ("not pushed: the hub refused (403 Forbidden: you cannot write to someone/gpt2-cola): check the "
                       "repo id and that your token may write to it")


def test_push_of_a_folder_without_a_model_names_notebook_05(tmp_path, capsys):
    message = _one_line(push_to_hub_or_explain(tmp_path, "someone/gpt2-cola"), capsys)
    assert "holds no saved model" in message and "notebooks/05_training.ipynb" in message
