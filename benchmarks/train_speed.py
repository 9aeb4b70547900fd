"""How fast does the workshop's fine-tuning recipe train GPT-2 small on CoLA, and why?

One command times several training configurations side by side, each in its own child process under a
memory cap, with the workshop's own preprocessing, collator and Trainer settings (``cola_workshop``'s loaders,
``DataCollatorWithPadding``, the ``full`` profile's hyperparameters)::

    .venv/bin/python benchmarks/train_speed.py                       # all default configurations
    .venv/bin/python benchmarks/train_speed.py --configs workshop    # one configuration
    .venv/bin/python benchmarks/train_speed.py --list                # what each configuration is

Defaults: where ``../shared/data`` exists beside the repository (the workshop's build machine) the real CoLA
training sentences and GPT-2 tokenizer are read from there and the model is GPT-2 small's architecture
(``GPT2Config()``, 124M parameters) with random weights: the speed of a step does not depend on the weight
values. Elsewhere the hub copies are used (``openai-community/gpt2``, ``nyu-mll/glue`` cola).

See benchmarks/README.md for how to read the output. Importing this module runs nothing (the tests do so).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
GIB = 1024**3

# The goals the workshop's `full` profile must meet on a learner's CPU laptop.
GOAL_MINUTES = 12.0  # settings.epochs epochs, per-epoch evaluation and checkpoint included
GOAL_OVERHEAD = 1.1  # computed (padded) tokens / real tokens over an epoch
GOAL_RSS_GIB = 4.0  # peak resident memory of the training process
GOAL_SAMPLES_PER_S = 36.0  # what 3 epochs of 8551 sentences in 12 minutes need

# Timed batches are evaluation batches of this many padded tokens when a configuration pads to a fixed
# length (all its evaluation batches then cost the same, so a few of them give the time of a whole pass).
FIXED_PAD_EVAL_TOKENS = 8192


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """One way of training: what differs from the workshop's recipe, everything else is the recipe."""

    name: str
    description: str
    batch_size: int | None = None  # None: settings.batch_size
    eval_batch_size: int | None = None  # None: settings.eval_batch_size
    sampling: str = "profile"  # "profile" (settings.group_by_length), "group_by_length" or "random"
    precision: str = "profile"  # "profile" (mixed precision as the settings say) or "fp32"
    pad_to: str | int | None = None  # None: dynamic padding (collator); "model": model max length; or a number
    torch_compile: bool = False
    default: bool = True  # part of a plain run


CONFIGS = [
    BenchConfig(
        "workshop",
        "the full profile as configured: dynamic padding, length-grouped batches, mixed precision per settings",
    ),
    BenchConfig("workshop_fp32", "the same in fp32 (no bf16 autocast)", precision="fp32"),
    BenchConfig("random_b32", "the same with random batch order (no length grouping)", sampling="random"),
    BenchConfig("random_b32_fp32", "random batch order and fp32: dynamic padding is all that is left",
                sampling="random", precision="fp32"),
    BenchConfig(
        "run_glue",
        "transformers' run_glue example: pad every sentence to 128 tokens, batch 8, random order, fp32",
        batch_size=8,
        eval_batch_size=8,
        sampling="random",
        precision="fp32",
        pad_to=128,
    ),
    BenchConfig(
        "tutorial",
        "the HF tutorial: padding='max_length' (the model's 1024 tokens), batch 8, random order, fp32",
        batch_size=8,
        eval_batch_size=8,
        sampling="random",
        precision="fp32",
        pad_to="model",
    ),
    # Exploration only (--configs NAME): not part of a plain run.
    BenchConfig("workshop_compile", "the workshop configuration with torch_compile=True", torch_compile=True, default=False),
    BenchConfig("workshop_b16", "the workshop configuration at batch 16", batch_size=16, default=False),
    BenchConfig("workshop_b64", "the workshop configuration at batch 64", batch_size=64, default=False),
]
CONFIGS_BY_NAME = {config.name: config for config in CONFIGS}
DEFAULT_CONFIGS = [config.name for config in CONFIGS if config.default]


# --------------------------------------------------------------------------------------------------------------
# Pure helpers (no torch): unit-tested in tests/test_benchmark.py
# --------------------------------------------------------------------------------------------------------------


def chunk(order: list[int], batch_size: int) -> list[list[int]]:
    """Consecutive batches of ``batch_size`` indices, the last one possibly shorter (as a DataLoader cuts them)."""
    return [list(order[start : start + batch_size]) for start in range(0, len(order), batch_size)]


