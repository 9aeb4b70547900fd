"""The child process: trains one configuration and writes what it measured to a JSON file for the parent.

Two modes. ``timed`` (the default benchmark): warm-up steps, then a few timed optimizer steps on batches
picked to represent an epoch, then one evaluation and one checkpoint save, from which whole epochs are
projected. ``epochs`` (the end-to-end mode's reference): ``settings.epochs`` real epochs on the same training
subset as the workshop run, with the Trainer's own log kept so both runs are read by the same code.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import traceback
from pathlib import Path

from .configs import CONFIGS_BY_NAME, FIXED_PAD_EVAL_TOKENS, GIB
from .flops import non_embedding_parameters
from .statistics import others_cpu_share, projected_seconds
from .training import (
    RecordingCollator,
    child_settings,
    clock_callback,
    compute_metrics_function,
    load_model,
    plan_batches,
    planned_trainer_class,
    precision_for,
    tokenize_dataset,
    training_arguments,
    training_only_trainer_class,
)


def partial_result_path(result_path: Path) -> Path:
    return result_path.with_name(result_path.stem + ".partial.json")


class Progress:
    """What the child is doing and knows so far, for the parent to report if it has to stop the child."""

    def __init__(self, result_path: Path):
        self.path = partial_result_path(result_path)

    def __call__(self, phase: str, **facts) -> None:
        known = json.loads(self.path.read_text()) if self.path.is_file() else {}
        known.update(facts, phase=phase)
        self.path.write_text(json.dumps(known))


def prepare(args: argparse.Namespace, progress: Progress) -> dict:
    """Settings, tokenizer, data, model and the configuration's tokenization: everything before training."""
    import torch
    import transformers
    from transformers import set_seed

    from cola_workshop.data import load_cola
    from cola_workshop.hardware import use_shape_agnostic_attention
    from cola_workshop.models import load_tokenizer

    progress("loading data, tokenizer and model")
    if args.threads:
        torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    config, settings = CONFIGS_BY_NAME[args.child], child_settings(args)
    cuda = torch.cuda.is_available()
    tokenizer = load_tokenizer(args.tokenizer or args.model)
    dataset = load_cola(settings)
    set_seed(settings.seed)
    model, model_name = load_model(args, tokenizer)
    train_set, eval_set, pad_len = tokenize_dataset(config, dataset, tokenizer, settings, model)
    precision, precision_label = precision_for(config, settings)
    if config.precision == "profile":  # the notebooks' attention choice on a GPU (cola_workshop.notebook.start)
        use_shape_agnostic_attention()
    batch_size = config.batch_size or settings.batch_size
    group = settings.group_by_length if config.sampling == "profile" else config.sampling == "group_by_length"
    result = {
        "config": config.name, "status": "ok", "mode": args.child_mode, "model": model_name,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu", "threads": torch.get_num_threads(),
        "torch": torch.__version__, "transformers": transformers.__version__,
        "parameters_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "non_embedding_parameters": non_embedding_parameters(model),
        "train_rows": len(train_set), "eval_rows": len(eval_set), "pad_len": pad_len,
        "truncation_len": settings.max_length if pad_len is None else pad_len, "batch_size": batch_size,
        "eval_batch_size": config.eval_batch_size or args.eval_batch_size or settings.eval_batch_size,
        "sampling": "group_by_length" if group else "random", "precision": precision_label,
        "torch_compile": config.torch_compile, "epochs": settings.epochs,
    }
    return dict(config=config, settings=settings, tokenizer=tokenizer, model=model, train_set=train_set,
                eval_set=eval_set, precision=precision, group=group, cuda=cuda, result=result)


def train(parts: dict, trainer_class, training_args, collator, callbacks=()):
    """Run the Trainer on the prepared parts; the checkpoints folder is removed afterwards."""
    import torch

    trainer = trainer_class(model=parts["model"], args=training_args, train_dataset=parts["train_set"],
                            eval_dataset=parts["eval_set"], processing_class=parts["tokenizer"],
                            data_collator=collator, compute_metrics=compute_metrics_function(),
                            callbacks=list(callbacks))
    if parts["cuda"]:
        torch.cuda.reset_peak_memory_stats()
    try:
        output = trainer.train()
    finally:
        shutil.rmtree(training_args.output_dir, ignore_errors=True)
    return trainer, output


