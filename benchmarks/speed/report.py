"""Printing the timed benchmark: the machine, each configuration's figures, the summary and the goals.

Every speed is printed with the machine it was taken on (CPU model name; the GPU too when one trained) and,
beside it, the model FLOPs utilization against the matmul peak measured in the same run.
"""

from __future__ import annotations

from .configs import CONFIGS_BY_NAME, GIB, GOAL_MINUTES, GOAL_OVERHEAD, GOAL_RSS_GIB, GOAL_SAMPLES_PER_S
from .flops import format_flops, format_mfu, training_mfu
from .machine import device_label
from .statistics import format_duration, goal_verdict


def print_machine(facts: dict, peak: dict | None, cap_gib: float | None = None) -> None:
    """The machine, its matmul peak measured now, and (timed mode) the memory cap per configuration."""
    cap = f"; memory cap per configuration {cap_gib:.1f} GiB" if cap_gib is not None else ""
    print(f"machine: {facts['cpu']}, {facts['logical_cpus']} logical CPUs, {facts['ram_bytes'] / GIB:.1f} GiB RAM "
          f"({facts['available_bytes'] / GIB:.1f} available){cap}; load average {facts['load_average']:.1f}")
    if peak:
        where = "GPU " + peak["device"] if peak["device"] != "cpu" else f"CPU, {peak['threads']} torch threads"
        print(f"matmul peak: {format_flops(peak['flops_per_s'])} {peak['dtype']} ({where}; best of timed loops of "
              f"{peak['iterations']} x {peak['size']}x{peak['size']} matmuls, measured now): the MFU denominator")


def result_mfu(result: dict, peak: dict | None) -> float:
    return training_mfu(result.get("non_embedding_parameters"), result.get("real_tokens_per_s"),
                        peak and peak["flops_per_s"])


def _speed_lines(result: dict, peak: dict | None, where: str) -> None:
    times = sorted(result["step_times"])
    print(f"   seconds / step       : {result['seconds_per_step']:.3f} s mean   (median {times[len(times) // 2]:.3f}, "
          f"min {times[0]:.3f}, max {times[-1]:.3f})  {where}")
    print(f"   training samples / s : {result['samples_per_s']:.1f}  {where}")
    print(f"   real tokens / s      : {result['real_tokens_per_s']:.0f}  -> MFU {format_mfu(result_mfu(result, peak))} "
          f"(6 x {result['non_embedding_parameters'] / 1e6:.1f}M non-embedding parameters x real tokens/s "
          f"/ matmul peak)  {where}")


def _token_lines(result: dict) -> None:
    print(f"   tokens, timed batches: {result['timed_real_tokens']} real, {result['timed_computed_tokens']} computed "
          f"-> overhead {result['timed_overhead']:.2f}x")
    print(f"   tokens, one epoch    : {result['epoch_real_tokens']} real, {result['epoch_computed_tokens']} computed "
          f"-> padding overhead {result['epoch_overhead']:.2f}x  (all {result['epoch_batches']} batches of the "
          "sampler's epoch order)")
    print(f"   batch size in tokens : epoch mean {result['epoch_mean_batch_tokens']:.0f}, timed mean "
          f"{result['picked_mean_batch_tokens']:.0f}, longest {result['longest_batch_tokens']} (in warm-up)")


def _print_failure(result: dict) -> None:
    print(f"   {result['status'].upper()}: {result.get('message', '')}  (after {result.get('wall_s', 0):.0f} s)")
    if "epoch_overhead" in result:
        print(f"   tokens, one epoch    : {result['epoch_real_tokens']} real, {result['epoch_computed_tokens']} "
              f"computed -> padding overhead {result['epoch_overhead']:.2f}x (longest batch "
              f"{result['longest_batch_tokens']} tokens)")
    for line in result.get("log_tail", []) if result["status"] == "error" else []:
        print(f"   | {line}")


