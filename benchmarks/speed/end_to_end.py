"""The end-to-end mode: the six notebooks run for real through the workshop's executor, then the reference.

``cola_workshop.tools.execution.run_notebooks`` (what ``cola-workshop run`` calls) executes the full profile's six
notebooks on a GPT-2-small-sized model (``GPT2Config()``, random weights, saved with GPT-2's real tokenizer)
and the real CoLA corpus, into a temporary outputs folder. Per notebook it records the wall time and the
kernel's peak resident memory; from notebook 05's saved log it reads training time per epoch, samples and
real tokens per second, and MFU; then it trains the reference configuration (batch 8, dynamic padding, plain
Trainer) in a child process over the same epochs and samples, and prints the two side by side.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from .configs import GIB
from .flops import checkpoint_non_embedding_parameters
from .machine import tree_rss
from .parent import run_config
from .statistics import epoch_padding
from .workshop_logs import NotebookTimer, peak_between, training_epochs, training_throughput


def prepare_model(args: argparse.Namespace, folder: Path) -> str:
    """The model the notebooks load: for 'random', GPT2Config() with seeded random weights saved with GPT-2's
    tokenizer into ``folder`` (notebooks 01 and 03 read the tokenizer from the model folder); else as given."""
    if args.model != "random":
        return args.model
    from transformers import GPT2Config, GPT2LMHeadModel, set_seed

    from cola_workshop.models import load_tokenizer

    tokenizer = load_tokenizer(args.tokenizer, pad=False)  # saved as GPT-2 ships: no padding token
    config = GPT2Config()
    tokenizer.model_max_length = config.n_positions  # the bare vocab/merges files carry no limit; the hub's does
    set_seed(0)
    model = GPT2LMHeadModel(config)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    del model
    return str(folder)


class MemorySampler(threading.Thread):
    """Samples, every ``interval`` seconds, the resident memory of this process's children (the notebook
    kernels) and, where a CUDA GPU is in use, the memory in use on the whole device."""

    def __init__(self, interval: float = 0.25):
        super().__init__(daemon=True)
        self.interval, self.rss, self.gpu = interval, [], []
        self._halt = threading.Event()

    def run(self) -> None:
        import psutil

        me, gpu_used = psutil.Process(), _gpu_used_bytes_function()
        while not self._halt.is_set():
            now = time.perf_counter()
            self.rss.append((now, tree_rss(me, include_self=False)))
            if gpu_used is not None:
                self.gpu.append((now, gpu_used()))
            self._halt.wait(self.interval)

    def halt(self) -> None:
        self._halt.set()
        self.join()


def _gpu_used_bytes_function():
    if "torch" not in sys.modules:
        return None
    import torch

    if not torch.cuda.is_available():
        return None

    def used() -> int:
        free, total = torch.cuda.mem_get_info()
        return total - free

    return used


def run_workshop(settings, out=None) -> tuple[int, dict]:
    """All six notebooks through run_notebooks; (exit code, per notebook: wall s, peak kernel RSS, GPU use)."""
    from cola_workshop.artifacts import STAGES
    from cola_workshop.tools.cli import check_sources
    from cola_workshop.tools.execution import run_notebooks

    check_sources(settings)
    timer, sampler = NotebookTimer(forward=out or sys.stdout), MemorySampler()
    sampler.start()
    try:
        code = run_notebooks(settings, STAGES, out=timer)
    finally:
        sampler.halt()
    notebooks = {}
    for stage, timing in timer.timings.items():
        rss = peak_between(sampler.rss, timing["start"], timing["end"])
        gpu = peak_between(sampler.gpu, timing["start"], timing["end"]) if sampler.gpu else None
        notebooks[stage] = {"status": timing["status"], "wall_s": timer.wall_seconds().get(stage),
                            "peak_kernel_rss_gib": rss / GIB if rss else None,
                            "peak_gpu_in_use_gib": gpu / GIB if gpu else None}
    return code, notebooks


def workshop_figures(settings) -> dict:
    """Training figures of notebook 05, from what notebooks 03-05 saved in the outputs folder."""
    from datasets import load_from_disk

    from cola_workshop.artifacts import load_stage, read_json

    training = load_stage(settings, "05_training")
    metrics = read_json(training / "train_metrics.json")
    epochs = training_epochs(read_json(training / "log_history.json"))
    args = json.loads((load_stage(settings, "04_training_args") / "training_args.json").read_text())
    train = load_from_disk(str(load_stage(settings, "03_preprocessing") / "tokenized"))["train"]
    lengths = [len(ids) for ids in train["input_ids"]]
    batch, strategy = args["per_device_train_batch_size"], args["train_sampling_strategy"]
    overhead = epoch_padding(lengths, batch, strategy, args["seed"])[2]
    precision = "bf16 autocast" if args.get("bf16") else "fp16 autocast" if args.get("fp16") else "fp32"
    return {
        "name": "workshop (notebook 05)", "batch_size": batch, "sampling": strategy, "precision": precision,
        "train_rows": len(lengths), "real_tokens_per_epoch": sum(lengths), "padding_overhead": overhead,
        "padding_note": "one epoch of the recipe's sampler, seeded", "resumed_from_step": metrics.get("resumed_from_step", 0),
        "non_embedding_parameters": checkpoint_non_embedding_parameters(str(training / "model")),
        "final_mcc": read_json(training / "eval_metrics.json").get("matthews_correlation"),
        **epochs, **training_throughput(epochs["training_s"], epochs["epochs"], len(lengths), sum(lengths)),
    }


def reference_figures(args: argparse.Namespace, model: str, cap_bytes: int, workdir: Path) -> dict:
    """The reference configuration trained for the same epochs and samples in a child under the memory cap."""
    child_args = argparse.Namespace(**{**vars(args), "model": model, "tokenizer": None})
    result = run_config(args.reference, child_args, cap_bytes, workdir, mode="epochs")
    if result["status"] != "ok":
        return result
    epochs = training_epochs(result.pop("log_history"))
    rows, real = result["train_rows"], result["real_tokens_per_epoch"]
    return {**result, "name": f"{args.reference} (reference)", "padding_overhead": result["trained_overhead"],
            "padding_note": "all batches it trained on", "final_mcc": epochs["per_epoch"][-1]["mcc"]
            if epochs["per_epoch"] else None, **epochs,
            **training_throughput(epochs["training_s"], epochs["epochs"], rows, real)}


def run_end_to_end(args: argparse.Namespace, cap_bytes: int, peak: dict | None, facts: dict) -> int:
    """Run the workshop, then the reference; print both; keep the outputs only when ``--outputs`` asks."""
    from cola_workshop.settings import load_settings

    from .e2e_report import print_comparison, print_goals, print_notebooks

    workdir = Path(tempfile.mkdtemp(prefix="train_speed_e2e_"))
    outputs = Path(args.outputs).resolve() if args.outputs else workdir / "outputs"
    try:
        model = prepare_model(args, workdir / "model")
        settings = load_settings(environ={}, profile="full", model=model, data=args.data, epochs=args.epochs,
                                 max_train_samples=args.max_train_samples, outputs=str(outputs))
        print(settings.describe() + "\n", flush=True)
        started = time.perf_counter()
        code, notebooks = run_workshop(settings)
        total_s = time.perf_counter() - started
        print_notebooks(notebooks, total_s, facts["cpu"])
        report = {"machine": facts, "matmul_peak": peak, "notebooks": notebooks, "exit_code": code}
        if code == 0:
            report["workshop"] = workshop_figures(settings)
            report["workshop"].update(peak_rss_gib=notebooks["05_training"]["peak_kernel_rss_gib"],
                                      memory_note="notebook 05's kernel, sampled")
            if args.reference != "none":
                print(f"\ntraining the reference ({args.reference}) over the same epochs and samples ...", flush=True)
                report["reference"] = reference_figures(args, model, cap_bytes, workdir)
            gpu = peak["device"] if peak and peak["device"] != "cpu" else None  # where this run's peak was measured
            print_comparison(report["workshop"], report.get("reference"), peak, facts["cpu"],
                             random_weights=args.model == "random", gpu=gpu)
            report["goals"] = print_goals(total_s, report["workshop"], report.get("reference"), facts["cpu"], gpu)
        if args.json:
            args.json.write_text(json.dumps(report, indent=2, default=str))
        if code:
            return code
        return 0 if report.get("reference", {}).get("status", "ok") == "ok" else 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
