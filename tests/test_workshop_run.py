"""The tiny workshop through the command line, as a learner's headless run: `cola-workshop run`.

The chain runs once (a module fixture) and both tests read it: notebooks 01-04, then notebook 05 in a separate
process killed (SIGKILL, kernel included) once training has saved its first checkpoint, then `run --from 05` to
the end, which resumes from that checkpoint.

- training killed mid-way resumes from its last checkpoint and ends with the same number of steps as an
  uninterrupted run;
- the run prints what the committed notebooks show (outputs compared after the same sanitising that nbval
  applies: times, temporary paths; cells tagged ``nbval-ignore-output``, training progress and latency, are
  checked through what later cells print from their results, and through the model card). The committed
  notebooks come from an uninterrupted run, so this also shows that resuming changes none of what training gives.
"""

import configparser
import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from cola_workshop.artifacts import STAGES, checkpoint_dir, last_checkpoint
from cola_workshop.tools.cli import main
from cola_workshop.model_card import card_metrics
from cola_workshop.settings import REPO_ROOT, load_settings

pytestmark = pytest.mark.runs_notebooks


def _kill_tree(process: subprocess.Popen) -> None:
    parent = psutil.Process(process.pid)
    for child in parent.children(recursive=True) + [parent]:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory) -> dict:
    """An outputs folder where 01-04 ran, then 05 was killed after its first checkpoint and the run resumed to 06.

    Returns the outputs folder, the settings, and the step of the checkpoint that was there when training was killed.
    """
    outputs = tmp_path_factory.mktemp("killed-run") / "outputs"
    flags = ["--profile", "tiny", "--outputs", str(outputs)]
    settings = load_settings(environ={}, profile="tiny", outputs=str(outputs))
    assert main(["run", *flags, "--to", "04"]) == 0

    command = [sys.executable, "-m", "cola_workshop.tools.cli", "run", *flags, "--from", "05", "--to", "05"]
    training = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600  # a guard against a hang, generous for a busy machine
        while last_checkpoint(settings) is None:
            assert training.poll() is None, "training ended before it could be interrupted"
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.05)
    finally:
        _kill_tree(training)
    interrupted_at = int(last_checkpoint(settings).rsplit("-", 1)[1])
    killed_left_a_stage = settings.stage_dir("05_training").exists()

    assert main(["run", *flags, "--from", "05"]) == 0
    return {"outputs": outputs, "settings": settings, "interrupted_at": interrupted_at,
            "killed_left_a_stage": killed_left_a_stage}


def _sanitizers():
    config = configparser.ConfigParser(interpolation=None)
    config.read(REPO_ROOT / "tests" / "nbval_sanitize.cfg")
    return [(re.compile(config[section]["regex"]), config[section]["replace"]) for section in config.sections()]


def _outputs(notebook: Path, sanitizers) -> list[str]:
    texts = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type != "code" or "nbval-ignore-output" in cell.metadata.get("tags", []):
            continue
        for output in cell.get("outputs", []):
            text = output.get("text", "") + "".join(
                str(value) for key, value in output.get("data", {}).items() if key.startswith("text/")
            )
            for pattern, replacement in sanitizers:
                text = pattern.sub(replacement, text)
            texts.append(text)
    return texts


def test_a_cli_run_reproduces_the_committed_notebooks_and_cards_its_model(killed_run):
    """``cola-workshop run`` (a fresh kernel per notebook) gives the committed outputs, its training resumed or not.

    nbval re-executes the notebooks once more and compares them too, so two independent runs must agree with what
    the committed notebooks show; the metrics of the cells nbval ignores (training progress) are checked through
    the model card, whose figures must be the ones in eval_metrics.json.
    """
    outputs = killed_run["outputs"]
    sanitizers = _sanitizers()
    for stage in STAGES:
        executed = _outputs(outputs / "executed" / f"{stage}.ipynb", sanitizers)
        assert executed == _outputs(REPO_ROOT / "notebooks" / f"{stage}.ipynb", sanitizers), f"{stage} printed something else"
    evaluation = json.loads((outputs / "05_training" / "eval_metrics.json").read_text())
    assert -1 <= evaluation["matthews_correlation"] <= 1
    card = card_metrics(outputs / "05_training" / "model" / "README.md")
    assert card == {key: evaluation[key] for key in ("matthews_correlation", "accuracy")}


def test_killed_training_resumes_from_its_last_checkpoint(killed_run):
    settings, interrupted_at, outputs = killed_run["settings"], killed_run["interrupted_at"], killed_run["outputs"]
    from datasets import load_from_disk

    train_rows = len(load_from_disk(str(outputs / "03_preprocessing" / "tokenized"))["train"])  # less the selection split
    steps_per_epoch = math.ceil(train_rows / settings.batch_size)
    total_steps = steps_per_epoch * math.ceil(settings.epochs)
    assert 0 < interrupted_at < total_steps
    assert not killed_run["killed_left_a_stage"], "a killed run must not leave a stage behind"

    folder = settings.stage_dir("05_training")
    train_metrics = json.loads((folder / "train_metrics.json").read_text())
    history = json.loads((folder / "log_history.json").read_text())
    assert train_metrics["resumed_from_step"] >= interrupted_at
    assert max(entry["step"] for entry in history) == total_steps, "the resumed run must end where an uninterrupted one does"
    assert (folder / "model" / "model.safetensors").is_file()
    assert not checkpoint_dir(settings).exists(), "checkpoints of a finished run are removed"
    executed = (outputs / "executed" / "05_training.ipynb").read_text()
    assert "resuming from checkpoint-" in executed