def batch_tokens(lengths: list[int], pad_to: int | None = None) -> tuple[int, int]:
    """(real tokens, computed tokens) of one batch of sequences of these real lengths.

    Dynamic padding (``pad_to`` None) pads to the longest sequence of the batch; otherwise every sequence
    is ``pad_to`` long (its real length is at most ``pad_to``: longer ones were truncated at tokenization).
    """
    if not lengths:
        return 0, 0
    real = sum(lengths)
    width = max(lengths) if pad_to is None else pad_to
    return real, width * len(lengths)


def padding_overhead(batches: list[list[int]], pad_to: int | None = None) -> tuple[int, int, float]:
    """(real tokens, computed tokens, computed / real) over batches given as lists of real lengths."""
    real = computed = 0
    for lengths in batches:
        batch_real, batch_computed = batch_tokens(lengths, pad_to)
        real += batch_real
        computed += batch_computed
    return real, computed, (computed / real if real else float("nan"))


def pick_representative(costs: list[float], count: int) -> list[int]:
    """Positions of ``count`` items spread evenly over the distribution of ``costs``, in their original order.

    The items are ranked by cost and those at the quantiles (i + 0.5) / count are taken, so the mean cost of
    the pick is close to the mean of all items however they are ordered (the length-grouped sampler puts
    the longest batches of each mega-batch first: its first 20 batches are not a fair sample of an epoch).
    """
    if count >= len(costs):
        return list(range(len(costs)))
    ranked = sorted(range(len(costs)), key=lambda i: (costs[i], i))
    picked = {ranked[min(len(ranked) - 1, int((i + 0.5) * len(ranked) / count))] for i in range(count)}
    return sorted(picked)


def projected_seconds(epochs: float, train_samples: int, samples_per_s: float, eval_s: float = 0.0,
                      save_s: float = 0.0) -> float:
    """Wall time of ``epochs`` epochs: training at ``samples_per_s`` plus one evaluation and one save per epoch."""
    return epochs * (train_samples / samples_per_s + eval_s + save_s)


def goal_verdict(value: float | None, limit: float, higher_is_better: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    ok = value >= limit if higher_is_better else value <= limit
    return "PASS" if ok else "MISS"


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "n/a"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def others_cpu_share(system_busy_s: float, own_cpu_s: float, wall_s: float, cpus: int) -> float:
    """Fraction of the machine's CPU time that other processes used while we measured (0 = quiet machine)."""
    if wall_s <= 0 or cpus <= 0:
        return float("nan")
    return max(0.0, system_busy_s - own_cpu_s) / (wall_s * cpus)


# --------------------------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------------------------


def default_sources() -> dict:
    """Model, data and tokenizer a plain run uses on this machine."""
    if (SHARED_DATA / "cola_public").is_dir() and (SHARED_DATA / "gpt2-tokenizer").is_dir():
        return {"model": "random", "data": str(SHARED_DATA / "cola_public"), "tokenizer": str(SHARED_DATA / "gpt2-tokenizer")}
    return {"model": "openai-community/gpt2", "data": "hub", "tokenizer": None}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = default_sources()
    parser = argparse.ArgumentParser(
        prog="train_speed.py",
        description="Time the workshop's GPT-2 + CoLA training recipe against the usual alternatives "
        "(one child process per configuration, under a memory cap).",
        epilog="configurations: " + ", ".join(f"{c.name}{'' if c.default else ' (extra)'}" for c in CONFIGS),
    )
    parser.add_argument("--steps", type=int, default=20, help="timed optimizer steps per configuration (default 20)")
    parser.add_argument("--warmup-steps", type=int, default=2,
                        help="untimed steps first: the longest batch of the epoch, then a median one (default 2)")
    parser.add_argument("--configs", default=",".join(DEFAULT_CONFIGS),
                        help=f"comma-separated configurations (default {','.join(DEFAULT_CONFIGS)})")
    parser.add_argument("--model", default=defaults["model"],
                        help="'random' (GPT2Config() with random weights), a checkpoint folder or a hub id "
                        f"(default {defaults['model']})")
    parser.add_argument("--data", default=defaults["data"], help=f"a CoLA/GLUE folder or 'hub' (default {defaults['data']})")
    parser.add_argument("--tokenizer", default=defaults["tokenizer"],
                        help="tokenizer folder or hub id (default: the shared GPT-2 tokenizer here, else the model's)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument("--eval-batch-size", type=int, default=None,
                        help="override the profile's eval_batch_size for the configurations that use it")
    parser.add_argument("--mem-cap-gib", type=float, default=16.0,
                        help="stop a configuration whose resident memory exceeds this (default 16, at most 85%% "
                        "of the memory available when the run starts)")
    parser.add_argument("--max-train-seconds", type=float, default=150.0,
                        help="time budget for one configuration's timed steps: slow ones time fewer steps (min 3)")
    parser.add_argument("--config-timeout", type=float, default=900.0, help="kill a child after this many seconds")
    parser.add_argument("--wait-for-idle", type=float, default=0.0, metavar="SECONDS",
                        help="before each configuration, wait up to this long for other processes to leave the CPU "
                        "(below 15%% use over 3 s); for shared machines (default 0: do not wait)")
    parser.add_argument("--no-save", action="store_true", help="skip the per-epoch checkpoint save (not timed then)")
    parser.add_argument("--json", type=Path, default=None, help="also write all results to this JSON file")
    parser.add_argument("--list", action="store_true", help="describe the configurations and exit")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.configs.split(",") if name.strip()]
    unknown = [name for name in names if name not in CONFIGS_BY_NAME]
    if unknown:
        parser.error(f"unknown configuration(s) {unknown}: choose from {sorted(CONFIGS_BY_NAME)}")
    if args.steps < 1 or args.warmup_steps < 0:
        parser.error("--steps must be >= 1 and --warmup-steps >= 0")
    args.config_names = names
    # Folders given relative to the current directory (the child runs in the repository root).
    for key in ("model", "data", "tokenizer"):
        value = getattr(args, key)
        if value and value not in ("random", "hub") and Path(value).expanduser().exists():
            setattr(args, key, str(Path(value).expanduser().resolve()))
    return args


