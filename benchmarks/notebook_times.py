"""Where the notebooks spend their time: per notebook and per cell, and how much of it outside ``trainer.train()``.

``train_speed.py --end-to-end`` runs the full profile's six notebooks through the workshop's executor
(``cola_workshop.tools.execution.execute_notebook``: a fresh kernel each, as ``cola-workshop run`` does) and reads
each cell's time from the executed copy: nbclient records when a cell's code reached the kernel
(``iopub.execute_input``) and when its reply came (``shell.execute_reply``). A notebook's wall time also holds its
kernel's start. The train cell is the one that calls ``trainer.train(`` (the lesson's ``trainer``, not an exercise's
``frozen_trainer``); everything else is "outside training".
Nothing here parses printed text. This module imports nothing from ``train_speed.py``, which imports it.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from datetime import datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
TRAIN_CALL = re.compile(r"(?<![\w.])trainer\.train\(")  # the lesson's trainer, not an exercise's frozen_trainer
GIB = 1024**3


def random_gpt2(folder: Path) -> str:
    """GPT-2 small's architecture (``GPT2Config()``, 124M parameters) with seeded random weights, saved with GPT-2's
    own tokenizer files (the tiny model's folder holds them unchanged): a step costs the same whatever the weights."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config()).save_pretrained(folder)
    AutoTokenizer.from_pretrained(REPO_ROOT / "data" / "tiny-gpt2").save_pretrained(folder)
    return str(folder)


def full_settings(args, workdir: Path):
    """The full profile with the benchmark's model, data, epochs and training subset, into ``args.outputs``."""
    from cola_workshop.settings import load_settings

    model = random_gpt2(workdir / "model") if args.model == "random" else args.model
    outputs = Path(args.outputs or workdir / "outputs").resolve()
    return load_settings(environ={}, profile="full", model=model, data=args.data, epochs=args.epochs,
                         max_train_samples=args.max_train_samples, outputs=str(outputs))


def use_package_beside(notebooks: Path) -> None:
    """Kernels import the ``cola_workshop`` beside ``notebooks`` (an older checkout's), not this one."""
    root = Path(notebooks).resolve().parent
    if (root / "cola_workshop").is_dir() and root != REPO_ROOT:
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))


class KernelMemory(threading.Thread):
    """The peak resident memory of this process's children (the notebook's kernel), sampled every 0.25 s."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.done = 0, threading.Event()

    def run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self.done.wait(0.25):
            try:
                self.peak = max(self.peak, sum(p.memory_info().rss for p in me.children(recursive=True)))
            except psutil.Error:
                pass


def run_stages(settings, stages, notebooks: Path) -> dict[str, dict]:
    """Execute ``<notebooks>/<stage>.ipynb`` in order into ``<outputs>/executed/``: per stage its wall time (kernel
    start included), its kernel's peak memory and ``ok`` or the failure; stops at the first failure."""
    from cola_workshop.tools.execution import NotebookFailed, execute_notebook, executed_path

    runs = {}
    for stage in stages:
        memory, started = KernelMemory(), time.perf_counter()
        memory.start()
        print(f"{stage} ...", flush=True)
        try:
            execute_notebook(Path(notebooks) / f"{stage}.ipynb", executed_path(settings, stage), settings)
            status = "ok"
        except NotebookFailed as failure:
            status = f"failed at cell {failure.cell_number}: {failure.error}"
        memory.done.set()
        memory.join()
        runs[stage] = {"wall_s": time.perf_counter() - started, "peak_kernel_gib": memory.peak / GIB, "status": status}
        if status != "ok":
            break
    return runs


def cell_times(executed: Path) -> list[dict]:
    """Each code cell that ran: its number among all cells, first line, seconds, and whether it trains."""
    notebook = json.loads(Path(executed).read_text(encoding="utf-8"))
    cells = []
    for number, cell in enumerate(notebook["cells"], 1):
        timing = cell.get("metadata", {}).get("execution", {})
        if cell["cell_type"] != "code" or "shell.execute_reply" not in timing:
            continue
        start, end = (datetime.fromisoformat(timing[key]) for key in ("iopub.execute_input", "shell.execute_reply"))
        source = "".join(cell["source"])
        first = next((line.strip() for line in source.splitlines() if line.strip()), "")
        cells.append({"cell": number, "first_line": first, "seconds": (end - start).total_seconds(),
                      "trains": bool(TRAIN_CALL.search(source))})
    return cells


def notebook_times(executed: Path, wall_s: float | None = None) -> dict:
    """A notebook's cells, their sum, its time in ``trainer.train()`` and outside it (of the wall time when known:
    the kernel's start counts as outside)."""
    cells = cell_times(executed)
    cells_s = sum(cell["seconds"] for cell in cells)
    train_s = sum(cell["seconds"] for cell in cells if cell["trains"])
    total = cells_s if wall_s is None else wall_s
    return {"cells": cells, "cells_s": cells_s, "wall_s": wall_s, "train_s": train_s, "outside_s": total - train_s}


