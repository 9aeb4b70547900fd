"""One configuration of the workshop's recipe, trained in its own process: the child of ``train_speed.py``.

    .venv/bin/python benchmarks/recipe_run.py CONFIG --outputs DIR --result FILE [--whole]

The recipe is notebook 04's saved ``training_args.json`` (never re-typed here) with the few fields a configuration
changes, on the split and tokenizer notebook 03 saved. By default it trains ``--warmup`` steps on the epoch's
longest batch, then ``--steps`` timed steps on batches spread over the epoch's batch sizes, then the recipe's
per-epoch evaluation and save; ``--whole`` trains all the recipe's epochs and keeps the Trainer's log. It writes
what it measured to ``--result`` as JSON. It imports nothing from beside it.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

GIB = 1024**3
FP32 = {"bf16": False, "fp16": False}
BATCH8 = {"per_device_train_batch_size": 8, "per_device_eval_batch_size": 8, "train_sampling_strategy": "random",
          **FP32}  # fmt: skip
# name: (what it is, the fields of notebook 04's TrainingArguments it changes, padding: None = dynamic).
CONFIGS = {
    "workshop": ("the recipe as notebook 04 saved it", {}, None),
    "fp32": ("the recipe without bf16 autocast", FP32, None),
    "random_order": ("the recipe with batches in random order", {"train_sampling_strategy": "random"}, None),
    "fused_gelu": ("the recipe with GPT-2's tanh GELU as one kernel (gelu_pytorch_tanh), not as notebook 05 loads it",
                   {}, None),
    "batch8": ("the reference: the HF course's plain Trainer, batch 8, random order, fp32, dynamic padding",
               BATCH8, None),
    "run_glue": ("transformers' run_glue example: batch 8, random order, fp32, every sentence padded to 128",
                 BATCH8, 128),
    "tutorial": ("the HF tutorial: batch 8, random order, fp32, padded to the model's 1,024 positions",
                 BATCH8, 1024),
}

#: Every configuration loads GPT-2 as shipped (``gelu_new``, as notebook 05 does) but this one, which computes the
#: same tanh GELU as one kernel (``gelu_pytorch_tanh``): it measures what the fused kernel would save.
FUSED_GELU = {"fused_gelu"}

# ---- padding arithmetic (pure) -------------------------------------------------------------------------------


def padding_overhead(batches: list[list[int]], pad_to: int | None = None) -> float:
    """Computed tokens (each sequence padded to its batch's longest, or to ``pad_to``) over real tokens."""
    real = sum(sum(lengths) for lengths in batches)
    computed = sum((pad_to or max(lengths)) * len(lengths) for lengths in batches if lengths)
    return computed / real if real else float("nan")


def spread(costs: list[float], count: int) -> list[int]:
    """Positions of ``count`` items at the quantiles of ``costs``, in their order: a fair sample of an epoch's
    batches (the length-grouped sampler puts each mega-batch's longest batch first)."""
    if count >= len(costs):
        return list(range(len(costs)))
    ranked = sorted(range(len(costs)), key=lambda i: (costs[i], i))
    return sorted({ranked[int((i + 0.5) * len(ranked) / count)] for i in range(count)})


# ---- training one configuration ----------------------------------------------------------------------------


def classifier_config(model: str, name: str, pad_token_id: int):
    """The classifier's config for configuration ``name``: GPT-2 small's (``random``, with the tokenizer's padding id)
    or the checkpoint's, two labels, and a GPT-2 family's tanh GELU as shipped (``gelu_new``, several element-wise
    steps), or as one kernel (``gelu_pytorch_tanh``) in the ``fused_gelu`` configuration."""
    from transformers import AutoConfig, GPT2Config

    if model == "random":
        config = GPT2Config(num_labels=2, pad_token_id=pad_token_id)
    else:
        config = AutoConfig.from_pretrained(model, num_labels=2)  # its padding id is set after loading
    if getattr(config, "activation_function", None) in ("gelu_new", "gelu_pytorch_tanh"):
        config.activation_function = "gelu_pytorch_tanh" if name in FUSED_GELU else "gelu_new"
    return config


def recipe_parts(outputs: Path, model: str, name: str, workdir: str, **more) -> dict:
    """Notebook 03's split and tokenizer, notebook 04's arguments with the configuration's (and ``more``)
    changes, a model."""
    import torch
    from datasets import load_from_disk
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainingArguments

    saved = json.loads((outputs / "04_training_args" / "training_args.json").read_text())
    _, changes, pad_to = CONFIGS[name]
    args = TrainingArguments(**{**saved, **changes, **more, "output_dir": workdir, "report_to": "none",
                                "disable_tqdm": True})
    tokenized = load_from_disk(str(outputs / "03_preprocessing" / "tokenized"))
    tokenizer = AutoTokenizer.from_pretrained(outputs / "03_preprocessing" / "tokenizer")
    torch.manual_seed(args.seed)
    config = classifier_config(model, name, tokenizer.pad_token_id)
    if model == "random":
        classifier = AutoModelForSequenceClassification.from_config(config)
    else:
        classifier = AutoModelForSequenceClassification.from_pretrained(model, config=config)
        classifier.config.pad_token_id = tokenizer.pad_token_id
    return dict(args=args, train=tokenized["train"], validation=tokenized["validation"], tokenizer=tokenizer,
                model=classifier, pad_to=pad_to)


class CountingCollator:
    """DataCollatorWithPadding, noting (real tokens, computed tokens, rows) of each training batch."""

    def __init__(self, tokenizer, pad_to: int | None):
        from transformers import DataCollatorWithPadding

        fixed = {"padding": "max_length", "max_length": pad_to} if pad_to else {}
        self.inner, self.batches, self.recording = DataCollatorWithPadding(tokenizer, **fixed), [], True

    def __call__(self, features):
        batch = self.inner(features)
        if self.recording:
            mask = batch["attention_mask"]
            self.batches.append((int(mask.sum()), mask.numel(), mask.shape[0]))
        return batch


def make_trainer(parts: dict, collator: CountingCollator, plan=None, callbacks=()):
    """The workshop's Trainer; ``plan(sampler order) -> order`` picks the timed batches; evaluation not counted."""
    import numpy as np
    from sklearn.metrics import matthews_corrcoef
    from transformers import Trainer

    class BenchTrainer(Trainer):
        def _get_train_sampler(self, *args, **kwargs):
            sampler = super()._get_train_sampler(*args, **kwargs)
            return plan([int(i) for i in sampler]) if plan else sampler

        def evaluate(self, *args, **kwargs):
            collator.recording = False
            try:
                return super().evaluate(*args, **kwargs)
            finally:
                collator.recording = True

    def metrics(prediction):
        predicted = np.argmax(prediction.predictions, axis=-1)
        return {"matthews_correlation": float(matthews_corrcoef(prediction.label_ids, predicted))}

    return BenchTrainer(model=parts["model"], args=parts["args"], train_dataset=parts["train"],
                        eval_dataset=parts["validation"], processing_class=parts["tokenizer"], data_collator=collator,
                        compute_metrics=metrics, callbacks=list(callbacks))


def clock():
    """A TrainerCallback noting when each step, the epoch, the evaluation and the save end."""
    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        def __init__(self):
            self.marks: dict = {"steps": []}

        def on_step_end(self, args, state, control, **kwargs):
            self.marks["steps"].append(time.perf_counter())

        def on_epoch_end(self, args, state, control, **kwargs):
            self.marks["epoch_end"] = time.perf_counter()

        def on_evaluate(self, args, state, control, **kwargs):
            self.marks["evaluated"] = time.perf_counter()

        def on_save(self, args, state, control, **kwargs):
            self.marks["saved"] = time.perf_counter()

    return Clock()


def non_embedding_parameters(model) -> int:
    import torch

    embedded = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding))
    return model.num_parameters() - embedded


