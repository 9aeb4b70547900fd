"""The parts a benchmark child trains with: the workshop's loaders and Trainer, changed only where measured.

Everything here is what notebooks 03-05 do (``cola_workshop`` loaders, ``tokenizer(..., truncation=True,
max_length=settings.max_length)``, ``DataCollatorWithPadding``, the ``full`` profile's ``TrainingArguments``),
plus the few changes a configuration names (fixed padding, batch size, order, precision) and the instruments
that count tokens and time steps without changing what is computed.
"""

from __future__ import annotations

import argparse
import time

from .configs import BenchConfig
from .machine import own_cpu_seconds, system_busy_seconds
from .statistics import batch_tokens, chunk, padding_overhead, pick_representative


def child_settings(args: argparse.Namespace):
    """The ``full`` profile with the benchmark's data, epochs and training subset."""
    from cola_workshop.settings import load_settings

    return load_settings(environ={}, profile="full", data=args.data, epochs=args.epochs,
                         max_train_samples=args.max_train_samples)


def load_model(args: argparse.Namespace, tokenizer):
    """(model, description): GPT-2 small's architecture with random weights, or a checkpoint's classifier."""
    from transformers import GPT2Config, GPT2ForSequenceClassification

    from cola_workshop.models import ID2LABEL, LABEL2ID, load_classifier

    if args.model == "random":
        config = GPT2Config(num_labels=2, id2label=ID2LABEL, label2id=LABEL2ID, pad_token_id=tokenizer.pad_token_id)
        return GPT2ForSequenceClassification(config), "GPT2Config() random init"
    return load_classifier(args.model, tokenizer), args.model


def tokenize_dataset(config: BenchConfig, dataset, tokenizer, settings, model) -> tuple:
    """(tokenized train, tokenized validation, pad length or None): the recipe's, or the fixed padding of
    run_glue (128) / the tutorial (the model's maximum length)."""
    model_max = tokenizer.model_max_length
    if not model_max or model_max > 100_000:  # the bare vocab.json/merges.txt tokenizer carries no limit
        model_max = model.config.n_positions
    pad_len = None if config.pad_to is None else model_max if config.pad_to == "model" else int(config.pad_to)

    def tokenize(batch):
        if pad_len is None:
            return tokenizer(batch["sentence"], truncation=True, max_length=settings.max_length)
        return tokenizer(batch["sentence"], padding="max_length", truncation=True, max_length=pad_len)

    dataset.pop("test", None)
    tokenized = dataset.map(tokenize, batched=True)
    return tokenized["train"], tokenized["validation"], pad_len


def precision_for(config: BenchConfig, settings) -> tuple[dict, str]:
    """(TrainingArguments fields, label): the workshop's own choice (``cola_workshop.hardware``) or fp32."""
    import torch

    from cola_workshop.hardware import precision_arguments

    if config.precision == "profile":
        fields = precision_arguments(settings)
    else:
        fields = {} if torch.cuda.is_available() or torch.backends.mps.is_available() else {"use_cpu": True}
    label = "bf16 autocast" if fields.get("bf16") else "fp16 autocast" if fields.get("fp16") else "fp32"
    return fields, label


