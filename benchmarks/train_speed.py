"""How fast does the workshop's recipe train GPT-2 small on CoLA, against the batch-8 reference?

    .venv/bin/python benchmarks/train_speed.py                          # the recipe and the batch-8 reference
    .venv/bin/python benchmarks/train_speed.py --configs workshop,fp32,random_order,batch8,run_glue,tutorial
    .venv/bin/python benchmarks/train_speed.py --end-to-end             # the six notebooks, then the reference
    .venv/bin/python benchmarks/train_speed.py --end-to-end --reference none --notebooks OTHER/notebooks

The recipe is not re-typed here: every configuration is notebook 04's saved ``training_args.json`` with a few
fields changed, trained on the split and tokenizer notebook 03 saved. ``--outputs DIR`` names the outputs folder
of a run that got that far; without it the benchmark first runs notebooks 01-04 of the ``full`` profile into a
temporary folder (the real corpus, GPT-2 small's architecture with random weights: a step costs the same whatever
the weights). Each configuration trains in its own process (``recipe_run.py``), stopped past a memory cap.
Every speed is printed beside the CPU's name, whether it has native bf16, and the model FLOPs utilization (MFU)
against a matmul peak measured in the same run. ``--end-to-end`` times every cell of the notebooks
(``notebook_times.py``) and trains the reference beside notebook 05.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from recipe_run import CONFIGS  # beside this script (Python puts its folder first on the path)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_CORPUS = REPO_ROOT.parent / "shared" / "data" / "cola_public"
GIB = 1024**3
DEFAULT_CONFIGS = "workshop,batch8"
REFERENCE = "batch8"


# ---- the machine ---------------------------------------------------------------------------------------------


def cpu_name() -> str:
    """/proc/cpuinfo's model name on Linux, else what ``platform`` knows."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name") and ":" in line:
                return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_line() -> str:
    """The CPU, whether it has native bf16 and whether bf16 is faster there, and its cores: above every figure."""
    from cola_workshop.hardware import cpu_bf16_is_faster, cpu_supports_bf16

    bf16 = ("no native bf16 (fp32 only)" if not cpu_supports_bf16() else "native bf16, faster than fp32"
            if cpu_bf16_is_faster() else "native bf16 but not faster than fp32 (the recipe trains in fp32)")
    return f"{cpu_name()}, {bf16}, {os.cpu_count()} logical CPUs"


def matmul_peak(bf16: bool, size: int = 2048, seconds: float = 0.5) -> float:
    """FLOP/s of square matmuls in the recipe's precision now: the best of three loops of about ``seconds``."""
    import torch

    dtype = torch.bfloat16 if bf16 else torch.float32
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    start = time.perf_counter()
    a @ b
    loops = max(1, int(seconds / max(time.perf_counter() - start, 1e-6)))
    best = min(_timed(lambda: [a @ b for _ in range(loops)]) for _ in range(3))
    return 2 * size**3 * loops / best


def _timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def mfu(non_embedding_parameters: int, real_tokens_per_s: float, peak: float | None) -> float:
    """6 FLOPs per non-embedding parameter per real token (Kaplan et al. 2020) over the measured peak."""
    return 6 * non_embedding_parameters * real_tokens_per_s / peak if peak else float("nan")


# ---- the parent: children under a memory cap -----------------------------------------------------------------


def run_config(name: str, args: argparse.Namespace, whole: bool = False) -> dict:
    """One configuration in a child process; killed (and reported out of memory) past ``--mem-cap-gib``."""
    import psutil

    result_file = Path(tempfile.mkdtemp(prefix="train_speed_")) / "result.json"
    command = [sys.executable, str(Path(__file__).with_name("recipe_run.py")), name, "--result", str(result_file),
               "--outputs", str(args.outputs), "--model", args.model, "--steps", str(args.steps),
               "--warmup", str(args.warmup)]
    with open(result_file.with_name("log.txt"), "w") as log:  # a file: a pipe that fills up would block the child
        child = subprocess.Popen(command + (["--whole"] if whole else []), stdout=log, stderr=subprocess.STDOUT)
        peak, process = 0, psutil.Process(child.pid)
        while child.poll() is None:
            try:
                peak = max(peak, process.memory_info().rss)
            except psutil.Error:
                pass
            if peak > args.mem_cap_gib * GIB:
                child.kill()
                child.wait()
                shutil.rmtree(result_file.parent, ignore_errors=True)
                return {"config": name, "status": f"out of memory: stopped at {peak / GIB:.1f} GiB resident"}
            time.sleep(0.1)
    try:
        if child.returncode or not result_file.is_file():
            tail = result_file.with_name("log.txt").read_text(errors="replace")[-300:].strip()
            return {"config": name, "status": f"failed: {tail}"}
        return {**json.loads(result_file.read_text()), "status": "ok"}
    finally:
        shutil.rmtree(result_file.parent, ignore_errors=True)


