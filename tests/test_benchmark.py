"""benchmarks/: the arithmetic with hand-computed values, the command line, and the cell times the end-to-end mode
reads from executed notebooks. Nothing here trains GPT-2; one test runs the workshop's executor on two tiny
notebooks to show that the executed copies keep each cell's timing.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _from_file(name: str):
    """A module of benchmarks/, loaded from its file (``train_speed`` finds ``recipe_run`` beside it as a script
    does, so that one is registered first under its own name)."""
    if name == "train_speed" and "recipe_run" not in sys.modules:
        _from_file("recipe_run")
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


recipe_run = _from_file("recipe_run")
notebook_times = _from_file("notebook_times")
train_speed = _from_file("train_speed")


def test_importing_the_benchmark_runs_nothing_and_loads_neither_torch_nor_transformers():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "import train_speed, notebook_times, recipe_run, kernel_choices; "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, str(BENCHMARKS)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_modules_and_functions_stay_small_and_nothing_imports_the_cli_or_parses_printed_text():
    for path in sorted(BENCHMARKS.glob("*.py")):
        text = path.read_text()
        assert len(text.splitlines()) <= 400, f"{path.name} has more than 400 lines"
        assert "tools.cli" not in text and "run_notebooks" not in text, path.name
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno < 60, f"{path.name}: {node.name} is over 60 lines"


def test_padding_overhead_by_hand():
    # Batches of real lengths [3, 5] and [4]: dynamic padding computes 5 + 5 + 4 = 14 tokens for 12 real ones.
    assert recipe_run.padding_overhead([[3, 5], [4]]) == pytest.approx(14 / 12)
    assert recipe_run.padding_overhead([[3, 5], [4]], pad_to=8) == pytest.approx(24 / 12)
    assert notebook_times.sampler_overhead([4, 4, 4, 4], 2, "random", seed=0) == 1.0


def test_spread_takes_the_quantiles_of_the_epochs_batches_in_their_order():
    costs = [90, 10, 50, 30, 70, 20, 80, 40, 60, 100]  # a length-grouped epoch: not sorted
    picked = recipe_run.spread(costs, 5)
    assert picked == sorted(picked) and len(picked) == 5
    assert sorted(costs[i] for i in picked) == [20, 40, 60, 80, 100]  # at the (i + 0.5) / 5 quantiles
    assert recipe_run.spread(costs, 20) == list(range(10))


def test_mfu_is_six_flops_per_parameter_and_real_token_over_the_peak():
    assert train_speed.mfu(1_000_000, 1000, peak=6e10) == pytest.approx(0.1)
    assert train_speed.mfu(1_000_000, 1000, peak=None) != train_speed.mfu(1_000_000, 1000, peak=None)  # NaN


def test_every_configuration_changes_only_fields_the_recipe_has():
    from transformers import TrainingArguments

    fields = set(TrainingArguments.__dataclass_fields__)
    for name, (description, changes, pad_to) in recipe_run.CONFIGS.items():
        assert description and set(changes) <= fields, name
        assert pad_to is None or pad_to > 0
    assert train_speed.REFERENCE in recipe_run.CONFIGS
    assert recipe_run.CONFIGS[train_speed.REFERENCE][1]["per_device_train_batch_size"] == 8


def test_only_the_fused_gelu_configuration_changes_gpt2s_gelu(tmp_path):
    for model in ("random", str(BENCHMARKS.parent / "data" / "tiny-gpt2")):
        activations = {name: recipe_run.classifier_config(model, name, 50256).activation_function
                       for name in recipe_run.CONFIGS}
        assert {name for name, act in activations.items() if act == "gelu_pytorch_tanh"} == recipe_run.FUSED_GELU
        assert {act for name, act in activations.items() if name not in recipe_run.FUSED_GELU} == {"gelu_new"}
    config = recipe_run.classifier_config("random", "workshop", 50256)
    assert (config.num_labels, config.pad_token_id, config.n_layer) == (2, 50256, 12)  # GPT-2 small's shape
    from transformers import AutoConfig

    saved = AutoConfig.from_pretrained(BENCHMARKS.parent / "data" / "tiny-gpt2")
    saved.activation_function = "gelu_pytorch_tanh"  # a folder saved with the fused kernel
    saved.save_pretrained(tmp_path)
    assert recipe_run.classifier_config(str(tmp_path), "batch8", 50256).activation_function == "gelu_new"
    assert recipe_run.classifier_config(str(tmp_path), "workshop", 50256).pad_token_id is None  # set after loading


def test_command_line_defaults_and_clear_errors(capsys, tmp_path):
    args = train_speed.parse_args([])
    assert args.names == ["workshop", "batch8"] and not args.end_to_end and args.model == "random"
    with pytest.raises(SystemExit):
        train_speed.parse_args(["--configs", "workshop,fastest"])
    assert "unknown configuration(s) ['fastest']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_speed.parse_args(["--warmup", "0"])
    (tmp_path / "old-run").mkdir()
    (tmp_path / "old-run" / "05_training").mkdir()
    with pytest.raises(SystemExit):
        train_speed.parse_args(["--end-to-end", "--outputs", str(tmp_path / "old-run")])
    assert "is not empty: give a new folder" in capsys.readouterr().err


def test_machine_line_names_the_cpu_and_its_bf16():
    line = train_speed.machine_line()
    assert train_speed.cpu_name() in line and "bf16" in line


def _notebook(cells: list[tuple[str, float | None]]) -> dict:
    """Code cells (source, seconds or None for a cell that never ran) with nbclient's timing metadata."""
    out = []
    for source, seconds in cells:
        metadata = {}
        if seconds is not None:
            metadata["execution"] = {"iopub.execute_input": "2026-12-01T10:00:00.000000Z",
                                     "shell.execute_reply": f"2026-12-01T10:00:{seconds:09.6f}Z"}
        out.append({"cell_type": "code", "metadata": metadata, "source": source, "outputs": []})
    out.insert(1, {"cell_type": "markdown", "metadata": {}, "source": "## 1. Training"})
    return {"cells": out, "metadata": {}, "nbformat": 4, "nbformat_minor": 4}