def training_arguments(config: BenchConfig, settings, args: argparse.Namespace, out_dir: str, *, batch_size: int,
                       eval_batch_size: int, group: bool, precision: dict, max_steps: int | None = None,
                       steps_per_epoch: int = 1):
    """The recipe's TrainingArguments (notebook 04), for ``max_steps`` steps or ``settings.epochs`` epochs."""
    from transformers import TrainingArguments

    length = {"max_steps": max_steps} if max_steps else {"num_train_epochs": settings.epochs}
    return TrainingArguments(
        output_dir=out_dir,
        learning_rate=settings.learning_rate,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=eval_batch_size,
        **length,
        weight_decay=settings.weight_decay,
        warmup_steps=settings.warmup_ratio,  # transformers 5: a float < 1 is a ratio (warmup_ratio is gone)
        train_sampling_strategy="group_by_length" if group else "random",
        **precision,
        seed=settings.seed,
        eval_strategy="epoch",
        save_strategy="no" if args.no_save else "epoch",
        save_total_limit=2,
        logging_steps=max(1, steps_per_epoch // 10),
        report_to="none",
        dataloader_num_workers=0,
        torch_compile=config.torch_compile,
        disable_tqdm=True,
    )


class RecordingCollator:
    """DataCollatorWithPadding, counting real and computed tokens of the batches the Trainer draws.

    ``recording`` is switched off while the Trainer evaluates (``training_only_trainer_class``), so that
    ``batches`` holds training batches only, in the order they were drawn.
    """

    def __init__(self, inner):
        self.inner, self.batches, self.recording = inner, [], True

    def __call__(self, features):
        batch = self.inner(features)
        if self.recording:
            self.batches.append((int(batch["attention_mask"].sum()), int(batch["input_ids"].numel()),
                                 int(batch["input_ids"].shape[0])))
        return batch


def training_only_trainer_class(base=None):
    """``base`` (the Trainer) with the recording collator paused during evaluation."""
    if base is None:
        from transformers import Trainer as base

    class RecordingTrainer(base):
        def evaluate(self, *args, **kwargs):
            collator = self.data_collator
            was = getattr(collator, "recording", None)
            if was is not None:
                collator.recording = False
            try:
                return super().evaluate(*args, **kwargs)
            finally:
                if was is not None:
                    collator.recording = was

    return RecordingTrainer


def plan_batches(order: list[int], real_lengths: list[int], batch_size: int, pad_len: int | None,
                 warmup_steps: int, steps: int) -> tuple[list[int], dict]:
    """(sample order to train on, facts about the epoch): warm-up batches, then representative ones.

    The warm-up takes the epoch's longest batch (so the peak memory is the epoch's) and then median ones;
    the timed steps take batches spread evenly over the epoch's distribution of batch sizes in tokens.
    """
    import numpy as np

    batches = chunk(order, batch_size)
    costs = [batch_tokens([real_lengths[i] for i in b], pad_len)[1] for b in batches]
    full = [k for k, b in enumerate(batches) if len(b) == batch_size] or list(range(len(batches)))
    warm = []
    if warmup_steps >= 1:
        warm.append(max(full, key=lambda k: costs[k]))
    if warmup_steps >= 2:
        by_cost = sorted(full, key=lambda k: costs[k])
        warm += [by_cost[len(by_cost) // 2]] * (warmup_steps - 1)
    rest = [k for k in full if k not in warm]
    picked = [rest[p] for p in pick_representative([costs[k] for k in rest], steps)]
    real, computed, ratio = padding_overhead([[real_lengths[i] for i in b] for b in batches], pad_len)
    facts = dict(epoch_batches=len(batches), epoch_real_tokens=real, epoch_computed_tokens=computed,
                 epoch_overhead=ratio, epoch_mean_batch_tokens=float(np.mean(costs)),
                 picked_mean_batch_tokens=float(np.mean([costs[k] for k in picked])) if picked else float("nan"),
                 longest_batch_tokens=int(max(costs)))
    return [i for k in warm + picked for i in batches[k]], facts


def planned_trainer_class(plan_order):
    """A Trainer whose only change is the training order: ``plan_order(sampler_epoch)`` gives the samples.

    The sampler is the recipe's own, so the epoch the plan is cut from is one the recipe would really draw.
    """
    from transformers import Trainer

    class PlannedTrainer(Trainer):
        def _get_train_sampler(self, train_dataset=None):
            sampler = super()._get_train_sampler(train_dataset)
            return plan_order([int(i) for i in sampler])

    return PlannedTrainer


def clock_callback(warmup_steps: int, steps: int, max_train_seconds: float, progress):
    """A TrainerCallback that marks when steps, the epoch, evaluation and the save end (wall clock, CPU use)."""
    from transformers import TrainerCallback

    max_steps = warmup_steps + steps

    class Clock(TrainerCallback):
        def __init__(self):
            self.marks: dict = {"step_end": []}
            self.stop_after = max_steps

        def _mark_timed(self, key: str, now: float) -> None:
            self.marks[key] = (now, system_busy_seconds(), own_cpu_seconds())

        def on_train_begin(self, args_, state, control, **kw):
            self.marks["train_begin"] = time.perf_counter()
            progress("training step 1 (warm-up, the longest batch)" if warmup_steps else "training step 1")
            if warmup_steps == 0:
                self._mark_timed("timed_begin", self.marks["train_begin"])

        def on_step_end(self, args_, state, control, **kw):
            now = time.perf_counter()
            self.marks["step_end"].append(now)
            done = len(self.marks["step_end"])
            if done == warmup_steps and done > 0:
                self._mark_timed("timed_begin", now)
            if done == warmup_steps + 1 and steps > 3:  # slow configurations time fewer steps
                affordable = max(3, int(max_train_seconds / max(now - self.marks["timed_begin"][0], 1e-6)))
                self.stop_after = min(self.stop_after, warmup_steps + affordable)
            if done >= self.stop_after:
                control.should_training_stop = True
            else:
                progress(f"training step {done + 1}")
            if done == self.stop_after:
                self._mark_timed("timed_end", now)
            return control

        def on_epoch_end(self, args_, state, control, **kw):
            self.marks["epoch_end"] = time.perf_counter()
            if "timed_begin" in self.marks and "timed_end" not in self.marks:  # a subset shorter than planned
                self._mark_timed("timed_end", self.marks["step_end"][-1])
            control.should_training_stop = True  # one epoch: the planned batches, then evaluation and save
            progress("evaluation")
            return control

        def on_evaluate(self, args_, state, control, **kw):
            self.marks["evaluated"] = time.perf_counter()
            progress("checkpoint save")

        def on_save(self, args_, state, control, **kw):
            self.marks["saved"] = time.perf_counter()

    return Clock()


def compute_metrics_function():
    """MCC (and accuracy), as notebook 05 reports them; scikit-learn's MCC where ``evaluate`` cannot load."""
    import numpy as np

    try:
        from cola_workshop.metrics import load_mcc

        mcc = load_mcc()
    except Exception:  # the metric is not what is measured here; scikit-learn gives the same number
        mcc = None

    def compute_metrics(prediction):
        predictions = np.argmax(prediction.predictions, axis=-1)
        accuracy = float((predictions == prediction.label_ids).mean())
        if mcc is not None:
            return {**mcc.compute(predictions=predictions, references=prediction.label_ids), "accuracy": accuracy}
        from sklearn.metrics import matthews_corrcoef

        return {"matthews_correlation": float(matthews_corrcoef(prediction.label_ids, predictions)),
                "accuracy": accuracy}

    return compute_metrics
