"""Tests for benchmarks/train_speed.py and its ``speed`` package: pure helpers with hand-computed values, the
command line, and the bookkeeping of the end-to-end mode.

The benchmark itself trains GPT-2 small for minutes; nothing here trains anything. Two tests start real
machinery briefly: a tiny matmul loop, and the workshop's executor on two one-cell notebooks.
"""

from __future__ import annotations

import importlib.util
import io
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
SCRIPT = BENCHMARKS / "train_speed.py"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

from speed import configs, e2e_report, flops, machine, parent, statistics, training, workshop_logs  # noqa: E402
from speed.child import timed_facts  # noqa: E402


def load_script(name: str):
    """The script as a module (registered in sys.modules), without running it."""
    spec = importlib.util.spec_from_file_location(name, SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)  # runs nothing: main() only runs as a script
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


@pytest.fixture(scope="module")
def bench():
    yield load_script("train_speed")
    sys.modules.pop("train_speed", None)


def test_import_runs_nothing(capsys):
    load_script("train_speed_quiet")
    sys.modules.pop("train_speed_quiet", None)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_importing_the_package_loads_neither_torch_nor_transformers():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import train_speed; "
            "import speed.child, speed.end_to_end, speed.e2e_report, speed.report, speed.training; "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, str(BENCHMARKS)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_modules_and_functions_stay_small():
    import ast

    for path in sorted(BENCHMARKS.rglob("*.py")):
        text = path.read_text()
        assert len(text.splitlines()) <= 400, f"{path.name} has more than 400 lines"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno < 60, f"{path.name}: {node.name} is over 60 lines"


# ---- padding and timing arithmetic --------------------------------------------------------------------------