def print_config(result: dict, warmup_steps: int, peak: dict | None, cpu: str) -> None:
    """One configuration's figures, or why it stopped."""
    print(f"\n== {result['config']}: {CONFIGS_BY_NAME[result['config']].description}")
    if result["status"] != "ok":
        _print_failure(result)
        return
    where = device_label(cpu, None if result["device"] == "cpu" else result["device"])
    pad = "dynamic (longest in batch)" if result["pad_len"] is None else f"max_length={result['pad_len']}"
    print(f"   batch {result['batch_size']}, {result['sampling']}, {result['precision']}, padding {pad}, "
          f"truncation {result['truncation_len']}, eval batch {result['eval_batch_size']}, "
          f"torch_compile={result['torch_compile']}, {result['threads']} torch threads, device {result['device']}")
    if "step_times" not in result:
        print("   no timed steps completed")
        return
    print(f"   timed steps          : {result['timed_steps']} (after {warmup_steps} warm-up; first step "
          f"{result['first_step_s']:.2f} s)")
    _speed_lines(result, peak, where)
    _token_lines(result)
    eval_note = "" if result["eval_rows_timed"] == result["eval_rows"] else \
        f" (timed on {result['eval_rows_timed']} sentences, scaled)"
    print(f"   evaluation, {result['eval_rows']} sent.: {format_duration(result.get('eval_s'))}{eval_note}")
    print(f"   checkpoint save      : {format_duration(result.get('save_s'))}")
    mem = f"{result['peak_rss_gib']:.2f} GiB"
    if "peak_gpu_gib" in result:
        mem += f", GPU {result['peak_gpu_gib']:.2f} GiB allocated"
    print(f"   peak resident memory : {mem}")
    print(f"   projected {result['epochs']:g} epochs   : {format_duration(result['projected_s'])}  "
          f"({result['epochs']:g} x ({result['train_rows']} / {result['samples_per_s']:.1f} samples/s + eval + save))"
          f"  {where}")
    share = result.get("others_cpu_share", float("nan"))
    warn = "  <- other processes competed for the CPU: timings are pessimistic" if share > 0.1 else ""
    print(f"   other processes' CPU : {100 * share:.0f}% of the machine while timing{warn}")


def _summary_row(r: dict, base: dict | None, peak: dict | None) -> str:
    if r["status"] != "ok" or "samples_per_s" not in r:
        what = "out of memory" if r["status"] == "oom" else "failed"
        rss = f"> {r['peak_rss_gib']:.1f} GiB" if r.get("peak_rss_gib") else ""
        pad = f"{r['epoch_overhead']:>8.2f}x" if "epoch_overhead" in r else f"{'':>9}"
        return f"{r['config']:<17}{what:>19}{'':>10}{'':>7}{pad}{rss:>11}"
    speed = f"{r['samples_per_s'] / base['samples_per_s']:.1f}x" if base else ""
    ratio = f"{r['projected_s'] / base['projected_s']:.3f}" if base else ""
    return (f"{r['config']:<17}{r['seconds_per_step']:>8.2f}{r['samples_per_s']:>11.1f}{speed:>10}"
            f"{format_mfu(result_mfu(r, peak)):>7}{r['epoch_overhead']:>8.2f}x{r['peak_rss_gib']:>7.2f} GiB"
            f"{format_duration(r.get('eval_s')):>9}{format_duration(r['projected_s']):>11}{ratio:>12}"
            f"{100 * r.get('others_cpu_share', 0):>11.0f}%")


def print_summary(results: list[dict], peak: dict | None, cpu: str) -> None:
    """The configurations side by side (ratios against the tutorial or run_glue), then the workshop's goals."""
    ok = {r["config"]: r for r in results if r["status"] == "ok" and "samples_per_s" in r}
    baseline = "tutorial" if "tutorial" in ok else "run_glue" if "run_glue" in ok else None
    base = ok.get(baseline)
    gpus = sorted({r["device"] for r in ok.values() if r.get("device", "cpu") != "cpu"})
    print(f"\n== Summary, {device_label(cpu, ', '.join(gpus) or None)}"
          + (f" (ratios vs {baseline})" if base else ""))
    header = f"{'configuration':<17}{'s/step':>8}{'samples/s':>11}{'speed-up':>10}{'MFU':>7}{'padding':>9}" \
             f"{'peak RSS':>11}{'eval':>9}{'projected':>11}{'time ratio':>12}{'others CPU':>12}"
    print(header)
    print("-" * len(header))
    for r in results:
        print(_summary_row(r, base, peak))
    print_goals(ok.get("workshop"))


def print_goals(w: dict | None) -> None:
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
