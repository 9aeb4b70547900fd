"""Tests for cola_workshop.settings: the two profiles, WORKSHOP_* variables, keyword overrides and errors.

Every test passes ``environ=`` explicitly, so nothing in the developer's shell (or conftest's tiny profile)
changes what is being tested.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cola_workshop.settings import (
    ENV_VARS,
    REPO_ROOT,
    Settings,
    SettingsError,
    display_path,
    load_settings,
    resolve_path,
    settings_to_env,
)


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message, f"the message must be a single line: {message!r}"
    return message


# --------------------------------------------------------------------------------------------------
# Profiles and precedence
# --------------------------------------------------------------------------------------------------


def test_full_profile_is_the_default():
    settings = load_settings(environ={})
    assert settings.profile == "full"
    assert settings.model == "openai-community/gpt2"
    assert settings.data == "hub"
    assert settings.epochs == 3
    assert settings.max_train_samples is None
    assert settings.outputs == REPO_ROOT / "outputs"
    assert (settings.learning_rate, settings.batch_size, settings.seed) == (2e-5, 32, 42)
    assert settings.bf16_on_cpu is True


def test_tiny_profile_uses_the_assets_in_data():
    settings = load_settings(environ={}, profile="tiny")
    assert settings.profile == "tiny"
    assert settings.model == "data/tiny-gpt2"
    assert settings.data == "data/cola_tiny"
    assert settings.max_train_samples is None
    assert settings.bf16_on_cpu is False
    assert resolve_path(settings.model).is_dir() and resolve_path(settings.data).is_dir()


def test_profile_name_is_case_and_space_insensitive():
    assert load_settings(environ={"WORKSHOP_PROFILE": "  Tiny "}).profile == "tiny"


def test_environment_variables_override_the_profile(tmp_path):
    environ = {
        "WORKSHOP_PROFILE": "tiny",
        "WORKSHOP_EPOCHS": "2.5",
        "WORKSHOP_MAX_TRAIN_SAMPLES": "100",
        "WORKSHOP_OUTPUTS": str(tmp_path),
        "WORKSHOP_MODEL": "openai-community/gpt2",
        "WORKSHOP_DATA": "hub",
    }
    settings = load_settings(environ=environ)
    assert settings.profile == "tiny"
    assert settings.epochs == 2.5
    assert settings.max_train_samples == 100
    assert settings.outputs == tmp_path
    assert settings.model == "openai-community/gpt2"
    assert settings.data == "hub"
    # The hyperparameters still come from the profile.
    assert settings.learning_rate == 3e-3


def test_blank_environment_variables_count_as_not_set():
    settings = load_settings(environ={"WORKSHOP_PROFILE": "tiny", "WORKSHOP_EPOCHS": "  ", "WORKSHOP_MODEL": ""})
    assert settings.epochs == load_settings(environ={}, profile="tiny").epochs
    assert settings.model == "data/tiny-gpt2"


def test_keyword_overrides_beat_environment_variables(tmp_path):
    environ = {"WORKSHOP_PROFILE": "full", "WORKSHOP_EPOCHS": "7", "WORKSHOP_MAX_TRAIN_SAMPLES": "50"}
    settings = load_settings(environ=environ, profile="tiny", epochs=1, max_train_samples="all", outputs=tmp_path)
    assert settings.profile == "tiny"
    assert settings.epochs == 1
    assert settings.max_train_samples is None
    assert settings.outputs == tmp_path


def test_none_overrides_mean_not_given():
    settings = load_settings(environ={"WORKSHOP_EPOCHS": "7"}, epochs=None, profile=None)
    assert settings.epochs == 7 and settings.profile == "full"


def test_unknown_keyword_is_refused():
    with pytest.raises(SettingsError, match="unknown setting"):
        load_settings(environ={}, batch_size=8)


def test_the_learning_rate_can_be_set_for_another_model_and_is_checked():
    assert load_settings(environ={"WORKSHOP_LEARNING_RATE": "1e-4"}).learning_rate == 1e-4
    assert load_settings(environ={}, learning_rate="3e-5", profile="tiny").learning_rate == 3e-5
    assert load_settings(environ={}).learning_rate == 2e-5  # the full profile's recipe
    for bad in ("fast", "0", "-1e-4", "2", "nan"):
        with pytest.raises(SettingsError, match="--learning-rate / WORKSHOP_LEARNING_RATE"):
            load_settings(environ={"WORKSHOP_LEARNING_RATE": bad})


def test_settings_are_frozen():
    settings = load_settings(environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.epochs = 5  # type: ignore[misc]


# --------------------------------------------------------------------------------------------------
# One-line errors that name the flag
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["keyword", "environment"])
def test_unknown_profile_names_flag_and_variable(how):
    with pytest.raises(SettingsError) as error:
        if how == "keyword":
            load_settings(environ={}, profile="huge")
        else:
            load_settings(environ={"WORKSHOP_PROFILE": "huge"})
    message = one_line(error)
    assert "'huge'" in message
    assert "--profile" in message and "WORKSHOP_PROFILE" in message
    assert "tiny" in message and "full" in message


@pytest.mark.parametrize("value", [0, -1, "abc", "nan", "0.0"])
def test_bad_epochs_name_the_flag(value):
    with pytest.raises(SettingsError) as error:
        load_settings(environ={}, epochs=value)
    message = one_line(error)
    assert "--epochs" in message and "WORKSHOP_EPOCHS" in message
    assert repr(str(value)) in message


def test_bad_epochs_from_the_environment_name_the_flag():
    with pytest.raises(SettingsError) as error:
        load_settings(environ={"WORKSHOP_EPOCHS": "-3"})
    assert "--epochs" in one_line(error)


@pytest.mark.parametrize("value", ["0", "x", "-5", "1.5"])
def test_bad_max_train_samples_name_the_flag(value):
    with pytest.raises(SettingsError) as error:
        load_settings(environ={}, max_train_samples=value)
    message = one_line(error)
    assert "--max-train-samples" in message and "WORKSHOP_MAX_TRAIN_SAMPLES" in message
    assert repr(value) in message


@pytest.mark.parametrize("value", ["all", "ALL", "none"])
def test_all_means_the_whole_training_split(value):
    assert load_settings(environ={"WORKSHOP_MAX_TRAIN_SAMPLES": "5"}, max_train_samples=value).max_train_samples is None


def test_max_train_samples_is_an_int():
    settings = load_settings(environ={}, max_train_samples="2000")
    assert settings.max_train_samples == 2000 and isinstance(settings.max_train_samples, int)


def test_missing_data_folder_names_the_flag(tmp_path):
    missing = tmp_path / "no-such-folder"
    with pytest.raises(SettingsError) as error:
        load_settings(environ={}, data=str(missing))
    message = one_line(error)
    assert "--data" in message and "WORKSHOP_DATA" in message
    assert "does not exist" in message


def test_data_hub_is_case_insensitive():
    assert load_settings(environ={}, profile="tiny", data="HUB").data == "hub"


def test_bad_model_values_name_the_flag():
    with pytest.raises(SettingsError) as error:
        load_settings(environ={}, model="   ")
    assert "--model" in one_line(error)
    # Neither an existing folder nor a hub id (at most one slash, no empty part).
    for value in ("not/a/hub/id", "owner/", "owner//name"):
        with pytest.raises(SettingsError) as error:
            load_settings(environ={}, model=value)
        message = one_line(error)
        assert "--model" in message and "WORKSHOP_MODEL" in message


def test_a_local_model_path_is_kept_as_given():
    # Whether the folder is a usable checkpoint is checked when it is loaded (models.ModelSourceError).
    assert load_settings(environ={}, model="./some/checkpoint").model == "./some/checkpoint"


def test_model_accepts_hub_ids_and_existing_folders(tmp_path):
    assert load_settings(environ={}, model="gpt2").model == "gpt2"
    assert load_settings(environ={}, model="openai-community/gpt2").model == "openai-community/gpt2"
    assert load_settings(environ={}, model=str(tmp_path)).model == str(tmp_path)


# --------------------------------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------------------------------


def test_relative_paths_resolve_against_the_repository_root(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # wherever the notebook runs
    assert load_settings(environ={}).outputs == REPO_ROOT / "outputs"
    assert load_settings(environ={}, outputs="outputs").outputs == REPO_ROOT / "outputs"
    assert load_settings(environ={}, outputs="elsewhere/out").outputs == REPO_ROOT / "elsewhere" / "out"
    # data/cola_tiny exists only below the repo root, not below the current folder.
    settings = load_settings(environ={}, data="data/cola_tiny")
    assert settings.data == "data/cola_tiny"
    assert resolve_path(settings.data) == REPO_ROOT / "data" / "cola_tiny"
    assert resolve_path(tmp_path) == tmp_path
    assert settings.stage_dir("02_exploration") == REPO_ROOT / "outputs" / "02_exploration"


def test_display_path_is_repo_relative():
    assert display_path(REPO_ROOT / "outputs" / "05_training") == "outputs/05_training"
    assert display_path(str(REPO_ROOT / "data" / "cola_tiny")) == "data/cola_tiny"
    assert display_path("data/tiny-gpt2") == "data/tiny-gpt2"
    assert display_path("openai-community/gpt2") == "openai-community/gpt2"
    outside = Path("/") / "somewhere" / "else"
    assert display_path(outside) == str(outside)


def test_describe_shows_repo_relative_paths(tmp_path):
    text = load_settings(environ={}, profile="tiny", epochs=2, max_train_samples=10).describe()
    assert "profile : tiny" in text
    assert "model   : data/tiny-gpt2" in text
    assert "outputs : outputs" in text
    assert "epochs  : 2   training samples: 10" in text
    assert str(REPO_ROOT) not in text


# --------------------------------------------------------------------------------------------------
# Round trips and fingerprints
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"profile": "tiny"},
        {"profile": "tiny", "epochs": 2.5, "max_train_samples": 64},
        {"profile": "full", "model": "gpt2", "data": "data/cola_tiny", "epochs": 1},
    ],
)
def test_settings_to_env_round_trips(overrides, tmp_path):
    settings = load_settings(environ={}, outputs=str(tmp_path), **overrides)
    env = settings_to_env(settings)
    assert set(env) == set(ENV_VARS.values())
    assert all(isinstance(value, str) for value in env.values())
    again = load_settings(environ=env)
    assert again == settings
    assert again.fingerprint() == settings.fingerprint()


def test_settings_to_env_keeps_every_digit_of_epochs(tmp_path):
    settings = load_settings(environ={}, epochs="1.23456789", outputs=str(tmp_path))
    assert load_settings(environ=settings_to_env(settings)).epochs == settings.epochs


def test_fingerprint_has_every_setting_but_outputs(tmp_path):
    a = load_settings(environ={}, profile="tiny", outputs=str(tmp_path / "a"))
    b = load_settings(environ={}, profile="tiny", outputs=str(tmp_path / "b"))
    assert a != b
    assert a.fingerprint() == b.fingerprint()
    assert "outputs" not in a.fingerprint()
    assert set(a.fingerprint()) == {field.name for field in dataclasses.fields(Settings)} - {"outputs"}
    assert load_settings(environ={}, profile="tiny", epochs=3).fingerprint() != a.fingerprint()


def test_fingerprint_writes_a_local_folder_one_way_and_keeps_hub_ids(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative folders are the repository's, wherever the notebook runs
    relative = load_settings(environ={}, profile="tiny", outputs=str(tmp_path))
    absolute = load_settings(environ={}, profile="tiny", outputs=str(tmp_path), model=str(REPO_ROOT / "data" / "tiny-gpt2"))
    assert absolute.fingerprint() == relative.fingerprint()
    assert relative.fingerprint()["model"] == "data/tiny-gpt2"
    outside = tmp_path / "my-model"
    outside.mkdir()
    assert load_settings(environ={}, model=f"{outside}/../my-model").fingerprint()["model"] == str(outside)
    hub = load_settings(environ={}, profile="full")
    assert (hub.fingerprint()["model"], hub.fingerprint()["data"]) == ("openai-community/gpt2", "hub")


# --------------------------------------------------------------------------------------------------
# Training precision
# --------------------------------------------------------------------------------------------------


def test_precision_is_auto_unless_forced(tmp_path):
    assert load_settings(environ={}).precision == "auto"
    assert load_settings(environ={"WORKSHOP_PRECISION": " BF16 "}).precision == "bf16"
    assert load_settings(environ={"WORKSHOP_PRECISION": "bf16"}, precision="fp32").precision == "fp32"


def test_unknown_precision_names_the_flag_and_the_choices():
    with pytest.raises(SettingsError) as error:
        load_settings(environ={"WORKSHOP_PRECISION": "fp8"})
    message = one_line(error)
    assert "'fp8'" in message and "--precision / WORKSHOP_PRECISION" in message and "bf16 or fp32" in message


@pytest.mark.parametrize(
    "profile, precision, bf16_expected",
    [("tiny", "bf16", True), ("full", "fp32", False), ("tiny", "auto", False)],  # the tiny profile trains in fp32
)
def test_forced_precision_decides_the_training_arguments_on_a_cpu(profile, precision, bf16_expected, monkeypatch):
    import torch

    from cola_workshop.hardware import precision_arguments

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    settings = load_settings(environ={}, profile=profile, precision=precision)
    assert precision_arguments(settings) == {"use_cpu": True, "bf16": bf16_expected}


def test_every_setting_but_the_outputs_folder_can_make_a_stage_stale():
    """A new field of Settings is compared with the manifests without anyone listing it (issue: two tuples that
    no test tied to the fields would let it escape the check)."""
    from cola_workshop.artifacts import STAGES, relevant_settings

    settings = load_settings(environ={})
    fields = {field.name for field in dataclasses.fields(Settings)} - {"outputs"}
    assert set(relevant_settings(settings, STAGES[-1])) == fields
    assert "precision" in relevant_settings(settings, "05_training")
    assert "precision" not in relevant_settings(settings, "03_preprocessing")  # the data stages do not depend on it