def test_chunk_cuts_like_a_dataloader():
    assert statistics.chunk([0, 1, 2, 3, 4, 5, 6], 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert statistics.chunk([], 4) == []


def test_batch_tokens_dynamic_and_fixed_padding():
    # Dynamic padding: 3 sequences padded to the longest (5): 15 computed for 3 + 5 + 2 = 10 real.
    assert statistics.batch_tokens([3, 5, 2]) == (10, 15)
    # Fixed padding to 8: 3 x 8 = 24 computed.
    assert statistics.batch_tokens([3, 5, 2], pad_to=8) == (10, 24)
    assert statistics.batch_tokens([]) == (0, 0)


def test_padding_overhead_over_batches():
    # [3, 5, 2] -> 10 real, 15 computed; [4, 4] -> 8 real, 8 computed: 18 real, 23 computed.
    real, computed, ratio = statistics.padding_overhead([[3, 5, 2], [4, 4]])
    assert (real, computed) == (18, 23)
    assert ratio == pytest.approx(23 / 18)
    # Padding two sentences of 10 and 6 tokens to 128: 256 computed for 16 real, 16x.
    assert statistics.padding_overhead([[10, 6]], pad_to=128) == (16, 256, 16.0)
    # No padding needed: overhead exactly 1.
    assert statistics.padding_overhead([[7, 7], [3]])[2] == 1.0
    assert math.isnan(statistics.padding_overhead([])[2])


def test_epoch_padding_in_the_samplers_order():
    # One batch of all three: padded to 6 whatever the order, 18 computed for 12 real.
    for strategy in ("group_by_length", "random"):
        assert statistics.epoch_padding([2, 4, 6], 3, strategy, seed=1) == (12, 18, 1.5)
        order = statistics.sampler_epoch([5, 1, 3, 2, 4, 6, 1, 2], 2, strategy, seed=3)
        assert sorted(order) == list(range(8))  # an epoch: every sample once
    # Equal lengths never need padding, in any order.
    assert statistics.epoch_padding([7] * 10, 4, "group_by_length", seed=0) == (70, 70, 1.0)


def test_pick_representative_spreads_over_the_cost_distribution():
    # Costs 0..8 in a scrambled order; 3 picks take the middle of each third: costs 1, 4 and 7.
    costs = [8, 0, 4, 6, 1, 7, 2, 5, 3]
    picked = statistics.pick_representative(costs, 3)
    assert picked == sorted(picked)  # original (epoch) order
    assert sorted(costs[i] for i in picked) == [1, 4, 7]
    assert sum(costs[i] for i in picked) / 3 == sum(costs) / len(costs)
    # Sorted descending like a length-grouped mega-batch: the first 3 would average 7, the pick 4.
    descending = sorted(costs, reverse=True)
    assert [descending[i] for i in statistics.pick_representative(descending, 3)] == [7, 4, 1]
    assert statistics.pick_representative([5, 1], 4) == [0, 1]


def test_plan_batches_warms_up_on_the_longest_batch_then_times_representative_ones():
    # Six samples in batches of 2: lengths per batch (1, 1), (9, 9), (4, 4) -> costs 2, 18, 8 tokens.
    lengths = [1, 1, 9, 9, 4, 4]
    order, facts = training.plan_batches([0, 1, 2, 3, 4, 5], lengths, 2, None, warmup_steps=1, steps=2)
    assert order == [2, 3, 0, 1, 4, 5]  # the longest batch first, then the rest in epoch order
    assert facts["longest_batch_tokens"] == 18 and facts["epoch_batches"] == 3
    assert (facts["epoch_real_tokens"], facts["epoch_computed_tokens"], facts["epoch_overhead"]) == (28, 28, 1.0)


def test_projected_seconds():
    # 3 epochs of 8551 sentences at 40 samples/s (213.775 s each) + 7.5 s eval + 3 s save per epoch.
    assert statistics.projected_seconds(3, 8551, 40.0, eval_s=7.5, save_s=3.0) == pytest.approx(672.825)
    assert statistics.projected_seconds(1, 100, 10.0) == pytest.approx(10.0)
    # The goal's arithmetic: 3 x 8551 sentences in 12 minutes need 35.6 samples/s.
    assert statistics.projected_seconds(3, 8551, 3 * 8551 / 720) == pytest.approx(720.0)


def test_goal_verdicts_and_formatting():
    assert statistics.goal_verdict(11.9, 12) == "PASS"
    assert statistics.goal_verdict(12.1, 12) == "MISS"
    assert statistics.goal_verdict(40.0, 36, higher_is_better=True) == "PASS"
    assert statistics.goal_verdict(None, 12) == "n/a"
    assert statistics.format_duration(30) == "30.0 s"
    assert statistics.format_duration(90) == "1.5 min"
    assert statistics.format_duration(7200) == "2.0 h"
    assert statistics.format_duration(None) == "n/a"


def test_others_cpu_share():
    # 2 CPUs for 1 s = 2 CPU-seconds; the machine was busy 3 s of which 2 s were ours: others used 50%.
    assert statistics.others_cpu_share(3.0, 2.0, 1.0, 2) == pytest.approx(0.5)
    assert statistics.others_cpu_share(1.0, 1.5, 1.0, 2) == 0.0
    assert math.isnan(statistics.others_cpu_share(1.0, 1.0, 0.0, 2))


def test_timed_facts_from_the_clock_and_the_collator():
    # 1 warm-up step ending at t=12, timed steps ending at 13 and 15; the collator saw a warm-up batch, then
    # batches of (real, computed, rows) = (30, 40, 4) and (50, 60, 4), then an evaluation batch.
    marks = {"train_begin": 10.0, "step_end": [12.0, 13.0, 15.0], "timed_begin": (12.0, 100.0, 50.0),
             "timed_end": (15.0, 106.0, 52.0)}
    facts = timed_facts(marks, [(99, 99, 4), (30, 40, 4), (50, 60, 4), (7, 7, 1)], warmup_steps=1)
    assert facts["first_step_s"] == 2.0 and facts["step_times"] == [1.0, 2.0] and facts["timed_seconds"] == 3.0
    assert facts["samples_per_s"] == pytest.approx(8 / 3)
    assert facts["real_tokens_per_s"] == pytest.approx(80 / 3)
    assert (facts["timed_real_tokens"], facts["timed_computed_tokens"]) == (80, 100)
    assert facts["timed_overhead"] == pytest.approx(1.25)


# ---- model FLOPs utilization -----------------------------------------------------------------------------


def test_mfu_arithmetic():
    # 6 x 85M non-embedding parameters x 1,000 real tokens/s = 5.1e11 FLOP/s; against a 1e12 peak: 51%.
    assert flops.model_flops_per_s(85_000_000, 1000.0) == pytest.approx(5.1e11)
    assert flops.mfu(5.1e11, 1e12) == pytest.approx(0.51)
    assert flops.training_mfu(85_000_000, 1000.0, 1e12) == pytest.approx(0.51)
    # GPT-2 small (85,057,536 non-embedding parameters with CoLA's head) at 2,000 tokens/s on a 2-TFLOP/s GPU.
    assert flops.training_mfu(85_057_536, 2000.0, 2e12) == pytest.approx(6 * 85_057_536 * 2000 / 2e12)
    assert flops.matmul_flops(2048) == 17_179_869_184  # 2 x 2048^3
    assert flops.matmul_flops(2048, iterations=10) == 171_798_691_840
    assert math.isnan(flops.mfu(1e9, 0)) and math.isnan(flops.mfu(None, 1e12))
    assert math.isnan(flops.training_mfu(None, 1000.0, 1e12))
    assert flops.format_mfu(0.51) == "51.0%" and flops.format_mfu(float("nan")) == "n/a"
    assert flops.format_flops(2.5e12) == "2.50 TFLOP/s" and flops.format_flops(3.4e10) == "34.0 GFLOP/s"


def test_non_embedding_parameters_by_hand(tmp_path):
    from transformers import GPT2Config, GPT2ForSequenceClassification, GPT2LMHeadModel

    tiny = dict(n_layer=2, n_embd=8, n_head=2, vocab_size=50, n_positions=16, bos_token_id=0, eos_token_id=0)
    # Per block 12 d^2 + 13 d = 768 + 104 = 872 (attention 4 d^2 + 4 d, MLP 8 d^2 + 5 d, two layer norms 4 d);
    # 2 blocks + the final layer norm (2 d = 16) + the 2-label head (d x 2 = 16): 1,776. Embeddings
    # (50 x 8 tokens + 16 x 8 positions = 528) are left out.
    model = GPT2ForSequenceClassification(GPT2Config(**tiny, num_labels=2))
    assert sum(p.numel() for p in model.parameters()) == 1776 + 528
    assert flops.non_embedding_parameters(model) == 1776
    GPT2LMHeadModel(GPT2Config(**tiny)).save_pretrained(tmp_path)
    assert flops.checkpoint_non_embedding_parameters(str(tmp_path)) == 1776
    # GPT-2 small: 12 x (12 x 768^2 + 13 x 768) + 2 x 768 + 768 x 2 = 85,057,536 (built on the meta device).
    import torch

    with torch.device("meta"):
        small = GPT2ForSequenceClassification(GPT2Config(num_labels=2))
    assert flops.non_embedding_parameters(small) == 85_057_536


def test_matmul_peak_measures_something_positive():
    peak = machine.measure_matmul_peak(size=64, target_s=0.01, repeats=1)
    assert peak["flops_per_s"] > 0 and peak["iterations"] >= 1 and peak["size"] == 64
    assert peak["dtype"] in ("bf16", "fp16", "fp32")


def test_cpu_model_name():
    cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC  7B13 64-Core Processor\n"
    assert machine.cpu_model_name(cpuinfo) == "AMD EPYC 7B13 64-Core Processor"
    assert machine.cpu_model_name("processor\t: 0\n")  # falls back to platform, never empty
    assert machine.device_label("AMD EPYC") == "on AMD EPYC"
    assert machine.device_label("AMD EPYC", "NVIDIA H100") == "on NVIDIA H100 (host AMD EPYC)"


# ---- the end-to-end mode's bookkeeping -----------------------------------------------------------------------


def fake_log_history() -> list[dict]:
    """A Trainer log of 3 epochs of 10 steps: loss logs, an evaluation per epoch, the summary, and the final
    trainer.evaluate() of notebook 05 (after training: not part of it)."""
    log = []
    for epoch, eval_s, mcc in ((1, 2.0, 0.1), (2, 3.0, 0.2), (3, 4.0, 0.3)):
        log.append({"loss": 0.6, "epoch": epoch - 0.5, "step": 10 * epoch - 5})
        log.append({"eval_loss": 0.5, "eval_matthews_correlation": mcc, "eval_runtime": eval_s,
                    "epoch": float(epoch), "step": 10 * epoch})
    log.append({"train_runtime": 99.0, "train_samples_per_second": 9.7, "epoch": 3.0, "step": 30})
    log.append({"eval_loss": 0.5, "eval_matthews_correlation": 0.3, "eval_runtime": 50.0, "epoch": 3.0, "step": 30})
    return log


def test_training_epochs_from_a_log_history():
    epochs = workshop_logs.training_epochs(fake_log_history())
    # 99 s of train_runtime less 2 + 3 + 4 s of evaluation = 90 s of training, 30 s per 10-step epoch.
    assert epochs["eval_s"] == 9.0 and epochs["training_s"] == 90.0 and epochs["training_s_per_epoch"] == 30.0
    assert epochs["epochs"] == 3.0 and epochs["steps"] == 30
    assert [e["eval_s"] for e in epochs["per_epoch"]] == [2.0, 3.0, 4.0]
    assert [e["train_s"] for e in epochs["per_epoch"]] == [30.0, 30.0, 30.0]
    assert [e["mcc"] for e in epochs["per_epoch"]] == [0.1, 0.2, 0.3]


def test_training_epochs_shares_time_by_steps_and_needs_a_finished_run():
    # 1.5 epochs of 4 steps an epoch: an evaluation after step 4, training stops at step 6 and evaluates.
    log = [{"eval_runtime": 1.0, "epoch": 1.0, "step": 4}, {"eval_runtime": 1.0, "epoch": 1.5, "step": 6},
           {"train_runtime": 14.0, "epoch": 1.5, "step": 6}]
    epochs = workshop_logs.training_epochs(log)
    assert [e["train_s"] for e in epochs["per_epoch"]] == [8.0, 4.0]  # 12 s over 6 steps: 4 and 2 of them
    assert epochs["training_s_per_epoch"] == 8.0  # 12 s / 1.5 epochs
    with pytest.raises(ValueError, match="rerun notebook 05"):
        workshop_logs.training_epochs(fake_log_history()[:-2])


def test_training_throughput():
    # 3 epochs of 200 sentences (2,000 real tokens each) in 60 s of training: 10 samples/s, 100 tokens/s.
    assert workshop_logs.training_throughput(60.0, 3, 200, 2000) == {"samples_per_s": 10.0, "real_tokens_per_s": 100.0}
    assert math.isnan(workshop_logs.training_throughput(0.0, 3, 200, 2000)["samples_per_s"])


def test_notebook_events_and_timer():
    assert workshop_logs.notebook_event("[2/6] 02_exploration: running notebooks/02_exploration.ipynb") == (
        "02_exploration", "start")
    assert workshop_logs.notebook_event("[2/6] 02_exploration: done in 4.1 s\n") == ("02_exploration", "done")
    assert workshop_logs.notebook_event("[6/6] 06_usage: failed after 1 min 02 s") == ("06_usage", "failed")
    assert workshop_logs.notebook_event("  cell 3/12: import torch") is None
    ticks = iter([10.0, 14.5, 20.0, 21.0])
    forward = io.StringIO()
    timer = workshop_logs.NotebookTimer(forward=forward, clock=lambda: next(ticks))
    timer.write("[1/2] 01_goal: running notebooks/01_goal.ipynb\n  cell 1/3: x = 1\n[1/2] 01_go")
    timer.write("al: done in 4.5 s\n[2/2] 06_usage: running notebooks/06_usage.ipynb\n")
    assert timer.wall_seconds() == {"01_goal": 4.5}  # 06 has not finished yet
    timer.write("[2/2] 06_usage: failed after 1.0 s\n")
    assert timer.wall_seconds() == {"01_goal": 4.5, "06_usage": 1.0}
    assert timer.timings["06_usage"]["status"] == "failed" and timer.timings["01_goal"]["status"] == "done"
    assert "cell 1/3" not in forward.getvalue() and "01_goal: done in 4.5 s" in forward.getvalue()
    assert not timer.isatty()


def test_peak_between():
    samples = [(1.0, 5), (2.0, 9), (3.0, 7), (4.0, 12)]
    assert workshop_logs.peak_between(samples, 1.5, 3.0) == 9
    assert workshop_logs.peak_between(samples, 2.5, None) == 12
    assert workshop_logs.peak_between(samples, 5.0, 6.0) is None


def test_notebook_timer_reads_the_real_executors_progress(tmp_path):
    """The timer's pattern matches what cola_workshop.tools.execution.run_notebooks prints (two one-cell notebooks)."""
    import nbformat

    from cola_workshop.tools.execution import run_notebooks
    from cola_workshop.settings import load_settings

    for stage in ("01_goal", "02_exploration"):
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]),
                       str(tmp_path / f"{stage}.ipynb"))
    settings = load_settings(environ={}, profile="tiny", outputs=str(tmp_path / "outputs"))
    timer = workshop_logs.NotebookTimer(forward=io.StringIO())
    assert run_notebooks(settings, ["01_goal", "02_exploration"], tmp_path, out=timer, err=io.StringIO()) == 0
    seconds = timer.wall_seconds()
    assert list(seconds) == ["01_goal", "02_exploration"] and all(value > 0 for value in seconds.values())
    assert timer.timings["02_exploration"]["start"] >= timer.timings["01_goal"]["end"]


