"""Printing the end-to-end mode: per-notebook wall time and memory, then the workshop's training beside the
reference's, each speed with the machine it was measured on and its MFU."""

from __future__ import annotations

from .configs import GOAL_OUTSIDE_TRAINING_S, GOAL_SPEEDUP
from .flops import format_flops, format_mfu, model_flops_per_s, training_mfu
from .machine import device_label
from .statistics import format_duration


def _gib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} GiB"


def print_notebooks(notebooks: dict, total_s: float, cpu: str) -> None:
    """One row per notebook: status, wall time (kernel start included), peak kernel memory."""
    gpu = any(n.get("peak_gpu_in_use_gib") for n in notebooks.values())
    print(f"\n== The six notebooks through cola_workshop.tools.execution.run_notebooks, {device_label(cpu)}")
    header = f"{'notebook':<20}{'status':>8}{'wall time':>12}{'peak kernel RSS':>17}" + \
             (f"{'GPU in use (device)':>21}" if gpu else "")
    print(header)
    print("-" * len(header))
    for stage, n in notebooks.items():
        row = f"{stage:<20}{n['status']:>8}{format_duration(n['wall_s']):>12}{_gib(n['peak_kernel_rss_gib']):>17}"
        print(row + (f"{_gib(n.get('peak_gpu_in_use_gib')):>21}" if gpu else ""))
    print(f"{'all notebooks':<20}{'':>8}{format_duration(total_s):>12}")


def _rows(side: dict, peak: dict | None) -> dict:
    """The comparison's rows for one side (the workshop or the reference); n/a where it failed."""
    if side.get("status", "ok") != "ok":
        return {"status": f"{side['status']}: {side.get('message', '')}"[:60]}
    achieved = model_flops_per_s(side["non_embedding_parameters"], side["real_tokens_per_s"])
    memory = side.get("peak_rss_gib")
    return {
        "batch / order / precision": f"{side['batch_size']} / {side['sampling']} / {side['precision']}",
        "epochs x training samples": f"{side['epochs']:g} x {side['train_rows']}",
        "training time per epoch": format_duration(side["training_s_per_epoch"]),
        "evaluation per epoch": " / ".join(format_duration(e["eval_s"]) for e in side["per_epoch"] if e["eval_s"]),
        "train_runtime (all epochs)": format_duration(side["train_runtime_s"]),
        "training samples / s": f"{side['samples_per_s']:.1f}",
        "real tokens / s": f"{side['real_tokens_per_s']:.0f}",
        "model FLOP/s (6 N tokens/s)": format_flops(achieved),
        "MFU": format_mfu(training_mfu(side["non_embedding_parameters"], side["real_tokens_per_s"],
                                       peak and peak["flops_per_s"])),
        "padding overhead": f"{side['padding_overhead']:.2f}x ({side['padding_note']})",
        "peak memory": f"{_gib(memory)} ({side.get('memory_note', 'training process')})",
        "validation MCC (last)": "n/a" if side.get("final_mcc") is None else f"{side['final_mcc']:.3f}",
    }


def print_comparison(workshop: dict, reference: dict | None, peak: dict | None, cpu: str,
                     random_weights: bool = False, gpu: str | None = None) -> None:
    """The workshop's training (notebook 05's log) beside the reference run, row by row; ``gpu``: the GPU's
    name when both trained on one."""
    print(f"\n== Training, workshop vs reference, same epochs and samples, {device_label(cpu, gpu)}")
    if peak:
        print(f"   MFU against the matmul peak measured in this run: {format_flops(peak['flops_per_s'])} {peak['dtype']}")
    if workshop.get("resumed_from_step"):
        print(f"   note: notebook 05 resumed from step {workshop['resumed_from_step']}: its times cover the rest only")
    sides = [_rows(workshop, peak)] + ([_rows(reference, peak)] if reference else [])
    names = [workshop["name"]] + ([reference.get("name", reference.get("config", "reference"))] if reference else [])
    cells = [[side.get(label, side.get("status", "")) for side in sides] for label in sides[0]]
    width = max(len(text) for text in names + [cell for row in cells for cell in row]) + 2
    print(f"   {'':<30}" + "".join(f"{name:<{width}}" for name in names).rstrip())
    for label, row in zip(sides[0], cells):
        print(f"   {label:<30}" + "".join(f"{cell:<{width}}" for cell in row).rstrip())
    if reference and reference.get("status", "ok") == "ok" and workshop.get("samples_per_s"):
        print(f"   speed-up in training samples / s: {workshop['samples_per_s'] / reference['samples_per_s']:.1f}x  "
              f"{device_label(cpu, gpu)}")
    print("   training time = train_runtime less the per-epoch evaluations (checkpoint saves included), from each "
          "run's Trainer log" + ("; random weights: MCC says nothing here" if random_weights else ""))


def print_goals(total_s: float, workshop: dict, reference: dict | None, cpu: str, gpu: str | None = None) -> dict:
    """The end-to-end goals, measured: the speed-up over the reference and the notebooks' time outside training
    (all six notebooks' wall time less notebook 05's train_runtime, its evaluations and saves included)."""
    outside = total_s - workshop["train_runtime_s"]
    goals = {"outside_training_s": outside}
    print(f"\n== Goals, {device_label(cpu, gpu)}")
    print(f"   the six notebooks outside trainer.train(): {format_duration(outside)} "
          f"(goal <= {format_duration(GOAL_OUTSIDE_TRAINING_S)}): {'met' if outside <= GOAL_OUTSIDE_TRAINING_S else 'NOT met'}")
    if reference and reference.get("status", "ok") == "ok" and workshop.get("samples_per_s"):
        goals["speedup"] = workshop["samples_per_s"] / reference["samples_per_s"]
        print(f"   training samples / s against the reference: {goals['speedup']:.1f}x "
              f"(goal >= {GOAL_SPEEDUP:g}x): {'met' if goals['speedup'] >= GOAL_SPEEDUP else 'NOT met'}")
    else:
        print(f"   training samples / s against the reference: not measured (no reference run) "
              f"(goal >= {GOAL_SPEEDUP:g}x)")
    return goals
