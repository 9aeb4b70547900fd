"""The tiny profile is deterministic: a run through the command line prints what the committed notebooks show.

Outputs are compared after the same sanitising that nbval applies (times, temporary paths); cells tagged
``nbval-ignore-output`` (training progress, latency) are checked through what the later cells print from their
results, and through the model card.
"""

import configparser
import json
import re
from pathlib import Path

import nbformat

from cola_workshop.artifacts import STAGES
from cola_workshop.cli import main
from cola_workshop.model_card import card_metrics

ROOT = Path(__file__).resolve().parents[1]
VOLATILE_METRICS = re.compile(r"(runtime|per_second)$")


def _sanitizers():
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "tests" / "nbval_sanitize.cfg")
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


def _metrics(outputs: Path) -> dict:
    result = {}
    for name in ("eval_metrics.json", "train_metrics.json"):
        values = json.loads((outputs / "05_training" / name).read_text())
        result[name] = {key: value for key, value in values.items() if not VOLATILE_METRICS.search(key)}
    result["report"] = json.loads((outputs / "06_usage" / "report.json").read_text())
    result["zero_shot"] = json.loads((outputs / "01_goal" / "zero_shot.json").read_text())["metrics"]
    return result


def test_a_cli_run_reproduces_the_committed_notebooks_and_cards_its_model(tmp_path, capsys):
    """``cola-workshop run`` (a fresh kernel per notebook, as a learner's headless run) gives the committed outputs.

    nbval re-executes the notebooks once more and compares them too, so two independent runs must agree with what
    the committed notebooks show; the metrics of the cells nbval ignores (training progress) are checked through
    the model card, whose figures must be the ones in eval_metrics.json.
    """
    sanitizers = _sanitizers()
    outputs = tmp_path / "run"
    assert main(["run", "--profile", "tiny", "--outputs", str(outputs)]) == 0, capsys.readouterr().err
    for stage in STAGES:
        executed = _outputs(outputs / "executed" / f"{stage}.ipynb", sanitizers)
        assert executed == _outputs(ROOT / "notebooks" / f"{stage}.ipynb", sanitizers), f"{stage} printed something else"
    metrics = _metrics(outputs)
    assert -1 <= metrics["eval_metrics.json"]["matthews_correlation"] <= 1
    card = card_metrics(outputs / "05_training" / "model" / "README.md")
    assert card == {key: metrics["eval_metrics.json"][key] for key in ("matthews_correlation", "accuracy")}
