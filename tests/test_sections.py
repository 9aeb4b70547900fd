"""Which notebook sections a model skips, and why: ``models.skipped_sections``, doctor's line and the run's
pre-flight. Configurations alone (no weights) answer it."""

from __future__ import annotations

from transformers import BertConfig, GPT2Config, OlmoConfig

from cola_workshop.models import skipped_sections
from cola_workshop.settings import load_settings
from cola_workshop.tools import doctor
from cola_workshop.tools.cli import sections_to_skip


def test_a_gpt2_decoder_runs_every_section():
    assert skipped_sections(GPT2Config(architectures=["GPT2LMHeadModel"])) == []


def test_an_encoder_skips_the_zero_shot_baseline():
    assert skipped_sections(BertConfig(architectures=["BertModel"])) == [
        "01 and 06: the zero-shot baseline and text generation (not a left-to-right language model)"]


def test_an_architecture_without_a_question_answering_class_skips_question_answering():
    assert skipped_sections(OlmoConfig(architectures=["OlmoForCausalLM"])) == [
        "01 and 06: question answering (transformers has no question-answering class for 'olmo')"]


def test_doctor_and_the_preflight_name_the_sections_of_a_local_model(tmp_path):
    OlmoConfig(architectures=["OlmoForCausalLM"]).save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"")  # the pre-flight reads the configuration only
    settings = load_settings(environ={}, profile="tiny", model=str(tmp_path))
    finding = doctor.check_sections(settings, reachable=False)
    assert finding.status == doctor.OK and "question answering" in finding.text
    assert sections_to_skip(settings, ["01_goal"]) == skipped_sections(OlmoConfig(architectures=["OlmoForCausalLM"]))
    assert sections_to_skip(settings, ["02_exploration", "05_training"]) == []  # stages without such sections


def test_doctor_says_the_tiny_model_runs_every_section():
    settings = load_settings(environ={}, profile="tiny")
    assert doctor.check_sections(settings, reachable=False).text == "this model runs every section of the six notebooks"


def test_doctor_says_nothing_of_a_hub_model_it_cannot_read_offline(monkeypatch):
    monkeypatch.setattr(doctor, "model_cached", lambda name, cache_dir=None: None)
    settings = load_settings(environ={}, profile="full")
    assert doctor.check_sections(settings, reachable=False) is None
