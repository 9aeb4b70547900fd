"""The tiny profile is deterministic: three runs in a row give the same notebook outputs and the same metrics.

Outputs are compared after the same sanitising that nbval applies (times, temporary paths); cells tagged
``nbval-ignore-output`` (training progress, latency) are compared by their results instead: the metrics files.
"""

import configparser
import json
import re
from pathlib import Path

import nbformat

from cola_workshop.artifacts import STAGES
from cola_workshop.cli import main

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


def test_three_tiny_runs_give_identical_outputs_and_metrics(tmp_path, capsys):
    sanitizers = _sanitizers()
    runs = []
    for run in range(3):
        outputs = tmp_path / f"run{run}"
        assert main(["run", "--profile", "tiny", "--outputs", str(outputs)]) == 0, capsys.readouterr().err
        runs.append(
            (
                {stage: _outputs(outputs / "executed" / f"{stage}.ipynb", sanitizers) for stage in STAGES},
                _metrics(outputs),
            )
        )
    first_outputs, first_metrics = runs[0]
    assert -1 <= first_metrics["eval_metrics.json"]["matthews_correlation"] <= 1
    for outputs, metrics in runs[1:]:
        for stage in STAGES:
            assert outputs[stage] == first_outputs[stage], f"{stage} printed something different"
        assert metrics == first_metrics
