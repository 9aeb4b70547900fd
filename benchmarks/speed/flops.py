"""Model FLOPs utilization (MFU): how much of the machine's matmul peak the training actually uses.

A training step of a decoder costs about 6 FLOPs per non-embedding parameter per token (2 forward, 4 backward;
Kaplan et al. 2020, "Scaling laws for neural language models"). Only real tokens count: the FLOPs spent on
padding are waste, so padding lowers MFU exactly as it lowers useful throughput. Embedding lookups are not
matmuls and are left out, as in that paper.
"""

from __future__ import annotations

import math

FLOPS_PER_PARAMETER_TOKEN = 6  # forward 2 + backward 4


def matmul_flops(size: int, iterations: int = 1) -> int:
    """FLOPs of ``iterations`` square ``size`` x ``size`` matmuls: 2 n^3 each (a multiply and an add per term)."""
    return 2 * size**3 * iterations


def model_flops_per_s(non_embedding_parameters: int, real_tokens_per_s: float) -> float:
    """Useful training FLOP/s: 6 x non-embedding parameters x real (non-padding) tokens per second."""
    return FLOPS_PER_PARAMETER_TOKEN * non_embedding_parameters * real_tokens_per_s


def mfu(achieved_flops_per_s: float | None, peak_flops_per_s: float | None) -> float:
    """Achieved over peak FLOP/s; NaN when either is unknown."""
    if not achieved_flops_per_s or not peak_flops_per_s or peak_flops_per_s <= 0:
        return float("nan")
    return achieved_flops_per_s / peak_flops_per_s


def training_mfu(non_embedding_parameters: int | None, real_tokens_per_s: float | None,
                 peak_flops_per_s: float | None) -> float:
    """MFU of a training run from its parameter count and real-token throughput."""
    if not non_embedding_parameters or not real_tokens_per_s:
        return float("nan")
    return mfu(model_flops_per_s(non_embedding_parameters, real_tokens_per_s), peak_flops_per_s)


def format_flops(flops_per_s: float | None) -> str:
    """FLOP/s in G or T, the scales of a laptop CPU and a data-centre GPU."""
    if flops_per_s is None or not math.isfinite(flops_per_s):
        return "n/a"
    if flops_per_s >= 1e12:
        return f"{flops_per_s / 1e12:.2f} TFLOP/s"
    return f"{flops_per_s / 1e9:.1f} GFLOP/s"


def format_mfu(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{100 * value:.1f}%"


def non_embedding_parameters(model) -> int:
    """Parameters outside the model's embedding tables (token and position), each shared tensor counted once."""
    import torch

    total = sum(parameter.numel() for parameter in model.parameters())  # parameters() yields tied ones once
    embedded = {id(module.weight): module.weight.numel() for module in model.modules()
                if isinstance(module, torch.nn.Embedding)}
    return total - sum(embedded.values())


def checkpoint_non_embedding_parameters(folder: str, num_labels: int = 2) -> int:
    """``non_embedding_parameters`` of the sequence classifier a checkpoint folder makes, built without memory
    (on PyTorch's meta device: shapes only, no weights are read)."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    config = AutoConfig.from_pretrained(folder, num_labels=num_labels, trust_remote_code=False)
    with torch.device("meta"):
        model = AutoModelForSequenceClassification.from_config(config)
    return non_embedding_parameters(model)