def run_child(args: argparse.Namespace, workdir: str) -> dict:
    """Train one configuration: ``--steps`` timed steps on a fair sample of an epoch's batches, then the
    recipe's per-epoch evaluation and save (``--whole`` instead: all the recipe's epochs, the Trainer's log kept)."""
    from cola_workshop.hardware import precision_label

    parts = recipe_parts(args.outputs, args.model, args.child, workdir)
    train_args, collator = parts["args"], CountingCollator(parts["tokenizer"], parts["pad_to"])
    lengths = [len(ids) for ids in parts["train"]["input_ids"]]
    batch = train_args.per_device_train_batch_size
    result = {"config": args.child, "batch_size": batch, "sampling": train_args.train_sampling_strategy,
              "precision": precision_label(train_args), "train_rows": len(lengths),
              "epochs": train_args.num_train_epochs,
              "non_embedding_parameters": non_embedding_parameters(parts["model"])}
    if args.whole:
        trainer = make_trainer(parts, collator)
        trainer.train()
        real, computed = sum(b[0] for b in collator.batches), sum(b[1] for b in collator.batches)
        return {**result, "log_history": trainer.state.log_history, "padding_overhead": computed / real,
                "real_tokens_per_epoch": sum(lengths), "peak_rss_gib": _peak_rss_gib()}
    plan_facts: dict = {}

    def plan(order: list[int]) -> list[int]:
        batches = [order[i : i + batch] for i in range(0, len(order), batch)]
        sizes = [[lengths[i] for i in b] for b in batches]
        costs = [(parts["pad_to"] or max(s)) * len(s) for s in sizes]
        longest = max(range(len(batches)), key=costs.__getitem__)  # warm-up: the epoch's peak memory
        picked = [longest] * args.warmup + spread(costs, args.steps)
        plan_facts["padding_overhead"] = padding_overhead(sizes, parts["pad_to"])
        return [i for k in picked for i in batches[k]]

    timer = clock()
    train_args.max_steps = args.warmup + args.steps  # the planned batches are one short epoch
    make_trainer(parts, collator, plan, [timer]).train()
    marks = timer.marks
    ends = marks["steps"][args.warmup - 1 :]
    timed, seconds = collator.batches[args.warmup : args.warmup + len(ends) - 1], ends[-1] - ends[0]
    return {**result, **plan_facts, "timed_steps": len(timed), "seconds_per_step": seconds / max(1, len(timed)),
            "samples_per_s": sum(b[2] for b in timed) / seconds,
            "real_tokens_per_s": sum(b[0] for b in timed) / seconds,
            "eval_s": marks.get("evaluated", 0) - marks.get("epoch_end", 0), "peak_rss_gib": _peak_rss_gib(),
            "save_s": marks["saved"] - marks["evaluated"] if "saved" in marks and "evaluated" in marks else 0.0}


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB  # Linux: KiB


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="recipe_run.py", description=__doc__.split("\n")[0])
    parser.add_argument("child", choices=list(CONFIGS), metavar="CONFIG", help=f"one of {', '.join(CONFIGS)}")
    parser.add_argument("--outputs", type=Path, required=True, help="a run's outputs folder (stages 03 and 04)")
    parser.add_argument("--result", type=Path, required=True, help="where the JSON result goes")
    parser.add_argument("--model", default="random", help="'random' (GPT-2 small's architecture) or a checkpoint")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--whole", action="store_true", help="all the recipe's epochs, the Trainer's log kept")
    args = parser.parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="recipe_run_")
    try:
        args.result.write_text(json.dumps(run_child(args, workdir)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # the checkpoints: 0.5 GB each for GPT-2 small


if __name__ == "__main__":
    main()
