"""Tests for cola_workshop.sources: a hub id or a local folder, refused folders, the hub and its local cache.

Folders are data/tiny-gpt2 or built in tmp_path; the hub is never contacted (it is made unreachable, and the
hub cache is an empty temporary folder where a test needs one).
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from cola_workshop import hub, sources
from cola_workshop.errors import WorkshopError
from cola_workshop.settings import REPO_ROOT, local_folder
from cola_workshop.sources import ModelSourceError, local_checkpoint, model_source

TINY_MODEL = "data/tiny-gpt2"


def copy_tiny_config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / TINY_MODEL / "config.json", folder / "config.json")
    return folder


# --------------------------------------------------------------------------------------------------
# A hub id or a local folder
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["openai-community/gpt2", "gpt2", "my-modle", "owner/model-v1.5"])
def test_names_that_exist_nowhere_here_are_hub_ids(name):
    assert local_folder(name) is None


def test_names_written_as_paths_are_folders_even_when_missing(tmp_path):
    assert local_folder("./" + TINY_MODEL) == REPO_ROOT / TINY_MODEL
    assert local_folder("./no-such-model") == REPO_ROOT / "no-such-model"  # reported as a missing folder
    assert local_folder(str(tmp_path / "absent")) == tmp_path / "absent"
    assert local_folder("~/no-such-model") == Path.home() / "no-such-model"


def test_an_existing_folder_is_a_folder_relative_to_the_repository_or_the_given_base(tmp_path):
    assert local_folder(TINY_MODEL) == REPO_ROOT / TINY_MODEL  # owner/name shape, but the folder is there
    (tmp_path / "owner" / "model").mkdir(parents=True)
    assert local_folder("owner/model") is None  # no such folder in the repository: the hub id
    assert local_folder("owner/model", base=tmp_path) == tmp_path / "owner" / "model"  # the command line's folder


def test_existing_folders_are_checkpoints_and_hub_ids_are_not():
    assert local_checkpoint(TINY_MODEL) == REPO_ROOT / TINY_MODEL
    assert local_checkpoint("./" + TINY_MODEL) == REPO_ROOT / TINY_MODEL
    assert local_checkpoint(str(REPO_ROOT / TINY_MODEL)) == REPO_ROOT / TINY_MODEL
    assert local_checkpoint("openai-community/gpt2") is None
    assert model_source(TINY_MODEL) == str(REPO_ROOT / TINY_MODEL)


# --------------------------------------------------------------------------------------------------
# Refused model folders
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("weights", [True, False])
def test_missing_model_folder_names_the_flag(tmp_path, weights):
    with pytest.raises(ModelSourceError) as error:
        model_source(str(tmp_path / "no-such-model"), weights=weights)
    message = str(error.value)
    assert "\n" not in message and isinstance(error.value, WorkshopError)
    assert "does not exist" in message and "--model" in message and "WORKSHOP_MODEL" in message


def test_folder_without_config_is_not_a_checkpoint(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model\n")
    with pytest.raises(ModelSourceError, match="not a model checkpoint \\(no config.json\\)") as error:
        model_source(str(tmp_path))
    assert "--model" in str(error.value) and "hub id" in str(error.value)
    assert model_source(str(tmp_path), weights=False) == str(tmp_path), "a tokenizer needs no config.json"


def test_a_folder_only_command_names_no_hub_id(tmp_path):
    with pytest.raises(ModelSourceError) as error:
        local_checkpoint(str(tmp_path), hub_ids=False)
    assert "fine-tuned model folder" in str(error.value)
    assert "hub id" not in str(error.value) and "WORKSHOP_MODEL" not in str(error.value)


def test_pickled_weights_are_refused_before_anything_is_unpickled(tmp_path, monkeypatch):
    folder = copy_tiny_config(tmp_path / "pickled")
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"not": "weights"}))

    def refuse(*args, **kwargs):
        raise AssertionError("a pickled checkpoint was unpickled")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    with pytest.raises(ModelSourceError) as error:
        model_source(str(folder))
    message = str(error.value)
    assert "\n" not in message
    assert "no .safetensors weights" in message and "safe_serialization=True" in message


# --------------------------------------------------------------------------------------------------
# The hub and the local cache
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def empty_hub_cache(tmp_path, monkeypatch):
    """An unreachable hub and an empty cache, whatever the developer has cached."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    # huggingface_hub computes its cache folder once, at import; it reads it from there at call time.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HOME", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(sources, "hub_reachable", lambda timeout=3.0: False)
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: False)
    return tmp_path


@pytest.mark.parametrize("weights", [True, False])
def test_hub_id_without_hub_or_cache_fails_in_one_sentence(empty_hub_cache, weights):
    with pytest.raises(hub.HubUnreachableError) as error:
        model_source("openai-community/gpt2", weights=weights)
    message = str(error.value)
    assert "\n" not in message and isinstance(error.value, WorkshopError)
    assert "the model 'openai-community/gpt2' is not in the local cache" in message
    assert "--profile tiny" in message


def test_a_name_that_is_neither_a_folder_nor_cached_says_both(empty_hub_cache):
    with pytest.raises(hub.HubUnreachableError, match="the model 'my-modle', which is no folder here either, is not in"):
        model_source("my-modle")


def test_a_cached_hub_id_is_returned_and_the_process_reads_the_cache_only(empty_hub_cache, monkeypatch):
    import huggingface_hub.constants

    snapshot = empty_hub_cache / "hub" / "models--owner--cached" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    refs = empty_hub_cache / "hub" / "models--owner--cached" / "refs"
    refs.mkdir()
    (refs / "main").write_text("0" * 40)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # restored afterwards, as are the flags below
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    assert model_source("owner/cached") == "owner/cached"
    assert huggingface_hub.constants.HF_HUB_OFFLINE and datasets.config.HF_HUB_OFFLINE
    with pytest.raises(hub.HubUnreachableError):
        model_source("owner/not-cached")
