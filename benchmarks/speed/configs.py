"""The training configurations the benchmark compares, and the goals the workshop's recipe must meet.

Each configuration says only what differs from the workshop's recipe (the ``full`` profile); everything else
(data, tokenizer, model, learning rate, evaluation, checkpointing) is the recipe's.
"""

from __future__ import annotations

import dataclasses

GIB = 1024**3

# The goals the workshop's `full` profile must meet on a learner's CPU laptop.
GOAL_MINUTES = 12.0  # settings.epochs epochs, per-epoch evaluation and checkpoint included
GOAL_OVERHEAD = 1.1  # computed (padded) tokens / real tokens over an epoch
GOAL_RSS_GIB = 4.0  # peak resident memory of the training process
GOAL_SAMPLES_PER_S = 36.0  # what 3 epochs of 8551 sentences in 12 minutes need
# The end-to-end mode's goals: training samples / s against the reference, and the six notebooks' time outside
# notebook 05's trainer.train().
GOAL_SPEEDUP = 5.0
GOAL_OUTSIDE_TRAINING_S = 90.0

# Timed batches are evaluation batches of this many padded tokens when a configuration pads to a fixed
# length (all its evaluation batches then cost the same, so a few of them give the time of a whole pass).
FIXED_PAD_EVAL_TOKENS = 8192

# What the end-to-end mode measures the workshop against, over the same epochs and samples.
REFERENCE_CONFIG = "trainer_b8"


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """One way of training: what differs from the workshop's recipe, everything else is the recipe."""

    name: str
    description: str
    batch_size: int | None = None  # None: settings.batch_size
    eval_batch_size: int | None = None  # None: settings.eval_batch_size
    sampling: str = "profile"  # "profile" (settings.group_by_length), "group_by_length" or "random"
    precision: str = "profile"  # "profile" (mixed precision as the workshop picks it) or "fp32"
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
    BenchConfig(
        REFERENCE_CONFIG,
        "the plain Trainer recipe of the HF course: dynamic padding (DataCollatorWithPadding), batch 8, "
        "random order, fp32; the end-to-end mode's reference",
        batch_size=8,
        eval_batch_size=8,
        sampling="random",
        precision="fp32",
        default=False,
    ),
]
CONFIGS_BY_NAME = {config.name: config for config in CONFIGS}
DEFAULT_CONFIGS = [config.name for config in CONFIGS if config.default]
