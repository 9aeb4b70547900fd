"""The real-weights lane: ``cola-workshop run`` executes all six notebooks of the full profile with a pretrained
model on the real corpus, and every check cell and body assertion holds.

README's test command proves the tiny profile, whose tiny model's predictions barely depend on precision; this lane
proves the run a learner makes, with the two pretrained models beside the repository in ``../shared`` (neither is
GPT-2, whose weights are out of reach here):

- **decoder**: SmolLM2-135M-Instruct (a 30-layer Llama-style decoder of GPT-2 small's size class: its pad token,
  last-token pooling, zero-shot scoring with real probabilities, ``generate`` in notebook 01);
- **encoder**: all-MiniLM-L6-v2 (a 22.7M-parameter BERT-style encoder: the sections a decoder needs say why they
  skip, and the notebooks go on).

Each trains on a seeded, stratified slice of CoLA v1.1 that it learns from (validation MCC clearly above chance), in
float32; the decoder again in bf16 autocast where the CPU has native bf16 instructions (elsewhere bf16 is emulated
and many times slower: that run skips, saying why; on a GPU it runs in the GPU's own precision).

Run it with ``.venv/bin/python -m pytest --real-weights -m real_weights -n 0`` (README, "The real-weights lane");
it skips, saying why, where ``../shared`` or a model is absent. ``WORKSHOP_TEST_NOTEBOOKS=DIR`` runs the notebooks
in DIR instead of ``notebooks/``.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from cola_workshop.artifacts import STAGES
from cola_workshop.model_card import card_metrics
from cola_workshop.settings import ENV_VARS, REPO_ROOT
from cola_workshop.tools.cli import main

pytestmark = [pytest.mark.real_weights, pytest.mark.runs_notebooks]

SHARED = REPO_ROOT.parent / "shared"
CORPUS = SHARED / "data" / "cola_public"
LEARNED = 0.1  # validation MCC clearly above chance (0): the model learned, so precision can move predictions


@dataclass(frozen=True)
class Lane:
    """One pretrained model's run: its script in ../shared/tools, the slice of CoLA and the recipe it learns with."""

    script: str
    train: int | None  # training sentences drawn from in_domain_train.tsv (None: all 8,551)
    validation: int | None  # sentences drawn from each of the two dev files (None: all 527 + 516)
    epochs: int
    learning_rate: str


# Measured on a 2-core AMD EPYC (no AVX-512), float32, 2026-12-06: the decoder trained at 13 sentences a second, so
# it gets a small slice (900 to train, 100 to choose the epoch, 300 to score) and a learning rate above GPT-2 small's
# 2e-5 (2,000 sentences for one epoch at 2e-5 barely moved it): validation MCC 0.295, its run 336 s. The encoder
# learned nothing from 2,000 sentences at any rate tried: it takes the whole split, at 1e-4 (its run 225 s).
LANES = {
    "decoder": Lane("pretrained-decoder.sh", train=1000, validation=150, epochs=2, learning_rate="1e-4"),
    "encoder": Lane("pretrained-encoder.sh", train=None, validation=None, epochs=2, learning_rate="1e-4"),
}


def _model_folder(script: Path) -> Path:
    if not script.is_file() or not (CORPUS / "raw" / "in_domain_train.tsv").is_file():
        pytest.skip(f"needs ../shared beside the repository ({script.name} and data/cola_public): not found")
    found = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=1200)
    lines = found.stdout.strip().splitlines()
    folder = Path(lines[-1]) if found.returncode == 0 and lines else None
    if folder is None or not (folder / "model.safetensors").is_file():
        pytest.skip(f"the pretrained model is not available here ({script.name}: {found.stderr.strip()[-200:]})")
    return folder


def write_slice(target: Path, train: int | None, validation: int | None, seed: int = 42) -> Path:
    """A folder in CoLA's release layout holding a seeded sample of each file, stratified by label."""
    (target / "raw").mkdir(parents=True)
    for name, size in (("in_domain_train.tsv", train), ("in_domain_dev.tsv", validation),
                       ("out_of_domain_dev.tsv", validation)):
        rows = [line for line in (CORPUS / "raw" / name).read_text().splitlines() if line.strip()]
        if size is not None:
            rng, by_label = random.Random(seed), {}
            for row in rows:
                by_label.setdefault(row.split("\t")[1], []).append(row)
            rows = [row for label in sorted(by_label) for row in
                    rng.sample(by_label[label], round(size * len(by_label[label]) / len(rows)))]
            rng.shuffle(rows)
        (target / "raw" / name).write_text("\n".join(rows) + "\n")
    return target