def test_cell_times_come_from_the_executed_copy_and_training_is_the_trainer_train_cell(tmp_path):
    path = tmp_path / "05_training.ipynb"
    cells = [("import torch\n", 4.0), ("\nresult = trainer.train(resume_from_checkpoint=None)\n", 30.5),
             ("metrics = trainer.evaluate()", 2.25), ("frozen_trainer.train()  # an exercise", 1.0), ("never_ran()", None)]
    path.write_text(json.dumps(_notebook(cells)))
    times = notebook_times.notebook_times(path, wall_s=40.0)
    assert [(c["cell"], c["first_line"], c["trains"]) for c in times["cells"]] == [
        (1, "import torch", False), (3, "result = trainer.train(resume_from_checkpoint=None)", True),
        (4, "metrics = trainer.evaluate()", False), (5, "frozen_trainer.train()  # an exercise", False)]
    assert times["cells_s"] == pytest.approx(37.75) and times["train_s"] == pytest.approx(30.5)
    assert times["outside_s"] == pytest.approx(9.5), "the wall time's kernel start counts as outside training"
    assert notebook_times.notebook_times(path)["outside_s"] == pytest.approx(7.25)


def test_the_report_lists_notebooks_and_the_cells_over_the_threshold(tmp_path, capsys):
    path = tmp_path / "06_usage.ipynb"
    path.write_text(json.dumps(_notebook([("onnx_program = torch.onnx.export(model)", 12.0), ("x = 1", 0.01)])))
    times = {"06_usage": notebook_times.notebook_times(path, wall_s=15.0)}
    assert notebook_times.print_times(times, "Some CPU, native bf16", threshold_s=1.0) == pytest.approx(15.0)
    out = capsys.readouterr().out
    assert "on Some CPU, native bf16" in out and "onnx_program = torch.onnx.export(model)" in out
    assert "x = 1" not in out


def test_training_time_is_train_runtime_less_the_evaluations():
    log = [{"loss": 0.7, "step": 10}, {"eval_runtime": 5.0, "eval_matthews_correlation": 0.1, "step": 20},
           {"eval_runtime": 7.0, "eval_matthews_correlation": 0.3, "step": 40},
           {"train_runtime": 112.0, "epoch": 2.0, "step": 40}, {"eval_runtime": 6.0, "step": 40}]
    epochs = notebook_times.training_epochs(log)
    assert epochs["training_s"] == 100.0 and epochs["eval_s"] == 12.0 and epochs["last_mcc"] == 0.3
    side = {"log_history": log, "train_rows": 500, "real_tokens_per_epoch": 5000}
    assert notebook_times.throughput(side)["samples_per_s"] == pytest.approx(10.0)
    with pytest.raises(ValueError, match="rerun notebook 05"):
        notebook_times.training_epochs(log[:3])


@pytest.mark.runs_notebooks
def test_the_workshops_executor_keeps_each_cells_timing(tmp_path):
    """Two one-cell notebooks through ``execute_notebook`` (as ``cola-workshop run``): the executed copies hold
    the timing the end-to-end mode reads, and the wall time is longer than the cells (the kernel's start)."""
    from cola_workshop.settings import load_settings

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for stage, source in (("01_first", "import time\ntime.sleep(0.3)"), ("02_second", "trainer = None  # trainer.train(")):
        cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}
        kernel = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
        (notebooks / f"{stage}.ipynb").write_text(json.dumps({"cells": [cell], "metadata": kernel, "nbformat": 4,
                                                              "nbformat_minor": 4}))
    settings = load_settings(environ={}, profile="tiny", outputs=str(tmp_path / "outputs"))
    runs = notebook_times.run_stages(settings, ["01_first", "02_second"], notebooks)
    assert [run["status"] for run in runs.values()] == ["ok", "ok"]
    first = notebook_times.notebook_times(settings.outputs / "executed" / "01_first.ipynb", runs["01_first"]["wall_s"])
    assert 0.3 <= first["cells_s"] < first["wall_s"] and first["train_s"] == 0
    second = notebook_times.notebook_times(settings.outputs / "executed" / "02_second.ipynb")
    assert second["cells"][0]["trains"]


