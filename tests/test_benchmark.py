"""Tests for benchmarks/train_speed.py: its pure helpers (hand-computed values) and its command line.

The benchmark itself trains GPT-2 small for minutes; nothing here trains anything.
"""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "train_speed.py"


def load_script(name: str):
    """The script as a module (registered in sys.modules, as its dataclasses need), without running it."""
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


def test_chunk_cuts_like_a_dataloader(bench):
    assert bench.chunk([0, 1, 2, 3, 4, 5, 6], 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert bench.chunk([], 4) == []


def test_batch_tokens_dynamic_and_fixed_padding(bench):
    # Dynamic padding: 3 sequences padded to the longest (5): 15 computed for 3 + 5 + 2 = 10 real.
    assert bench.batch_tokens([3, 5, 2]) == (10, 15)
    # Fixed padding to 8: 3 x 8 = 24 computed.
    assert bench.batch_tokens([3, 5, 2], pad_to=8) == (10, 24)
    assert bench.batch_tokens([]) == (0, 0)


def test_padding_overhead_over_batches(bench):
    # [3, 5, 2] -> 10 real, 15 computed; [4, 4] -> 8 real, 8 computed: 18 real, 23 computed.
    real, computed, ratio = bench.padding_overhead([[3, 5, 2], [4, 4]])
    assert (real, computed) == (18, 23)
    assert ratio == pytest.approx(23 / 18)
    # Padding two sentences of 10 and 6 tokens to 128: 256 computed for 16 real, 16x.
    assert bench.padding_overhead([[10, 6]], pad_to=128) == (16, 256, 16.0)
    # No padding needed: overhead exactly 1.
    assert bench.padding_overhead([[7, 7], [3]])[2] == 1.0
    assert math.isnan(bench.padding_overhead([])[2])


def test_pick_representative_spreads_over_the_cost_distribution(bench):
    # Costs 0..8 in a scrambled order; 3 picks take the middle of each third: costs 1, 4 and 7.
    costs = [8, 0, 4, 6, 1, 7, 2, 5, 3]
    picked = bench.pick_representative(costs, 3)
    assert picked == sorted(picked)  # original (epoch) order
    assert sorted(costs[i] for i in picked) == [1, 4, 7]
    assert sum(costs[i] for i in picked) / 3 == sum(costs) / len(costs)
    # Sorted descending like a length-grouped mega-batch: the first 3 would average 7, the pick 4.
    assert [costs_i for costs_i in (sorted(costs, reverse=True)[i] for i in
            bench.pick_representative(sorted(costs, reverse=True), 3))] == [7, 4, 1]
    assert bench.pick_representative([5, 1], 4) == [0, 1]


def test_projected_seconds(bench):
    # 3 epochs of 8551 sentences at 40 samples/s (213.775 s each) + 7.5 s eval + 3 s save per epoch.
    assert bench.projected_seconds(3, 8551, 40.0, eval_s=7.5, save_s=3.0) == pytest.approx(672.825)
    assert bench.projected_seconds(1, 100, 10.0) == pytest.approx(10.0)
    # The goal's arithmetic: 3 x 8551 sentences in 12 minutes need 35.6 samples/s.
    assert bench.projected_seconds(3, 8551, 3 * 8551 / 720) == pytest.approx(720.0)


def test_goal_verdicts_and_formatting(bench):
    assert bench.goal_verdict(11.9, 12) == "PASS"
    assert bench.goal_verdict(12.1, 12) == "MISS"
    assert bench.goal_verdict(40.0, 36, higher_is_better=True) == "PASS"
    assert bench.goal_verdict(None, 12) == "n/a"
    assert bench.format_duration(30) == "30.0 s"
    assert bench.format_duration(90) == "1.5 min"
    assert bench.format_duration(7200) == "2.0 h"
    assert bench.format_duration(None) == "n/a"


def test_others_cpu_share(bench):
    # 2 CPUs for 1 s = 2 CPU-seconds; the machine was busy 3 s of which 2 s were ours: others used 50%.
    assert bench.others_cpu_share(3.0, 2.0, 1.0, 2) == pytest.approx(0.5)
    assert bench.others_cpu_share(1.0, 1.5, 1.0, 2) == 0.0
    assert math.isnan(bench.others_cpu_share(1.0, 1.0, 0.0, 2))


def test_configurations(bench):
    configs = bench.CONFIGS_BY_NAME
    assert {"workshop", "workshop_fp32", "random_b32", "run_glue", "tutorial"} <= set(bench.DEFAULT_CONFIGS)
    assert configs["tutorial"].pad_to == "model" and configs["tutorial"].batch_size == 8
    assert configs["run_glue"].pad_to == 128 and configs["run_glue"].batch_size == 8
    assert configs["workshop"].pad_to is None and configs["workshop"].precision == "profile"
    assert not configs["workshop_compile"].default


def test_parse_args(bench):
    args = bench.parse_args(["--configs", "workshop,tutorial", "--steps", "5"])
    assert args.config_names == ["workshop", "tutorial"] and args.steps == 5
    with pytest.raises(SystemExit):
        bench.parse_args(["--configs", "nonsense"])


def test_help_runs():
    done = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--steps" in done.stdout and "--configs" in done.stdout