# --------------------------------------------------------------------------------------------------------------
# Child: one configuration
# --------------------------------------------------------------------------------------------------------------


def _system_busy_seconds() -> float:
    import psutil

    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0) - getattr(times, "guest", 0.0) - getattr(
        times, "guest_nice", 0.0)


def _own_cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_child(args: argparse.Namespace) -> dict:
    """Train one configuration for warm-up + timed steps, then one evaluation and one checkpoint save."""
    import resource
    import tempfile

    import numpy as np
    import torch
    import transformers
    from transformers import (DataCollatorWithPadding, GPT2Config, GPT2ForSequenceClassification, Trainer,
                              TrainerCallback, TrainingArguments, set_seed)

    sys.path.insert(0, str(REPO_ROOT))
    from cola_workshop.data import load_cola
    from cola_workshop.models import ID2LABEL, LABEL2ID, load_classifier, load_tokenizer
    from cola_workshop.settings import load_settings

    config = CONFIGS_BY_NAME[args.child]
    partial_path = partial_result_path(args.result)

    def progress(phase: str, **facts) -> None:
        """What the child is doing and knows so far, for the parent to report if it has to stop the child."""
        known = json.loads(partial_path.read_text()) if partial_path.is_file() else {}
        known.update(facts, phase=phase)
        partial_path.write_text(json.dumps(known))

    progress("loading data, tokenizer and model")
    if args.threads:
        torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()

    settings = load_settings(environ={}, profile="full", data=args.data)
    cuda = torch.cuda.is_available()
    result: dict = {"config": config.name, "status": "ok", "device": torch.cuda.get_device_name(0) if cuda else "cpu",
                    "threads": torch.get_num_threads(), "torch": torch.__version__,
                    "transformers": transformers.__version__}

    # ---- data and tokenizer: the workshop's loaders --------------------------------------------------------
    tokenizer = load_tokenizer(args.tokenizer or (args.model if args.model != "random" else "openai-community/gpt2"))
    dataset = load_cola(settings)
    train_rows, eval_rows = len(dataset["train"]), len(dataset["validation"])

    # ---- model ---------------------------------------------------------------------------------------------
    set_seed(settings.seed)
    if args.model == "random":
        model = GPT2ForSequenceClassification(GPT2Config(num_labels=2, id2label=ID2LABEL, label2id=LABEL2ID,
                                                          pad_token_id=tokenizer.pad_token_id))
        result["model"] = "GPT2Config() random init"
    else:
        model = load_classifier(args.model, tokenizer)
        result["model"] = args.model
    result["parameters_m"] = sum(p.numel() for p in model.parameters()) / 1e6

    # ---- preprocessing: the recipe's, or the fixed padding of run_glue / the tutorial --------------------
    model_max = tokenizer.model_max_length
    if not model_max or model_max > 100_000:  # the bare vocab.json/merges.txt tokenizer carries no limit
        model_max = model.config.n_positions
    if config.pad_to is None:
        pad_len = None

        def tokenize(batch):
            return tokenizer(batch["sentence"], truncation=True, max_length=settings.max_length)
    else:
        pad_len = model_max if config.pad_to == "model" else int(config.pad_to)

        def tokenize(batch):
            return tokenizer(batch["sentence"], padding="max_length", truncation=True, max_length=pad_len)

    dataset.pop("test", None)
    tokenized = dataset.map(tokenize, batched=True)
    train_set, eval_set = tokenized["train"], tokenized["validation"]
    real_lengths = [sum(mask) for mask in train_set["attention_mask"]]
    result.update(train_rows=train_rows, eval_rows=eval_rows, pad_len=pad_len,
                  truncation_len=settings.max_length if pad_len is None else pad_len)

    class RecordingCollator:
        """DataCollatorWithPadding, counting real and computed tokens of the batches the Trainer draws."""

        def __init__(self, inner):
            self.inner, self.batches = inner, []

        def __call__(self, features):
            batch = self.inner(features)
            self.batches.append((int(batch["attention_mask"].sum()), int(batch["input_ids"].numel()),
                                 int(batch["input_ids"].shape[0])))
            return batch

    collator = RecordingCollator(DataCollatorWithPadding(tokenizer))

    # ---- TrainingArguments: the recipe's ------------------------------------------------------------------
    batch_size = config.batch_size or settings.batch_size
    eval_batch_size = config.eval_batch_size or args.eval_batch_size or settings.eval_batch_size
    group = settings.group_by_length if config.sampling == "profile" else config.sampling == "group_by_length"
    mixed = config.precision == "profile" and (settings.bf16_on_cpu or cuda)
    bf16 = mixed and (torch.cuda.is_bf16_supported() if cuda else True)
    fp16 = mixed and cuda and not bf16
    result.update(batch_size=batch_size, eval_batch_size=eval_batch_size,
                  sampling="group_by_length" if group else "random",
                  precision="bf16 autocast" if bf16 else "fp16 autocast" if fp16 else "fp32",
                  torch_compile=config.torch_compile)
    max_steps = args.warmup_steps + args.steps
    out_dir = tempfile.mkdtemp(prefix=f"train_speed_{config.name}_")
    training_args = TrainingArguments(
        output_dir=out_dir,
        learning_rate=settings.learning_rate,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=eval_batch_size,
        max_steps=max_steps,  # instead of num_train_epochs=settings.epochs
        weight_decay=settings.weight_decay,
        warmup_steps=settings.warmup_ratio,  # transformers 5: a float < 1 is a ratio (warmup_ratio is gone)
        train_sampling_strategy="group_by_length" if group else "random",
        bf16=bf16,
        fp16=fp16,
        use_cpu=not cuda,  # transformers 5 refuses bf16=True on a CPU-only machine unless use_cpu=True
        seed=settings.seed,
        eval_strategy="epoch",
        save_strategy="no" if args.no_save else "epoch",
        report_to="none",
        dataloader_num_workers=0,
        torch_compile=config.torch_compile,
        disable_tqdm=True,
    )

    # ---- the epoch the sampler would draw, and a representative pick of its batches ----------------------
    class BenchTrainer(Trainer):
        """The recipe's Trainer; only the batch order changes: warm-up batches, then representative ones."""

        plan: dict = {}

        def _get_train_sampler(self, train_dataset=None):
            sampler = super()._get_train_sampler(train_dataset)
            order = [int(i) for i in sampler]  # one epoch, exactly as the recipe's sampler draws it
            batches = chunk(order, batch_size)
            costs = [batch_tokens([real_lengths[i] for i in b], pad_len)[1] for b in batches]
            full = [k for k, b in enumerate(batches) if len(b) == batch_size]
            warm = []
            if args.warmup_steps >= 1:
                warm.append(max(full, key=lambda k: costs[k]))  # the longest batch: peak memory, early
            if args.warmup_steps >= 2:
                by_cost = sorted(full, key=lambda k: costs[k])
                warm += [by_cost[len(by_cost) // 2]] * (args.warmup_steps - 1)
            rest = [k for k in full if k not in warm]
            picked = [rest[p] for p in pick_representative([costs[k] for k in rest], args.steps)]
            epoch_real, epoch_computed, epoch_ratio = padding_overhead(
                [[real_lengths[i] for i in b] for b in batches], pad_len)
            BenchTrainer.plan = dict(
                epoch_batches=len(batches), epoch_real_tokens=epoch_real, epoch_computed_tokens=epoch_computed,
                epoch_overhead=epoch_ratio, epoch_mean_batch_tokens=float(np.mean(costs)),
                picked_mean_batch_tokens=float(np.mean([costs[k] for k in picked])),
                longest_batch_tokens=int(max(costs)))
            progress("building the training batches", **BenchTrainer.plan)
            return [i for k in warm + picked for i in batches[k]]

    class Clock(TrainerCallback):
        def __init__(self):
            self.marks: dict = {"step_end": []}
            self.stop_after = max_steps

        def on_train_begin(self, args_, state, control, **kw):
            self.marks["train_begin"] = time.perf_counter()
            progress("training step 1 (warm-up, the longest batch)" if args.warmup_steps else "training step 1")
            if args.warmup_steps == 0:
                self.marks["timed_begin"] = (self.marks["train_begin"], _system_busy_seconds(), _own_cpu_seconds())

        def on_step_end(self, args_, state, control, **kw):
            now = time.perf_counter()
            self.marks["step_end"].append(now)
            done = len(self.marks["step_end"])
            if done == args.warmup_steps and done > 0:
                self.marks["timed_begin"] = (now, _system_busy_seconds(), _own_cpu_seconds())
            if done == args.warmup_steps + 1 and args.steps > 3:
                first = now - self.marks["timed_begin"][0]
                affordable = max(3, int(args.max_train_seconds / max(first, 1e-6)))
                if affordable < args.steps:
                    self.stop_after = args.warmup_steps + affordable
            if done >= self.stop_after:
                control.should_training_stop = True
            else:
                progress(f"training step {done + 1}")
            if done == min(self.stop_after, max_steps):
                self.marks["timed_end"] = (now, _system_busy_seconds(), _own_cpu_seconds())
            return control

        def on_epoch_end(self, args_, state, control, **kw):
            self.marks["epoch_end"] = time.perf_counter()
            progress("evaluation")

        def on_evaluate(self, args_, state, control, **kw):
            self.marks["evaluated"] = time.perf_counter()
            progress("checkpoint save")

        def on_save(self, args_, state, control, **kw):
            self.marks["saved"] = time.perf_counter()

    mcc = None
    try:
        from cola_workshop.metrics import load_mcc

        mcc = load_mcc()
    except Exception:  # the metric is not what is measured here; sklearn gives the same number
        pass

    def compute_metrics(prediction):
        predictions = np.argmax(prediction.predictions, axis=-1)
        if mcc is not None:
            return mcc.compute(predictions=predictions, references=prediction.label_ids)
        from sklearn.metrics import matthews_corrcoef

        return {"matthews_correlation": float(matthews_corrcoef(prediction.label_ids, predictions))}

    # Fixed-length padding makes every evaluation batch cost the same: time a few, scale to the whole pass.
    eval_used = eval_rows
    if pad_len is not None:
        wanted = max(1, FIXED_PAD_EVAL_TOKENS // (pad_len * eval_batch_size)) * eval_batch_size
        eval_used = min(eval_rows, wanted)
        eval_set = eval_set.select(range(eval_used))
    result.update(eval_rows_timed=eval_used)

    clock = Clock()
    trainer = BenchTrainer(model=model, args=training_args, train_dataset=train_set, eval_dataset=eval_set,
                           processing_class=tokenizer, data_collator=collator, compute_metrics=compute_metrics,
                           callbacks=[clock])
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    try:
        trainer.train()
    finally:
        import shutil

        shutil.rmtree(out_dir, ignore_errors=True)

    marks = clock.marks
    ends = marks["step_end"]
    result.update(BenchTrainer.plan)
    result["first_step_s"] = ends[0] - marks["train_begin"]
    if "timed_begin" in marks and "timed_end" in marks:
        t0, busy0, own0 = marks["timed_begin"]
        t1, busy1, own1 = marks["timed_end"]
        bounds = [t0] + [t for t in ends[args.warmup_steps :] if t <= t1]
        step_times = [b - a for a, b in zip(bounds, bounds[1:])]
        # The collator saw the training batches in order (accelerate fetches one ahead: index, don't clear).
        timed = collator.batches[args.warmup_steps : args.warmup_steps + len(step_times)]
        samples = sum(b[2] for b in timed)
        result.update(
            timed_steps=len(step_times), step_times=step_times, timed_seconds=t1 - t0,
            seconds_per_step=(t1 - t0) / len(step_times), samples_per_s=samples / (t1 - t0),
            timed_real_tokens=sum(b[0] for b in timed), timed_computed_tokens=sum(b[1] for b in timed),
            others_cpu_share=others_cpu_share(busy1 - busy0, own1 - own0, t1 - t0, os.cpu_count() or 1),
        )
        result["timed_overhead"] = result["timed_computed_tokens"] / max(1, result["timed_real_tokens"])
    if "evaluated" in marks:
        eval_s = marks["evaluated"] - marks["epoch_end"]
        result["eval_s_timed"] = eval_s
        result["eval_s"] = eval_s * eval_rows / eval_used
        scores = [e["eval_matthews_correlation"] for e in trainer.state.log_history if "eval_matthews_correlation" in e]
        result["eval_mcc"] = scores[-1] if scores else None
    if "saved" in marks:
        result["save_s"] = marks["saved"] - marks["evaluated"]
    result["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB
    if cuda:
        result["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / GIB
    if "samples_per_s" in result:
        result["projected_s"] = projected_seconds(settings.epochs, train_rows, result["samples_per_s"],
                                                  result.get("eval_s", 0.0), result.get("save_s", 0.0))
    result["epochs"] = settings.epochs
    return result


def partial_result_path(result_path: Path) -> Path:
    return result_path.with_name(result_path.stem + ".partial.json")


def child_main(args: argparse.Namespace) -> int:
    import traceback

    try:
        result = run_child(args)
    except (MemoryError, RuntimeError) as error:  # torch reports a failed allocation as a RuntimeError
        text = str(error)
        traceback.print_exc()
        oom = isinstance(error, MemoryError) or "allocate" in text or "out of memory" in text.lower()
        result = {"config": args.child, "status": "oom" if oom else "error", "message": text.splitlines()[0][:300]}
    except Exception as error:  # reported by the parent, with the log's tail
        traceback.print_exc()
        result = {"config": args.child, "status": "error", "message": f"{type(error).__name__}: {error}"[:300]}
    args.result.write_text(json.dumps(result))
    return 0 if result["status"] == "ok" else 1


# --------------------------------------------------------------------------------------------------------------
# Parent: run each configuration in a child under a memory cap, then compare
# --------------------------------------------------------------------------------------------------------------


def _tree_rss(process) -> int:
    import psutil

    total = 0
    for proc in [process] + process.children(recursive=True):
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


def wait_for_idle(limit_s: float, threshold: float = 0.15, window_s: float = 3.0) -> float:
    """Wait (at most ``limit_s``) until the machine's CPU use over ``window_s`` is below ``threshold``; the last use."""
    import psutil

    deadline = time.perf_counter() + limit_s
    while True:
        use = psutil.cpu_percent(interval=window_s) / 100
        if use < threshold or time.perf_counter() >= deadline:
            return use


def run_config(name: str, args: argparse.Namespace, cap_bytes: int, workdir: Path) -> dict:
    """Run one configuration in a child process; kill it when its memory passes the cap."""
    import subprocess

    import psutil

    result_path, log_path = workdir / f"{name}.json", workdir / f"{name}.log"
    command = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--result", str(result_path),
               "--steps", str(args.steps), "--warmup-steps", str(args.warmup_steps), "--model", args.model,
               "--data", args.data, "--max-train-seconds", str(args.max_train_seconds)]
    if args.tokenizer:
        command += ["--tokenizer", args.tokenizer]
    if args.threads:
        command += ["--threads", str(args.threads)]
    if args.eval_batch_size:
        command += ["--eval-batch-size", str(args.eval_batch_size)]
    if args.no_save:
        command += ["--no-save"]
    started = time.perf_counter()
    peak, verdict = 0, None
    with open(log_path, "w") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
        watched = psutil.Process(child.pid)
        while child.poll() is None:
            try:
                peak = max(peak, _tree_rss(watched))
            except psutil.Error:
                pass
            if peak > cap_bytes:
                verdict = "oom_cap"
            elif time.perf_counter() - started > args.config_timeout:
                verdict = "timeout"
            if verdict:
                for proc in watched.children(recursive=True):
                    proc.kill()
                child.kill()
                child.wait()
                break
            time.sleep(0.05)
    wall = time.perf_counter() - started
    partial_path = partial_result_path(result_path)
    known = json.loads(partial_path.read_text()) if partial_path.is_file() else {}
    during = f" during {known['phase']}" if known.get("phase") else ""
    if verdict == "oom_cap":
        return {**known, "config": name, "status": "oom", "wall_s": wall, "peak_rss_gib": peak / GIB,
                "message": f"out of memory (needs > {cap_bytes / GIB:.1f} GiB): stopped at {peak / GIB:.1f} GiB "
                f"resident{during}"}
    if verdict == "timeout":
        return {**known, "config": name, "status": "error", "wall_s": wall,
                "message": f"timed out after {args.config_timeout:.0f} s{during}"}
    if result_path.is_file():
        result = json.loads(result_path.read_text())
        if result["status"] != "ok":
            result = {**known, **result}
    elif child.returncode == -9:
        result = {"config": name, "status": "oom", "message": "killed by SIGKILL (the kernel's OOM killer?)"}
    else:
        result = {"config": name, "status": "error", "message": f"exit code {child.returncode}, no result"}
    result["wall_s"] = wall
    result["peak_rss_polled_gib"] = peak / GIB
    if result["status"] != "ok":
        tail = log_path.read_text(errors="replace").strip().splitlines()[-12:]
        result["log_tail"] = tail
    return result


def print_config(result: dict, cap_gib: float, warmup_steps: int) -> None:
    name, config = result["config"], CONFIGS_BY_NAME[result["config"]]
    print(f"\n== {name}: {config.description}")
    if result["status"] != "ok":
        print(f"   {result['status'].upper()}: {result.get('message', '')}  (after {result.get('wall_s', 0):.0f} s)")
        if "epoch_overhead" in result:
            print(f"   tokens, one epoch    : {result['epoch_real_tokens']} real, {result['epoch_computed_tokens']} "
                  f"computed -> padding overhead {result['epoch_overhead']:.2f}x (longest batch "
                  f"{result['longest_batch_tokens']} tokens)")
        for line in result.get("log_tail", []) if result["status"] == "error" else []:
            print(f"   | {line}")
        return
    pad = "dynamic (longest in batch)" if result["pad_len"] is None else f"max_length={result['pad_len']}"
    print(f"   batch {result['batch_size']}, {result['sampling']}, {result['precision']}, padding {pad}, "
          f"truncation {result['truncation_len']}, eval batch {result['eval_batch_size']}, "
          f"torch_compile={result['torch_compile']}, {result['threads']} torch threads, device {result['device']}")
    print(f"   timed steps          : {result['timed_steps']} (after {warmup_steps} warm-up; first step "
          f"{result['first_step_s']:.2f} s)")
    times = sorted(result["step_times"])
    print(f"   seconds / step       : {result['seconds_per_step']:.3f} s mean   (median {times[len(times) // 2]:.3f}, "
          f"min {times[0]:.3f}, max {times[-1]:.3f})")
    print(f"   training samples / s : {result['samples_per_s']:.1f}")
    print(f"   tokens, timed batches: {result['timed_real_tokens']} real, {result['timed_computed_tokens']} computed "
          f"-> overhead {result['timed_overhead']:.2f}x")
    print(f"   tokens, one epoch    : {result['epoch_real_tokens']} real, {result['epoch_computed_tokens']} computed "
          f"-> padding overhead {result['epoch_overhead']:.2f}x  (all {result['epoch_batches']} batches of the "
          "sampler's epoch order)")
    print(f"   batch size in tokens : epoch mean {result['epoch_mean_batch_tokens']:.0f}, timed mean "
          f"{result['picked_mean_batch_tokens']:.0f}, longest {result['longest_batch_tokens']} (in warm-up)")
    eval_note = "" if result["eval_rows_timed"] == result["eval_rows"] else \
        f" (timed on {result['eval_rows_timed']} sentences, scaled)"
    print(f"   evaluation, {result['eval_rows']} sent.: {format_duration(result.get('eval_s'))}{eval_note}")
    print(f"   checkpoint save      : {format_duration(result.get('save_s'))}")
    mem = f"{result['peak_rss_gib']:.2f} GiB"
    if "peak_gpu_gib" in result:
        mem += f", GPU {result['peak_gpu_gib']:.2f} GiB allocated"
    print(f"   peak resident memory : {mem}")
    print(f"   projected {result['epochs']:g} epochs   : {format_duration(result['projected_s'])}  "
          f"({result['epochs']:g} x ({result['train_rows']} / {result['samples_per_s']:.1f} samples/s + eval + save))")
    share = result.get("others_cpu_share", float("nan"))
    warn = "  <- other processes competed for the CPU: timings are pessimistic" if share > 0.1 else ""
    print(f"   other processes' CPU : {100 * share:.0f}% of the machine while timing{warn}")


def print_summary(results: list[dict]) -> None:
    ok = {r["config"]: r for r in results if r["status"] == "ok"}
    baseline = "tutorial" if "tutorial" in ok else "run_glue" if "run_glue" in ok else None
    base = ok.get(baseline)
    print("\n== Summary" + (f" (ratios vs {baseline})" if base else ""))
    header = f"{'configuration':<17}{'s/step':>8}{'samples/s':>11}{'speed-up':>10}{'padding':>9}{'peak RSS':>11}" \
             f"{'eval':>9}{'projected':>11}{'time ratio':>12}{'others CPU':>12}"
    print(header)
    print("-" * len(header))
    for r in results:
        if r["status"] != "ok":
            what = "out of memory" if r["status"] == "oom" else "failed"
            rss = f"> {r['peak_rss_gib']:.1f} GiB" if r.get("peak_rss_gib") else ""
            pad = f"{r['epoch_overhead']:>8.2f}x" if "epoch_overhead" in r else f"{'':>9}"
            print(f"{r['config']:<17}{what:>19}{'':>10}{pad}{rss:>11}")
            continue
        speed = f"{r['samples_per_s'] / base['samples_per_s']:.1f}x" if base else ""
        ratio = f"{r['projected_s'] / base['projected_s']:.3f}" if base else ""
        print(f"{r['config']:<17}{r['seconds_per_step']:>8.2f}{r['samples_per_s']:>11.1f}{speed:>10}"
              f"{r['epoch_overhead']:>8.2f}x{r['peak_rss_gib']:>7.2f} GiB{format_duration(r.get('eval_s')):>9}"
              f"{format_duration(r['projected_s']):>11}{ratio:>12}{100 * r.get('others_cpu_share', 0):>11.0f}%")
    w = ok.get("workshop")
    print("\n== Goals for the workshop configuration")
    if not w:
        print("   workshop configuration not measured")
        return
    minutes = w["projected_s"] / 60
    rows = [
        (f"{w['epochs']:g} epochs incl. eval + save <= {GOAL_MINUTES:g} min", f"{minutes:.1f} min",
         goal_verdict(minutes, GOAL_MINUTES)),
        (f"padding overhead (one epoch) <= {GOAL_OVERHEAD:g}x", f"{w['epoch_overhead']:.2f}x",
         goal_verdict(w["epoch_overhead"], GOAL_OVERHEAD)),
        (f"peak resident memory <= {GOAL_RSS_GIB:g} GiB", f"{w['peak_rss_gib']:.2f} GiB",
         goal_verdict(w["peak_rss_gib"], GOAL_RSS_GIB)),
        (f"(training samples/s >= {GOAL_SAMPLES_PER_S:g})", f"{w['samples_per_s']:.1f}",
         goal_verdict(w["samples_per_s"], GOAL_SAMPLES_PER_S, higher_is_better=True)),
    ]
    for label, value, verdict in rows:
        print(f"   {label:<42}{value:>10}   {verdict}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args)
    if args.list:
        for config in CONFIGS:
            print(f"{config.name:<17}{'' if config.default else '(extra) '}{config.description}")
        return 0

    import platform
    import shutil
    import tempfile

    import psutil

    available = psutil.virtual_memory().available
    cap_gib = min(args.mem_cap_gib, 0.85 * available / GIB)
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print("Training speed of the workshop recipe (GPT-2 small sequence classification on CoLA)")
    print(f"model {args.model}, data {args.data}, tokenizer {args.tokenizer or args.model}")
    print(f"machine: {cpu}, {os.cpu_count()} logical CPUs, {psutil.virtual_memory().total / GIB:.1f} GiB RAM "
          f"({available / GIB:.1f} available); memory cap per configuration {cap_gib:.1f} GiB; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{args.warmup_steps} warm-up + {args.steps} timed optimizer steps per configuration "
          f"(fewer when {args.max_train_seconds:.0f} s would not suffice), then one evaluation"
          f"{'' if args.no_save else ' + checkpoint save'}")
    sys.stdout.flush()

    results = []
    workdir = Path(tempfile.mkdtemp(prefix="train_speed_"))
    try:
        for name in args.config_names:
            if args.wait_for_idle > 0:
                busy = wait_for_idle(args.wait_for_idle)
                if busy >= 0.15:
                    print(f"\n(the CPU is still {100 * busy:.0f}% busy with other processes: measuring anyway)")
            result = run_config(name, args, int(cap_gib * GIB), workdir)
            results.append(result)
            print_config(result, cap_gib, args.warmup_steps)
            sys.stdout.flush()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print_summary(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if all(r["status"] in ("ok", "oom") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
