"""Which device trains, and in which precision: decided once, from what the machine offers."""

from __future__ import annotations

from functools import lru_cache

from .settings import Settings


# bf16 must beat float32 by this factor before a CPU computes in it: a clear win (about 1.75x on a 2-core AMD EPYC
# with AVX512-BF16), never a coin toss between two close timings.
BF16_SPEEDUP_NEEDED = 1.25


def cpu_supports_bf16() -> bool:
    """True on CPUs with native bfloat16 instructions (e.g. AVX512-BF16, AMX). Having them does not make bf16 fast:
    see :func:`cpu_bf16_is_faster`."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def matmul_seconds(dtype, rows: int = 256) -> float:
    """One timing of a matrix product of GPT-2 small's MLP shape (rows x 768 @ 768 x 3072) in ``dtype``."""
    import time

    import torch

    left, right = torch.full((rows, 768), 0.5, dtype=dtype), torch.full((768, 3072), 0.25, dtype=dtype)
    start = time.perf_counter()
    left @ right
    return time.perf_counter() - start


@lru_cache(maxsize=1)
def cpu_bf16_is_faster() -> bool:
    """True when this CPU has native bf16 and multiplies matrices in it at least ``BF16_SPEEDUP_NEEDED`` times as
    fast as in float32, timed once per process (a tenth of a second or so, more on a busy machine).

    Native instructions alone do not decide it: on a 2-core Intel Xeon (model 207) whose AVX512-BF16 is exposed
    without AMX, bf16 products ran at 0.3x to 0.6x the speed of float32 and the recipe trained 21% slower in bf16
    autocast (``benchmarks/README.md``), while a 2-core AMD EPYC with AVX512-BF16 trained 1.75x faster.

    Every kernel times it again for its settings line; training uses the decision notebook 04 saved with the
    arguments. The margin keeps the two from disagreeing on the CPUs measured so far (0.3x to 0.6x, and 1.75x); a
    CPU close to 1.25x could print one precision in a settings line and train in the other.
    """
    import torch

    if not cpu_supports_bf16():
        return False
    timings = {torch.float32: [], torch.bfloat16: []}
    for _ in range(4):  # alternating, so that a busy moment slows both; the first round only prepares the kernels
        for dtype, seconds in timings.items():
            seconds.append(matmul_seconds(dtype))
    fp32, bf16 = (min(seconds[1:]) for seconds in timings.values())
    return fp32 >= BF16_SPEEDUP_NEEDED * bf16


def precision_arguments(settings: Settings) -> dict:
    """TrainingArguments fields for this machine: bf16 (or fp16) on a GPU, bf16 autocast on CPUs where it is faster.

    ``settings.precision`` ``bf16`` or ``fp32`` forces that precision instead (bf16 autocast runs on any x86 CPU).
    On a CPU-only machine transformers 5 needs ``use_cpu=True`` before it accepts ``bf16=True``.
    """
    import torch

    forced = getattr(settings, "precision", "auto")
    if torch.cuda.is_available():
        bf16 = torch.cuda.is_bf16_supported() if forced == "auto" else forced == "bf16"
        return {"bf16": bf16, "fp16": forced == "auto" and not bf16}
    if torch.backends.mps.is_available():
        return {} if forced != "bf16" else {"bf16": True}
    bf16 = settings.bf16_on_cpu and cpu_bf16_is_faster() if forced == "auto" else forced == "bf16"
    return {"use_cpu": True, "bf16": bf16}


def use_shape_agnostic_attention() -> bool:
    """On a CUDA GPU, switch cuDNN's attention kernels off for this process, so PyTorch's flash and
    memory-efficient attention kernels run instead; returns whether it did (False on CPUs and Apple GPUs).

    The workshop pads each batch only to its longest sentence, so nearly every batch has a new shape. cuDNN's
    attention (PyTorch's first choice for bf16 and fp16 on recent NVIDIA GPUs) builds an execution plan for
    each new shape: on an NVIDIA H200 that made a bf16 training step of the full profile take up to 2 s
    instead of 0.03 s, 102 training samples/s against 837 without it (``benchmarks/README.md``). The other
    kernels need no plan and compute the same attention. fp32 never uses cuDNN's attention.
    """
    import torch

    if not torch.cuda.is_available():
        return False
    torch.backends.cuda.enable_cudnn_sdp(False)
    return True


def precision_label(arguments) -> str:
    """How training with these TrainingArguments fields computes: "bf16 autocast", "fp16" or "fp32".

    ``arguments``: a dict of fields (``precision_arguments``, a saved ``training_args.json``) or TrainingArguments.
    """
    field = arguments.get if isinstance(arguments, dict) else lambda name: getattr(arguments, name, None)
    return "bf16 autocast" if field("bf16") else "fp16" if field("fp16") else "fp32"


def describe_device(arguments: dict) -> str:
    import torch

    if torch.cuda.is_available():
        device = f"GPU ({torch.cuda.get_device_name(0)})"
    elif torch.backends.mps.is_available():
        device = "Apple GPU (mps)"
    else:
        device = f"CPU ({torch.get_num_threads()} threads)"
    return f"training on {device} in {precision_label(arguments)}"