def test_zero_shot_subset_spread_fits_thresholds_as_notebook_01_does(capsys):
    """Scores that separate the classes perfectly: every subset's threshold separates them too (validation MCC 1);
    scores that know nothing: the fitted thresholds wander and validation MCC stays near 0."""
    import numpy as np

    subset = _from_file("zero_shot_subset")
    rng = np.random.default_rng(0)
    labels = {"train": rng.integers(0, 2, 600), "validation": rng.integers(0, 2, 300)}
    separable = {split: y * 10.0 + rng.random(y.size) for split, y in labels.items()}
    subset.spread(separable, labels, [20, 100], draws=5)
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.split()[0] in ("20", "100")]
    assert [(float(row[4]), float(row[6])) for row in rows] == [(1.0, 1.0), (1.0, 1.0)]  # mean, lowest
    noise = {split: rng.random(y.size) for split, y in labels.items()}
    subset.spread(noise, labels, [20], draws=20)
    row = next(line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("    20"))
    assert abs(float(row[4])) < 0.1 and float(row[2]) > 0.05  # mean MCC near 0; the threshold's sd is wide


def test_zero_shot_subset_simulates_scores_of_the_roc_auc_asked():
    import numpy as np
    from sklearn.metrics import roc_auc_score

    subset = _from_file("zero_shot_subset")
    rng = np.random.default_rng(1)
    for auc in (0.5, 0.6, 0.7, 0.9):
        scores, labels = subset.simulated(auc, rng, sizes=(("train", 20000),))
        assert abs(roc_auc_score(labels["train"], scores["train"]) - auc) < 0.01
        assert abs(labels["train"].mean() - 0.704) < 0.01  # CoLA's share of acceptable sentences


@pytest.mark.slow
def test_kernel_choices_times_each_setting_and_batching_leaves_the_scores_alone(capsys):
    """The tiny profile's model on 40 sentences: every setting gets a time; the float32 scores do not depend on the
    batch size or the GELU's kernel and bf16's (timed only where the CPU has native bf16) stay close to them; both
    GELUs give the same loss; the export writes a model and each session level opens it."""
    import re

    kernel_choices = _from_file("kernel_choices")
    repo = BENCHMARKS.parent
    tiny = ["--model", str(repo / "data" / "tiny-gpt2"), "--data", str(repo / "data" / "cola_tiny")]
    assert kernel_choices.main([*tiny, "--sentences", "40", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    bf16 = kernel_choices.native_bf16()
    assert out.splitlines()[0] == train_speed.machine_line()
    assert ("no native bf16 on this CPU" in out) is not bf16
    speeds = re.findall(r"float32 (\d+)(?:, bfloat16 (\d+))?$", out, flags=re.M)
    assert len(speeds) == len(kernel_choices.SHAPES) and all(int(a) > 0 and bool(b) is bf16 for a, b in speeds)
    scoring = dict(re.findall(r"^  (\S.*?, batch \d+) +[\d.]+ s .* within ([\d.]+) of", out, flags=re.M))
    in_bf16 = ["bf16 autocast, batch 32", "bf16 weights, batch 32"]
    assert list(scoring) == ["float32, batch 32", "float32, batch 64", "float32, batch 128", "fused GELU, batch 32",
                             *(in_bf16 if bf16 else [])]
    same_arithmetic = ("float32, batch 64", "float32, batch 128", "fused GELU, batch 32")
    assert all(float(scoring[name]) < 1e-4 for name in same_arithmetic)
    assert all(0 < float(scoring[name]) < 0.1 for name in in_bf16 if bf16)
    step = r"^  (gelu_new|fused GELU) +[\d.]+ s a step +\(loss without dropout ([\d.]+)\)"
    losses = re.findall(step, out, flags=re.M)
    assert [name for name, _ in losses] == ["gelu_new", "fused GELU"]
    assert abs(float(losses[0][1]) - float(losses[1][1])) < 1e-4  # the same function, one kernel or several steps
    assert len(re.findall(r"export, constant folding (?:on |off) +[\d.]+ s +\((\d+) MB\)", out)) == 2
    assert len(re.findall(r"session, ORT_\w+ +[\d.]+ s", out)) == 3


def test_kernel_choices_refuses_nothing_to_time(capsys):
    kernel_choices = _from_file("kernel_choices")
    for bad in (["--sentences", "0"], ["--repeats", "0"]):
        with pytest.raises(SystemExit):
            kernel_choices.parse_args(bad)
        assert "must be at least 1" in capsys.readouterr().err