def test_comparison_report_shows_mfu_and_the_machine(capsys):
    side = {"batch_size": 32, "sampling": "group_by_length", "precision": "fp32", "epochs": 3.0, "train_rows": 200,
            "training_s_per_epoch": 30.0, "per_epoch": [{"eval_s": 2.0}], "train_runtime_s": 99.0,
            "samples_per_s": 20.0, "real_tokens_per_s": 1000.0, "non_embedding_parameters": 1_000_000,
            "padding_overhead": 1.05, "padding_note": "one epoch", "final_mcc": 0.25, "name": "workshop",
            "peak_rss_gib": 1.5}
    reference = {**side, "name": "trainer_b8 (reference)", "samples_per_s": 5.0, "real_tokens_per_s": 250.0}
    # 6 x 1M parameters x 1,000 tokens/s = 6 GFLOP/s; against a 60 GFLOP/s peak: 10%; the reference 2.5%.
    e2e_report.print_comparison(side, reference, {"flops_per_s": 6e10, "dtype": "fp32"}, "AMD EPYC 7B13")
    out = capsys.readouterr().out
    mfu_row = next(line for line in out.splitlines() if line.split()[:1] == ["MFU"] and "against" not in line)
    assert "10.0%" in mfu_row and "2.5%" in mfu_row
    assert "on AMD EPYC 7B13" in out and "speed-up in training samples / s: 4.0x" in out