def print_times(times: dict[str, dict], machine: str, threshold_s: float) -> float:
    """Per notebook, then every cell of at least ``threshold_s`` outside training; returns the total outside."""
    print(f"\n== Time outside trainer.train(), on {machine}")
    print(f"{'notebook':<22}{'wall':>9}{'cells':>9}{'training':>10}{'outside':>9}{'kernel peak':>13}")
    for stage, t in times.items():
        wall = "n/a" if t["wall_s"] is None else f"{t['wall_s']:.1f} s"
        memory = f"{t['peak_kernel_gib']:.2f} GiB" if t.get("peak_kernel_gib") else "n/a"
        print(f"{stage:<22}{wall:>9}{t['cells_s']:>7.1f} s{t['train_s']:>8.1f} s{t['outside_s']:>7.1f} s{memory:>13}")
    outside = sum(t["outside_s"] for t in times.values())
    print(f"{'all':<22}{'':>9}{'':>9}{sum(t['train_s'] for t in times.values()):>8.1f} s{outside:>7.1f} s")
    print(f"\n== Cells of {threshold_s:g} s or more (training marked *)")
    for stage, t in times.items():
        for cell in t["cells"]:
            if cell["seconds"] >= threshold_s:
                mark = "*" if cell["trains"] else " "
                print(f"{stage:<22}cell {cell['cell']:>3}{cell['seconds']:>8.1f} s {mark} {cell['first_line'][:70]}")
    return outside


def training_epochs(log_history: list[dict]) -> dict:
    """Training time from a Trainer's log: ``train_runtime`` less the per-epoch evaluations (checkpoint saves stay
    in: they are part of an epoch's cost). Evaluations logged after training are not counted."""
    end = next((i for i, entry in enumerate(log_history) if "train_runtime" in entry), None)
    if end is None:
        raise ValueError("the log has no 'train_runtime' entry: training did not finish; rerun notebook 05")
    evaluations = [entry for entry in log_history[:end] if "eval_runtime" in entry]
    eval_s = sum(entry["eval_runtime"] for entry in evaluations)
    mcc = [entry.get("eval_matthews_correlation") for entry in evaluations]
    return {"epochs": float(log_history[end].get("epoch") or 1), "train_runtime_s": log_history[end]["train_runtime"],
            "eval_s": eval_s, "training_s": log_history[end]["train_runtime"] - eval_s, "last_mcc": (mcc or [None])[-1]}


def sampler_overhead(lengths: list[int], batch_size: int, strategy: str, seed: int) -> float:
    """Computed / real tokens over one epoch of dynamically padded batches in the order the Trainer's sampler draws
    (seeded: an epoch of the same kind as the run's, not the very same order)."""
    import torch
    from transformers.trainer_pt_utils import get_length_grouped_indices

    generator = torch.Generator().manual_seed(seed)
    if strategy == "group_by_length":
        order = get_length_grouped_indices(lengths, batch_size, generator=generator)
    else:
        order = torch.randperm(len(lengths), generator=generator).tolist()
    batches = [[lengths[i] for i in order[k : k + batch_size]] for k in range(0, len(order), batch_size)]
    return sum(max(b) * len(b) for b in batches) / sum(lengths)


def workshop_training(outputs: Path) -> dict:
    """Notebook 05's training, from what notebooks 03-05 saved: the figures the reference is compared on."""
    import torch
    from datasets import load_from_disk
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from cola_workshop.hardware import precision_label

    args = json.loads((outputs / "04_training_args" / "training_args.json").read_text())
    train = load_from_disk(str(outputs / "03_preprocessing" / "tokenized"))["train"]
    lengths = [len(ids) for ids in train["input_ids"]]
    log = json.loads((outputs / "05_training" / "log_history.json").read_text())
    with torch.device("meta"):  # shapes only: no weights are read
        config = AutoConfig.from_pretrained(outputs / "05_training" / "model")
        model = AutoModelForSequenceClassification.from_config(config)
    embedded = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding))
    batch, strategy = args["per_device_train_batch_size"], args["train_sampling_strategy"]
    return {"config": "workshop (notebook 05)", "batch_size": batch, "sampling": strategy,
            "precision": precision_label(args), "train_rows": len(lengths),
            "real_tokens_per_epoch": sum(lengths), "non_embedding_parameters": model.num_parameters() - embedded,
            "padding_overhead": sampler_overhead(lengths, batch, strategy, args["seed"]),
            "log_history": log, "status": "ok"}


def throughput(side: dict) -> dict:
    """Samples and real tokens per second of training, evaluations excluded, from a run's Trainer log."""
    epochs = training_epochs(side["log_history"])
    seconds = epochs["training_s"]
    return {**epochs, "samples_per_s": epochs["epochs"] * side["train_rows"] / seconds,
            "real_tokens_per_s": epochs["epochs"] * side["real_tokens_per_epoch"] / seconds}