def test_a_slice_keeps_the_label_balance_and_the_layout(tmp_path):
    if not (CORPUS / "raw" / "in_domain_train.tsv").is_file():
        pytest.skip("needs ../shared/data/cola_public beside the repository: not found")
    folder = write_slice(tmp_path / "slice", train=400, validation=50)
    rows = (folder / "raw" / "in_domain_train.tsv").read_text().splitlines()
    whole = (CORPUS / "raw" / "in_domain_train.tsv").read_text().splitlines()
    share = sum(row.split("\t")[1] == "1" for row in rows) / len(rows)
    assert abs(len(rows) - 400) <= 1 and abs(share - sum(r.split("\t")[1] == "1" for r in whole) / len(whole)) < 0.01
    assert set(rows) <= set(whole)
    assert sorted(path.name for path in (folder / "raw").iterdir()) == [
        "in_domain_dev.tsv", "in_domain_train.tsv", "out_of_domain_dev.tsv"]


def _precision(precision: str) -> str:
    """fp32 everywhere; the native run in the device's own precision, or a skip that says why."""
    import torch

    from cola_workshop.hardware import cpu_supports_bf16

    if precision == "fp32":
        return "fp32"
    if torch.cuda.is_available():
        return "auto"  # bf16, or fp16 on a GPU without it
    if not cpu_supports_bf16():
        pytest.skip("this CPU has no native bf16 instructions: bf16 autocast would be emulated, many times slower")
    return "bf16"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """The flags alone decide the run: no WORKSHOP_* variable (conftest's tiny profile included) leaks in."""
    for variable in ENV_VARS.values():
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


# Both models in float32; the decoder, the model the workshop teaches, again in the device's own precision (bf16
# autocast on a CPU with native bf16, which on a 2-core Xeon is about 1.7x slower than float32: both models there
# would take the lane past a quarter of an hour).
RUNS = [("decoder", "fp32"), ("decoder", "native"), ("encoder", "fp32")]


@pytest.mark.parametrize("kind, precision", RUNS)
def test_a_full_profile_run_with_real_weights_passes_every_check(kind, precision, tmp_path, capsys):
    lane = LANES[kind]
    precision = _precision(precision)
    model = _model_folder(SHARED / "tools" / lane.script)
    data = CORPUS if lane.train is None and lane.validation is None else write_slice(
        tmp_path / "cola", lane.train, lane.validation)
    outputs = tmp_path / "outputs"
    flags = ["--profile", "full", "--model", str(model), "--data", str(data), "--precision", precision,
             "--epochs", str(lane.epochs), "--learning-rate", lane.learning_rate, "--outputs", str(outputs)]
    if os.environ.get("WORKSHOP_TEST_NOTEBOOKS"):
        flags += ["--notebooks", os.environ["WORKSHOP_TEST_NOTEBOOKS"]]

    code = main(["run", *flags])
    captured = capsys.readouterr()
    assert code == 0, f"the {kind}'s {precision} run stopped:\n{captured.err}"
    assert [path.stem for path in sorted((outputs / "executed").glob("*.ipynb"))] == list(STAGES)

    training = outputs / "05_training"
    arguments = json.loads((outputs / "04_training_args" / "training_args.json").read_text())
    if precision != "auto":
        assert arguments["bf16"] is (precision == "bf16")
    evaluation = json.loads((training / "eval_metrics.json").read_text())
    assert evaluation["matthews_correlation"] > LEARNED, f"the {kind} did not learn: {evaluation}"
    card = card_metrics(training / "model" / "README.md")
    assert card == {key: evaluation[key] for key in ("matthews_correlation", "accuracy")}

    assert main(["status", "--outputs", str(outputs)]) == 0  # what the run made is what status says it made
    status = capsys.readouterr().out
    assert "all stages are done and up to date" in status
    assert precision == "auto" or f"precision {precision}" in status