def print_timed(results: list[dict], peak: float | None) -> None:
    """One row per configuration, the speed-up against the reference, and where the time and memory went."""
    reference = next((r for r in results if r["config"] == REFERENCE and r["status"] == "ok"), None)
    print(f"\n{'configuration':<14}{'batch/order/precision':<32}{'s/step':>7}{'samples/s':>10}{'vs batch 8':>11}"
          f"{'MFU':>7}{'padding':>9}{'peak RSS':>10}{'eval':>7}{'save':>7}{'epochs':>9}")
    for r in results:
        if r["status"] != "ok":
            print(f"{r['config']:<14}{r['status']}")
            continue
        speedup = f"{r['samples_per_s'] / reference['samples_per_s']:.2f}x" if reference else "n/a"
        epochs = r["epochs"] * (r["train_rows"] / r["samples_per_s"] + r["eval_s"] + r["save_s"])
        print(f"{r['config']:<14}{r['batch_size']:>3} / {r['sampling'][:15]:<15} / {r['precision'][:8]:<8}"
              f"{r['seconds_per_step']:>7.2f}{r['samples_per_s']:>10.1f}{speedup:>11}"
              f"{100 * mfu(r['non_embedding_parameters'], r['real_tokens_per_s'], peak):>6.1f}%"
              f"{r['padding_overhead']:>8.2f}x{r['peak_rss_gib']:>6.2f} GiB{r['eval_s']:>6.1f}s{r['save_s']:>6.1f}s"
              f"{epochs / 60:>6.1f} min")
    print("epochs: the recipe's epochs projected from the timed steps, with one evaluation and one save each; "
          "padding: computed / real tokens over one epoch of the configuration's sampler")


# ---- the end-to-end mode -------------------------------------------------------------------------------------


def run_through(args: argparse.Namespace, workdir: Path, stages) -> tuple:
    """The full profile's notebooks ``stages`` into ``args.outputs`` (or ``workdir``): (settings, runs)."""
    import notebook_times

    if args.notebooks:
        notebook_times.use_package_beside(args.notebooks)
    settings = notebook_times.full_settings(args, workdir)
    print(settings.describe() + "\n", flush=True)
    return settings, notebook_times.run_stages(settings, stages, args.notebooks or REPO_ROOT / "notebooks")


def print_comparison(sides: list[dict], peak: float | None, machine: str) -> None:
    """The workshop's training (notebook 05's log) beside the reference's, same epochs and samples."""
    rows = {
        "batch / order / precision": lambda s: f"{s['batch_size']} / {s['sampling']} / {s['precision']}",
        "epochs x training samples": lambda s: f"{s['epochs']:g} x {s['train_rows']}",
        "training time per epoch": lambda s: f"{s['training_s'] / s['epochs']:.1f} s",
        "training samples / s": lambda s: f"{s['samples_per_s']:.1f}",
        "real tokens / s": lambda s: f"{s['real_tokens_per_s']:.0f}",
        "MFU": lambda s: f"{100 * mfu(s['non_embedding_parameters'], s['real_tokens_per_s'], peak):.1f}%",
        "padding overhead": lambda s: f"{s['padding_overhead']:.2f}x",
        "peak memory": lambda s: "n/a" if s.get("peak_rss_gib") is None else f"{s['peak_rss_gib']:.2f} GiB",
        "validation MCC (last epoch)": lambda s: "n/a" if s.get("last_mcc") is None else f"{s['last_mcc']:.3f}",
    }
    print(f"\n== Training, the workshop and the reference, on {machine}")
    print(f"{'':<30}" + "".join(f"{side['config']:<38}" for side in sides))
    for label, cell in rows.items():
        print(f"{label:<30}" + "".join(f"{cell(side) if side['status'] == 'ok' else side['status'][:37]:<38}"
                                       for side in sides))
    if len(sides) == 2 and sides[1]["status"] == "ok":
        print(f"speed-up in training samples / s: {sides[0]['samples_per_s'] / sides[1]['samples_per_s']:.2f}x, "
              f"on {machine}")
    print("training time: train_runtime less the per-epoch evaluations (saves included), from each run's Trainer "
          "log; peak memory: notebook 05's kernel, the reference's process")


