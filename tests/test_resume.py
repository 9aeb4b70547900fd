"""A training run killed mid-way resumes from its last checkpoint and ends with the same number of steps.

This drives the real notebooks through ``cola-workshop run`` on the tiny profile: stages 01-04 once, then
notebook 05 in a separate process that is killed (SIGKILL, kernel included) as soon as a checkpoint exists,
then notebook 05 again, which must resume from that checkpoint instead of starting over.
"""

import json
import math
import os
import subprocess
import sys
import time

import psutil
import pytest

from cola_workshop.artifacts import checkpoint_dir, last_checkpoint
from cola_workshop.cli import main
from cola_workshop.settings import REPO_ROOT, load_settings

FLAGS = ["--profile", "tiny", "--max-train-samples", "320", "--epochs", "30"]


def _kill_tree(process: subprocess.Popen) -> None:
    parent = psutil.Process(process.pid)
    for child in parent.children(recursive=True) + [parent]:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    process.wait(timeout=30)


def test_killed_training_resumes_from_its_last_checkpoint(tmp_path, capsys):
    outputs = tmp_path / "outputs"
    flags = FLAGS + ["--outputs", str(outputs)]
    settings = load_settings(environ={}, profile="tiny", max_train_samples=320, epochs=30, outputs=str(outputs))
    assert main(["run", *flags, "--to", "04"]) == 0

    command = [sys.executable, "-m", "cola_workshop.cli", "run", *flags, "--from", "05", "--to", "05"]
    training = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while last_checkpoint(settings) is None:
            assert training.poll() is None, "training ended before it could be interrupted"
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.05)
    finally:
        _kill_tree(training)
    interrupted_at = int(last_checkpoint(settings).rsplit("-", 1)[1])
    steps_per_epoch = math.ceil(320 / settings.batch_size)
    total_steps = steps_per_epoch * 30
    assert 0 < interrupted_at < total_steps
    assert not settings.stage_dir("05_training").exists(), "a killed run must not leave a stage behind"

    capsys.readouterr()
    assert main(["run", *flags, "--from", "05", "--to", "05"]) == 0
    folder = settings.stage_dir("05_training")
    train_metrics = json.loads((folder / "train_metrics.json").read_text())
    history = json.loads((folder / "log_history.json").read_text())
    assert train_metrics["resumed_from_step"] >= interrupted_at
    assert max(entry["step"] for entry in history) == total_steps, "the resumed run must end where an uninterrupted one does"
    assert (folder / "model" / "model.safetensors").is_file()
    assert not checkpoint_dir(settings).exists(), "checkpoints of a finished run are removed"
    executed = (outputs / "executed" / "05_training.ipynb").read_text()
    assert "resuming from checkpoint-" in executed