def test_goals_report_measures_time_outside_training_and_the_speed_up(capsys):
    workshop = {"train_runtime_s": 100.0, "samples_per_s": 50.0}
    # 150 s of notebooks, 100 s of it in trainer.train(): 50 s outside training, within the 90 s goal;
    # 50 / 12.5 samples/s: 4.0x, short of the 5x goal.
    goals = e2e_report.print_goals(150.0, workshop, {"samples_per_s": 12.5}, "Intel Xeon", "NVIDIA H200")
    assert goals == {"outside_training_s": 50.0, "speedup": 4.0}
    out = capsys.readouterr().out
    assert "on NVIDIA H200 (host Intel Xeon)" in out
    assert "50.0 s (goal <= 1.5 min): met" in out and "4.0x (goal >= 5x): NOT met" in out
    # A failed reference gives no speed-up, only the time outside training.
    goals = e2e_report.print_goals(180.0, workshop, {"status": "oom"}, "AMD EPYC")
    out = capsys.readouterr().out
    assert goals == {"outside_training_s": 80.0}
    assert "against the reference: not measured" in out and "NOT met" not in out


# ---- configurations and the command line ---------------------------------------------------------------------


def test_configurations():
    by_name = configs.CONFIGS_BY_NAME
    assert {"workshop", "workshop_fp32", "random_b32", "run_glue", "tutorial"} <= set(configs.DEFAULT_CONFIGS)
    assert by_name["tutorial"].pad_to == "model" and by_name["tutorial"].batch_size == 8
    assert by_name["run_glue"].pad_to == 128 and by_name["run_glue"].batch_size == 8
    assert by_name["workshop"].pad_to is None and by_name["workshop"].precision == "profile"
    assert not by_name["workshop_compile"].default
    reference = by_name[configs.REFERENCE_CONFIG]
    assert (reference.batch_size, reference.pad_to, reference.sampling, reference.precision) == (8, None, "random", "fp32")
    assert not reference.default  # the plain timed run and its README table stay as they were