def end_to_end(args: argparse.Namespace) -> int:
    """The six notebooks (or ``--executed`` copies): their times outside training; then the reference."""
    import notebook_times
    from cola_workshop.artifacts import STAGES

    machine, runs, workdir = machine_line(), {}, Path(tempfile.mkdtemp(prefix="train_speed_"))
    what = f"the executed copies in {args.executed}" if args.executed else "the full profile's six notebooks"
    print(f"End to end: {what}, on {machine}", flush=True)
    try:
        if args.executed:
            executed = args.executed
        else:
            settings, runs = run_through(args, workdir, STAGES)
            executed = settings.outputs / "executed"
        wall = {stage: run["wall_s"] for stage, run in runs.items()}
        times = {stage: {**notebook_times.notebook_times(executed / f"{stage}.ipynb", wall.get(stage)),
                         **runs.get(stage, {})}
                 for stage in STAGES if (executed / f"{stage}.ipynb").is_file()}
        report = {"machine": machine, "notebooks": times,
                  "outside_training_s": notebook_times.print_times(times, machine, args.cell_threshold)}
        outputs = executed.parent
        if (outputs / "05_training" / "log_history.json").is_file():
            report["sides"] = training_sides(args, outputs, times)
            peak = matmul_peak(report["sides"][0]["precision"] != "fp32")
            print_comparison(report["sides"], peak, machine)
        if args.json:
            args.json.write_text(json.dumps(report, indent=1, default=str))
        return 0 if all(run["status"] == "ok" for run in runs.values()) else 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def training_sides(args: argparse.Namespace, outputs: Path, times: dict) -> list[dict]:
    """The workshop's training figures, and the reference's trained in a child on the same split and epochs."""
    import notebook_times

    workshop = notebook_times.workshop_training(outputs)
    workshop.update(notebook_times.throughput(workshop), peak_rss_gib=times["05_training"].get("peak_kernel_gib"))
    sides = [workshop]
    if args.reference != "none" and not args.executed:
        print(f"\ntraining the reference ({args.reference}) on the same split for the same epochs ...", flush=True)
        args.outputs = outputs
        reference = run_config(args.reference, args, whole=True)
        if reference["status"] == "ok":
            reference.update(notebook_times.throughput(reference))
        sides.append(reference)
    for side in sides:
        side.pop("log_history", None)
    return sides


# ---- the command line ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="train_speed.py", description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--configs", default=DEFAULT_CONFIGS, help=f"comma-separated, from {', '.join(CONFIGS)} (default "
        f"{DEFAULT_CONFIGS})")
    add("--steps", type=int, default=20, help="timed optimizer steps per configuration (default 20)")
    add("--warmup", type=int, default=2, help="untimed steps first, on the epoch's longest batch (default 2, "
        "at least 1)")
    add("--outputs", type=Path, help="a workshop run's outputs folder with notebooks 03 and 04's stages (default: "
        "run notebooks 01-04 of the full profile first, into a temporary folder; with --end-to-end, keep it here)")
    add("--model", default="random", help="'random' (GPT-2 small's architecture, random weights) or a checkpoint")
    add("--data", default=str(SHARED_CORPUS) if SHARED_CORPUS.is_dir() else "hub", help="the CoLA the notebooks read "
        "(default: ../shared/data/cola_public beside the checkout where it exists, else the hub)")
    add("--epochs", help="the workshop's epochs setting for the notebooks run here (default: the full profile's)")
    add("--max-train-samples", help="the workshop's setting of that name for the notebooks run here (default: all)")
    add("--mem-cap-gib", type=float, default=16.0, help="stop a configuration past this resident memory (default 16)")
    add("--end-to-end", action="store_true", help="run the six notebooks, time every cell, then the reference")
    add("--reference", default=REFERENCE, help="--end-to-end: the configuration trained beside it, or 'none'")
    add("--notebooks", type=Path, help="--end-to-end: execute these notebooks (e.g. an older checkout's; its "
        "cola_workshop beside them is what they import)")
    add("--executed", type=Path, help="--end-to-end: report on these executed copies (a run's outputs/executed) "
        "instead of running anything")
    add("--cell-threshold", type=float, default=1.0, help="--end-to-end: list cells of at least this many seconds")
    add("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    args.names = [name.strip() for name in args.configs.split(",") if name.strip()]
    unknown = sorted(set(args.names + ([args.reference] if args.reference != "none" else [])) - set(CONFIGS))
    if unknown:
        parser.error(f"unknown configuration(s) {unknown}: choose from {', '.join(CONFIGS)}")
    if args.steps < 1 or args.warmup < 1:
        parser.error("--steps and --warmup must be at least 1")
    if args.end_to_end and not args.executed and args.outputs and args.outputs.is_dir() and any(args.outputs.iterdir()):
        parser.error(f"--outputs {args.outputs} is not empty: give a new folder (its cached stages would be reused)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.end_to_end:
        return end_to_end(args)
    print(f"Training speed of the workshop's recipe, on {machine_line()}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="train_speed_"))
    try:
        if args.outputs is None or not (args.outputs / "04_training_args").is_dir():
            from cola_workshop.artifacts import STAGES

            settings, runs = run_through(args, workdir, STAGES[:4])
            if any(run["status"] != "ok" for run in runs.values()):
                return 1
            args.outputs = settings.outputs
        return timed(args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # only what this run made: a given --outputs is elsewhere


def timed(args: argparse.Namespace) -> int:
    """Each configuration in its own process, on the recipe in ``args.outputs``; the table; the JSON."""
    recipe = json.loads((args.outputs / "04_training_args" / "training_args.json").read_text())
    peak = matmul_peak(bool(recipe.get("bf16")))
    print(f"recipe: {args.outputs}/04_training_args/training_args.json; matmul peak {peak / 1e9:.0f} GFLOP/s "
          f"{'bf16' if recipe.get('bf16') else 'fp32'} (the MFU denominator, measured now)", flush=True)
    results = [run_config(name, args) for name in args.names]
    print_timed(results, peak)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine_line(), "peak": peak, "results": results}, indent=1))
    return 0 if all(r["status"] == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