def memory_facts(cuda: bool) -> dict:
    facts = {"peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB}
    if cuda:
        import torch

        facts["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / GIB
    return facts


def run_timed(args: argparse.Namespace, progress: Progress) -> dict:
    """Warm-up + timed steps on representative batches, one evaluation, one save; projected to whole epochs."""
    from transformers import DataCollatorWithPadding

    parts = prepare(args, progress)
    result, settings, config = parts["result"], parts["settings"], parts["config"]
    batch_size, pad_len = result["batch_size"], result["pad_len"]
    full_batches = max(1, len(parts["train_set"]) // batch_size)
    steps = max(1, min(args.steps, full_batches - min(args.warmup_steps, 2)))  # one epoch's batches at most
    real_lengths = [sum(mask) for mask in parts["train_set"]["attention_mask"]]
    plan: dict = {}

    def plan_order(order):
        picked, facts = plan_batches(order, real_lengths, batch_size, pad_len, args.warmup_steps, steps)
        plan.update(facts)
        progress("building the training batches", **facts)
        return picked

    eval_used = len(parts["eval_set"])
    if pad_len is not None:  # fixed padding: every evaluation batch costs the same, time a few and scale
        eval_batch = result["eval_batch_size"]
        eval_used = min(eval_used, max(1, FIXED_PAD_EVAL_TOKENS // (pad_len * eval_batch)) * eval_batch)
        parts["eval_set"] = parts["eval_set"].select(range(eval_used))
    collator = RecordingCollator(DataCollatorWithPadding(parts["tokenizer"]))
    training_args = training_arguments(
        config, settings, args, tempfile.mkdtemp(prefix=f"train_speed_{config.name}_"), batch_size=batch_size,
        eval_batch_size=result["eval_batch_size"], group=parts["group"], precision=parts["precision"],
        max_steps=args.warmup_steps + steps)
    clock = clock_callback(args.warmup_steps, steps, args.max_train_seconds, progress)
    trainer, _ = train(parts, planned_trainer_class(plan_order), training_args, collator, [clock])
    result.update(plan, eval_rows_timed=eval_used, **memory_facts(parts["cuda"]))
    result.update(timed_facts(clock.marks, collator.batches, args.warmup_steps))
    marks = clock.marks
    if "evaluated" in marks:
        result["eval_s_timed"] = marks["evaluated"] - marks["epoch_end"]
        result["eval_s"] = result["eval_s_timed"] * result["eval_rows"] / eval_used
        scores = [e["eval_matthews_correlation"] for e in trainer.state.log_history if "eval_matthews_correlation" in e]
        result["eval_mcc"] = scores[-1] if scores else None
    if "saved" in marks and "evaluated" in marks:
        result["save_s"] = marks["saved"] - marks["evaluated"]
    if "samples_per_s" in result:
        result["projected_s"] = projected_seconds(settings.epochs, result["train_rows"], result["samples_per_s"],
                                                  result.get("eval_s", 0.0), result.get("save_s", 0.0))
    return result


def timed_facts(marks: dict, batches: list[tuple[int, int, int]], warmup_steps: int) -> dict:
    """Step times, samples/s and tokens of the timed steps, from the clock's marks and the collator's record."""
    ends = marks["step_end"]
    facts = {"first_step_s": ends[0] - marks["train_begin"]} if ends else {}
    if "timed_begin" not in marks or "timed_end" not in marks:
        return facts
    (t0, busy0, own0), (t1, busy1, own1) = marks["timed_begin"], marks["timed_end"]
    bounds = [t0] + [t for t in ends[warmup_steps:] if t <= t1]
    step_times = [b - a for a, b in zip(bounds, bounds[1:])]
    # The collator saw the training batches in order (accelerate fetches one ahead: index, don't clear).
    timed = batches[warmup_steps : warmup_steps + len(step_times)]
    real, computed = sum(b[0] for b in timed), sum(b[1] for b in timed)
    facts.update(timed_steps=len(step_times), step_times=step_times, timed_seconds=t1 - t0,
                 seconds_per_step=(t1 - t0) / len(step_times), samples_per_s=sum(b[2] for b in timed) / (t1 - t0),
                 timed_real_tokens=real, timed_computed_tokens=computed, timed_overhead=computed / max(1, real),
                 real_tokens_per_s=real / (t1 - t0),
                 others_cpu_share=others_cpu_share(busy1 - busy0, own1 - own0, t1 - t0, os.cpu_count() or 1))
    return facts


def run_epochs(args: argparse.Namespace, progress: Progress) -> dict:
    """``settings.epochs`` real epochs, evaluated and saved each epoch, with the Trainer's log kept."""
    import math

    from transformers import DataCollatorWithPadding

    parts = prepare(args, progress)
    result, settings = parts["result"], parts["settings"]
    collator = RecordingCollator(DataCollatorWithPadding(parts["tokenizer"]))
    training_args = training_arguments(
        parts["config"], settings, args, tempfile.mkdtemp(prefix=f"train_speed_{args.child}_"),
        batch_size=result["batch_size"], eval_batch_size=result["eval_batch_size"], group=parts["group"],
        precision=parts["precision"], steps_per_epoch=math.ceil(result["train_rows"] / result["batch_size"]))
    progress(f"training {settings.epochs:g} epoch(s)")
    trainer, output = train(parts, training_only_trainer_class(), training_args, collator)
    real, computed = sum(b[0] for b in collator.batches), sum(b[1] for b in collator.batches)
    result.update(memory_facts(parts["cuda"]), log_history=trainer.state.log_history, train_metrics=output.metrics,
                  trained_real_tokens=real, trained_computed_tokens=computed, trained_overhead=computed / max(1, real),
                  real_tokens_per_epoch=sum(sum(mask) for mask in parts["train_set"]["attention_mask"]))
    return result


def child_main(args: argparse.Namespace) -> int:
    """Run the child's mode; any failure becomes a result with a status the parent reports."""
    progress = Progress(args.result)
    try:
        result = (run_epochs if args.child_mode == "epochs" else run_timed)(args, progress)
    except (MemoryError, RuntimeError) as error:  # torch reports a failed allocation as a RuntimeError
        text = str(error)
        traceback.print_exc()
        oom = isinstance(error, MemoryError) or "allocate" in text or "out of memory" in text.lower()
        result = {"config": args.child, "status": "oom" if oom else "error", "message": (text.splitlines() or [type(error).__name__])[0][:300]}
    except Exception as error:  # reported by the parent, with the log's tail
        traceback.print_exc()
        result = {"config": args.child, "status": "error", "message": f"{type(error).__name__}: {error}"[:300]}
    args.result.write_text(json.dumps(result))
    return 0 if result["status"] == "ok" else 1
