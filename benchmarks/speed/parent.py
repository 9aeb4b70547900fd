"""The parent process: runs each configuration in its own child under a memory cap, and collects the results.

A configuration that runs out of memory (the tutorial's padding to 1,024 tokens does) is stopped by the parent
before it freezes the machine, and reported with what it had measured so far.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from .child import partial_result_path
from .configs import GIB
from .machine import tree_rss
from .sources import REPO_ROOT

ENTRY_POINT = Path(__file__).resolve().parents[1] / "train_speed.py"


def child_command(name: str, args: argparse.Namespace, result_path: Path, mode: str = "timed") -> list[str]:
    """The command line of the child that trains configuration ``name`` in ``mode`` (timed or epochs)."""
    command = [sys.executable, str(ENTRY_POINT), "--child", name, "--child-mode", mode, "--result", str(result_path),
               "--steps", str(args.steps), "--warmup-steps", str(args.warmup_steps), "--model", args.model,
               "--data", args.data, "--max-train-seconds", str(args.max_train_seconds)]
    optional = {"--tokenizer": args.tokenizer, "--threads": args.threads, "--eval-batch-size": args.eval_batch_size,
                "--epochs": args.epochs, "--max-train-samples": args.max_train_samples}
    for flag, value in optional.items():
        if value:
            command += [flag, str(value)]
    if args.no_save:
        command += ["--no-save"]
    return command


def watch(child: subprocess.Popen, cap_bytes: int, timeout_s: float | None) -> tuple[int, str | None]:
    """Poll the child's memory until it ends; kill it past the cap or the timeout. (peak bytes, verdict)."""
    import psutil

    started, peak, verdict = time.perf_counter(), 0, None
    watched = psutil.Process(child.pid)
    while child.poll() is None:
        try:
            peak = max(peak, tree_rss(watched))
        except psutil.Error:
            pass
        if peak > cap_bytes:
            verdict = "oom_cap"
        elif timeout_s and time.perf_counter() - started > timeout_s:
            verdict = "timeout"
        if verdict:
            for proc in watched.children(recursive=True):
                proc.kill()
            child.kill()
            child.wait()
            break
        time.sleep(0.05)
    return peak, verdict


def run_config(name: str, args: argparse.Namespace, cap_bytes: int, workdir: Path, mode: str = "timed") -> dict:
    """Run one configuration in a child process; kill it when its memory passes the cap."""
    result_path, log_path = workdir / f"{name}.json", workdir / f"{name}.log"
    started = time.perf_counter()
    with open(log_path, "w") as log:
        child = subprocess.Popen(child_command(name, args, result_path, mode), stdout=log, stderr=subprocess.STDOUT,
                                 cwd=REPO_ROOT)
        peak, verdict = watch(child, cap_bytes, args.config_timeout)
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
    result.update(wall_s=wall, peak_rss_polled_gib=peak / GIB)
    if result["status"] != "ok":
        result["log_tail"] = log_path.read_text(errors="replace").strip().splitlines()[-12:]
    return result


def memory_cap_gib(requested_gib: float, available_bytes: int) -> float:
    """The cap per child: as requested, but at most 85% of the memory available now."""
    return min(requested_gib, 0.85 * available_bytes / GIB)
