"""The command line of benchmarks/train_speed.py: parse it, then run the timed benchmark, the end-to-end mode,
or (internally) one child."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from .configs import CONFIGS, CONFIGS_BY_NAME, DEFAULT_CONFIGS, GIB, REFERENCE_CONFIG
from .sources import absolute_if_local, default_data, default_model, default_tokenizer


def _positive_int_or_all(text: str) -> str:
    if text.strip().lower() == "all" or (text.isdigit() and int(text) > 0):
        return text.strip().lower()
    raise argparse.ArgumentTypeError(f"expected a positive whole number or 'all', got {text!r}")


def _add_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--steps", type=int, default=20, help="timed optimizer steps per configuration (default 20)")
    add("--warmup-steps", type=int, default=2,
        help="untimed steps first: the longest batch of the epoch, then a median one (default 2)")
    add("--configs", default=",".join(DEFAULT_CONFIGS),
        help=f"comma-separated configurations (default {','.join(DEFAULT_CONFIGS)})")
    add("--end-to-end", action="store_true",
        help="run the full profile's six notebooks through the workshop's executor, then the reference "
        "configuration over the same epochs and samples, and compare them")
    add("--reference", default=REFERENCE_CONFIG,
        help=f"--end-to-end: the configuration to compare with, or 'none' (default {REFERENCE_CONFIG})")
    add("--epochs", type=float, default=None, help="epochs to train / project (default: the full profile's 3)")
    add("--max-train-samples", type=_positive_int_or_all, default=None,
        help="train on a seeded random subset of this many sentences, as the workshop's setting does (default all)")
    add("--outputs", default=None, help="--end-to-end: keep the notebooks' outputs in this new folder "
        "(default: a temporary folder, removed afterwards)")
    add("--model", default=None, help="'random' (GPT2Config() with random weights), a checkpoint folder or a hub id "
        "(default: 'random' with --end-to-end or where ../shared/data exists, else openai-community/gpt2)")
    add("--data", default=None, help="a CoLA/GLUE folder or 'hub' (default: ../shared/data/cola_public if present)")
    add("--tokenizer", default=None,
        help="tokenizer folder or hub id (default: GPT-2's for a random model, from ../shared/data if present; "
        "else the model's own)")
    add("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    add("--eval-batch-size", type=int, default=None,
        help="override the profile's eval_batch_size for the configurations that use it")
    add("--mem-cap-gib", type=float, default=16.0, help="stop a configuration whose resident memory exceeds this "
        "(default 16, at most 85%% of the memory available when the run starts)")
    add("--max-train-seconds", type=float, default=150.0,
        help="time budget for one configuration's timed steps: slow ones time fewer steps (min 3)")
    add("--config-timeout", type=float, default=None,
        help="kill a child after this many seconds (default 900 for timed runs, none for --end-to-end)")
    add("--wait-for-idle", type=float, default=0.0, metavar="SECONDS",
        help="before each configuration, wait up to this long for other processes to leave the CPU "
        "(below 15%% use over 3 s); for shared machines (default 0: do not wait)")
    add("--no-save", action="store_true", help="skip the per-epoch checkpoint save (not timed then)")
    add("--json", type=Path, default=None, help="also write all results to this JSON file")
    add("--list", action="store_true", help="describe the configurations and exit")
    add("--child", default=None, help=argparse.SUPPRESS)
    add("--child-mode", choices=("timed", "epochs"), default="timed", help=argparse.SUPPRESS)
    add("--result", type=Path, default=None, help=argparse.SUPPRESS)


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    names = [name.strip() for name in args.configs.split(",") if name.strip()]
    unknown = [name for name in names + ([args.reference] if args.reference != "none" else [])
               if name not in CONFIGS_BY_NAME]
    if unknown:
        parser.error(f"unknown configuration(s) {unknown}: choose from {sorted(CONFIGS_BY_NAME)}")
    if args.steps < 1 or args.warmup_steps < 0:
        parser.error("--steps must be >= 1 and --warmup-steps >= 0")
    if args.epochs is not None and not args.epochs > 0:
        parser.error("--epochs must be a positive number, e.g. 1")
    if args.outputs and Path(args.outputs).exists() and any(Path(args.outputs).iterdir()):
        parser.error(f"--outputs {args.outputs} is not empty: give a new folder (cached stages would be reused)")
    args.config_names = names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="train_speed.py",
        description="Time the workshop's GPT-2 + CoLA training recipe against the usual alternatives "
        "(one child process per configuration, under a memory cap), or with --end-to-end run the whole "
        "workshop and compare its training with a plain batch-8 Trainer.",
        epilog="configurations: " + ", ".join(f"{c.name}{'' if c.default else ' (extra)'}" for c in CONFIGS),
    )
    _add_options(parser)
    args = parser.parse_args(argv)
    _check(parser, args)
    args.model = absolute_if_local(args.model or default_model(args.end_to_end))
    args.data = absolute_if_local(args.data or default_data())
    args.tokenizer = absolute_if_local(args.tokenizer or default_tokenizer(args.model))
    if args.config_timeout is None and not args.end_to_end:
        args.config_timeout = 900.0
    return args


def print_plan(args: argparse.Namespace) -> None:
    if args.end_to_end:
        print("End to end: the workshop's six notebooks (full profile), then the reference over the same epochs")
    else:
        print("Training speed of the workshop recipe (GPT-2 small sequence classification on CoLA)")
    print(f"model {args.model}, data {args.data}, tokenizer {args.tokenizer or args.model}")


def run_timed(args: argparse.Namespace, cap_gib: float, peak: dict | None, cpu: str) -> int:
    """Each configuration in its own child, printed as it finishes, then the summary."""
    from .machine import wait_for_idle
    from .parent import run_config
    from .report import print_config, print_summary

    print(f"{args.warmup_steps} warm-up + {args.steps} timed optimizer steps per configuration "
          f"(fewer when {args.max_train_seconds:.0f} s would not suffice), then one evaluation"
          f"{'' if args.no_save else ' + checkpoint save'}", flush=True)
    results, workdir = [], Path(tempfile.mkdtemp(prefix="train_speed_"))
    try:
        for name in args.config_names:
            if args.wait_for_idle > 0:
                busy = wait_for_idle(args.wait_for_idle)
                if busy >= 0.15:
                    print(f"\n(the CPU is still {100 * busy:.0f}% busy with other processes: measuring anyway)")
            results.append(run_config(name, args, int(cap_gib * GIB), workdir))
            print_config(results[-1], args.warmup_steps, peak, cpu)
            sys.stdout.flush()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print_summary(results, peak, cpu)
    if args.json:
        args.json.write_text(json.dumps({"matmul_peak": peak, "results": results}, indent=2))
    return 0 if all(r["status"] in ("ok", "oom") for r in results) else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        from .child import child_main

        return child_main(args)
    if args.list:
        for config in CONFIGS:
            print(f"{config.name:<17}{'' if config.default else '(extra) '}{config.description}")
        return 0
    from .machine import machine_facts, measure_matmul_peak
    from .parent import memory_cap_gib
    from .report import print_machine

    facts = machine_facts()
    cap_gib = memory_cap_gib(args.mem_cap_gib, facts["available_bytes"])
    print_plan(args)
    peak = measure_matmul_peak(threads=args.threads)
    print_machine(facts, peak, cap_gib)
    sys.stdout.flush()
    if args.end_to_end:
        from .end_to_end import run_end_to_end

        return run_end_to_end(args, int(cap_gib * GIB), peak, facts)
    return run_timed(args, cap_gib, peak, facts["cpu"])