def test_parse_args(bench, tmp_path):
    args = bench.parse_args(["--configs", "workshop,tutorial", "--steps", "5"])
    assert args.config_names == ["workshop", "tutorial"] and args.steps == 5 and args.config_timeout == 900.0
    assert not args.end_to_end
    e2e = bench.parse_args(["--end-to-end", "--epochs", "1", "--max-train-samples", "64"])
    assert e2e.model == "random" and e2e.tokenizer and e2e.config_timeout is None
    assert (e2e.epochs, e2e.max_train_samples, e2e.reference) == (1.0, "64", configs.REFERENCE_CONFIG)
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "01_goal").mkdir()
    for wrong in (["--configs", "nonsense"], ["--end-to-end", "--reference", "nonsense"], ["--epochs", "0"],
                  ["--max-train-samples", "-3"], ["--end-to-end", "--outputs", str(tmp_path / "used")]):
        with pytest.raises(SystemExit):
            bench.parse_args(wrong)


def test_child_command_passes_the_run_on(bench, tmp_path):
    args = bench.parse_args(["--end-to-end", "--epochs", "2", "--max-train-samples", "100", "--model", str(ROOT / "data" / "tiny-gpt2")])
    command = parent.child_command("trainer_b8", args, tmp_path / "r.json", mode="epochs")
    assert command[1] == str(SCRIPT)
    joined = " ".join(command)
    assert "--child trainer_b8" in joined and "--child-mode epochs" in joined
    assert "--epochs 2.0" in joined and "--max-train-samples 100" in joined and "--tokenizer" not in joined
    child_args = bench.parse_args(command[2:])  # the child parses what the parent wrote
    assert child_args.child == "trainer_b8" and child_args.child_mode == "epochs" and child_args.epochs == 2.0


def test_help_runs():
    done = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--steps" in done.stdout and "--configs" in done.stdout and "--end-to-end" in done.stdout


def test_list_names_every_configuration():
    done = subprocess.run([sys.executable, str(SCRIPT), "--list"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert all(config.name in done.stdout for config in configs.CONFIGS)
