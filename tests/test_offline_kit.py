"""The offline half of `cola-workshop prefetch`: a kit folder (model + data) runs the notebooks with no hub.

The kit is built here the way prefetch writes it, from the real CoLA corpus in ../shared/data (the data half of
prefetch, `save_for_offline`) and a locally built model folder (the tiny GPT-2 stands in for the hub model).
"""

import json
import shutil
from pathlib import Path

import pytest

from cola_workshop import data
from cola_workshop.tools.cli import main
from cola_workshop.settings import REPO_ROOT, load_settings

CORPUS = REPO_ROOT.parent / "shared" / "data" / "cola_public"


@pytest.mark.runs_notebooks
def test_notebooks_run_from_an_offline_kit(tmp_path, monkeypatch, capsys):
    if not CORPUS.is_dir():
        pytest.skip("../shared/data/cola_public is absent: only the workshop's CI and development machines have the real corpus")
    kit = tmp_path / "kit"
    data.save_for_offline(load_settings(environ={}, data=str(CORPUS)), kit / "data")
    shutil.copytree(REPO_ROOT / "data" / "tiny-gpt2", kit / "model")
    monkeypatch.setattr("cola_workshop.hub.hub_reachable", lambda timeout=3.0: False)

    outputs = tmp_path / "outputs"
    argv = ["run", "--model", str(kit / "model"), "--data", str(kit / "data"), "--max-train-samples", "64",
            "--outputs", str(outputs), "--to", "03"]
    assert main(argv) == 0, capsys.readouterr().err
    facts = json.loads((outputs / "02_exploration" / "facts.json").read_text())
    assert facts["rows"] == {"train": 64, "validation": 1043, "test": 1063}
    assert facts["in_domain_validation_rows"] == 527
    manifest = json.loads((outputs / "03_preprocessing" / "manifest.json").read_text())
    assert manifest["settings"]["model"] == str(kit / "model")
    assert (outputs / "03_preprocessing" / "tokenizer" / "tokenizer.json").is_file()
