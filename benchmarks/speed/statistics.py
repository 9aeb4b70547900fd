"""Padding and timing arithmetic: pure helpers (no torch at import), unit-tested in tests/test_benchmark.py.

Padding overhead is computed tokens (every sequence padded to its batch's width) over real tokens; it is what
dynamic padding and length-grouped batches exist to shrink.
"""

from __future__ import annotations

import math


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


def others_cpu_share(system_busy_s: float, own_cpu_s: float, wall_s: float, cpus: int) -> float:
    """Fraction of the machine's CPU time that other processes used while we measured (0 = quiet machine)."""
    if wall_s <= 0 or cpus <= 0:
        return float("nan")
    return max(0.0, system_busy_s - own_cpu_s) / (wall_s * cpus)


def goal_verdict(value: float | None, limit: float, higher_is_better: bool = False) -> str:
    """PASS / MISS against a goal, n/a when nothing was measured."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    ok = value >= limit if higher_is_better else value <= limit
    return "PASS" if ok else "MISS"


def format_duration(seconds: float | None) -> str:
    """Seconds, minutes or hours with one decimal: durations here span 0.1 s to hours."""
    if seconds is None or not math.isfinite(seconds):
        return "n/a"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def sampler_epoch(lengths: list[int], batch_size: int, strategy: str, seed: int) -> list[int]:
    """One epoch's index order as the Trainer's sampler draws it (``group_by_length`` or ``random``), seeded.

    The Trainer seeds its sampler from the global RNG, so this is an epoch of the same kind, not the very
    order of a given run; padding overhead varies little between such epochs.
    """
    import torch
    from transformers.trainer_pt_utils import get_length_grouped_indices

    generator = torch.Generator().manual_seed(seed)
    if strategy == "group_by_length":
        return [int(i) for i in get_length_grouped_indices(lengths, batch_size, generator=generator)]
    return [int(i) for i in torch.randperm(len(lengths), generator=generator)]


def epoch_padding(lengths: list[int], batch_size: int, strategy: str, seed: int) -> tuple[int, int, float]:
    """(real, computed, overhead) over one epoch of dynamically padded batches in the sampler's order."""
    batches = chunk(sampler_epoch(lengths, batch_size, strategy, seed), batch_size)
    return padding_overhead([[lengths[i] for i in batch] for batch in batches])
