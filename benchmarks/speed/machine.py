"""What the benchmark runs on: the CPU's name, its (or the GPU's) matmul peak measured now, and CPU/memory use.

Speeds mean little without the machine they were taken on, so every speed the benchmark prints carries the
CPU model name, and MFU is taken against a peak measured in the same run rather than a datasheet figure.
"""

from __future__ import annotations

import os
import platform
import time

from .flops import matmul_flops

PEAK_MATMUL_SIZE = 2048


def cpu_model_name(cpuinfo: str | None = None) -> str:
    """The CPU's marketing name: /proc/cpuinfo's 'model name' on Linux, else what ``platform`` knows."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
                cpuinfo = handle.read()
        except OSError:
            cpuinfo = ""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model Name", "Hardware") and value.strip():
            return " ".join(value.split())
    return platform.processor() or platform.machine() or "unknown CPU"


def device_label(cpu: str, gpu: str | None = None) -> str:
    """'on <CPU>' or 'on <GPU> (host <CPU>)': printed beside every speed figure."""
    return f"on {gpu} (host {cpu})" if gpu else f"on {cpu}"


def peak_precision():
    """(device, dtype, name) the peak is measured in: the precision the workshop trains in.

    bf16 where the hardware has it natively; on CUDA GPUs without bf16, fp16 (the Trainer's choice there);
    on CPUs without native bf16, fp32 (bf16 would be emulated and slower, and the workshop trains in fp32).
    """
    import torch

    if torch.cuda.is_available():
        bf16 = torch.cuda.is_bf16_supported()
        return "cuda", (torch.bfloat16 if bf16 else torch.float16), ("bf16" if bf16 else "fp16")
    from cola_workshop.hardware import cpu_supports_bf16

    if cpu_supports_bf16():
        return "cpu", torch.bfloat16, "bf16"
    return "cpu", torch.float32, "fp32"


def measure_matmul_peak(size: int = PEAK_MATMUL_SIZE, target_s: float = 0.5, repeats: int = 3,
                        threads: int | None = None) -> dict:
    """The machine's matmul throughput now: the best of ``repeats`` timed loops of ``size``^2 matmuls.

    Each loop runs about ``target_s`` seconds after one warm-up product (kernel selection, caches). Taken in
    the same run as the training it is compared with, so MFU is not flattered or hurt by a datasheet.
    """
    import torch

    if threads:
        torch.set_num_threads(threads)
    device, dtype, name = peak_precision()
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    generator = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device=device, dtype=dtype)
    b = torch.randn(size, size, generator=generator).to(device=device, dtype=dtype)
    c = torch.empty_like(a)
    torch.mm(a, b, out=c)
    sync()
    start = time.perf_counter()
    torch.mm(a, b, out=c)
    sync()
    iterations = max(1, int(target_s / max(time.perf_counter() - start, 1e-9)))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iterations):
            torch.mm(a, b, out=c)
        sync()
        best = min(best, time.perf_counter() - start)
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else None
    return {"flops_per_s": matmul_flops(size, iterations) / best, "dtype": name, "size": size,
            "iterations": iterations, "seconds": best, "device": gpu or "cpu", "threads": torch.get_num_threads()}


def machine_facts() -> dict:
    """CPU name, logical CPUs, memory and load: the header of every report."""
    import psutil

    memory = psutil.virtual_memory()
    return {"cpu": cpu_model_name(), "logical_cpus": os.cpu_count() or 1, "ram_bytes": memory.total,
            "available_bytes": memory.available, "load_average": os.getloadavg()[0]}


def system_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all processes), to tell how much others used."""
    import psutil

    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0) - getattr(times, "guest", 0.0) - getattr(
        times, "guest_nice", 0.0)


def own_cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def tree_rss(process, include_self: bool = True) -> int:
    """Resident bytes of a process and all its descendants (a Trainer child, notebook kernels)."""
    import psutil

    processes = ([process] if include_self else []) + process.children(recursive=True)
    total = 0
    for proc in processes:
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
