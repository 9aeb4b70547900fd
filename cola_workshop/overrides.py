"""This run's changes to a recipe that a notebook writes as literal values, applied in one visible line.

Notebook 04 writes GPT-2 small's recipe as the numbers a learner would type at home. A run may change some of them:
the tiny profile (a 1.7M-parameter model needs a larger learning rate), a flag (``--epochs``, ``--learning-rate``),
or the machine (bf16 on hardware that computes it fast). :func:`apply_run_settings` applies those changes and says
which it made and why, so the recipe a learner copies stays the recipe, and the run never hides what it changed.
"""

from __future__ import annotations

from .settings import Settings, profile_defaults

# A TrainingArguments field of the recipe -> the Settings field that a profile or a flag may set for this run.
RUN_FIELDS = {
    "learning_rate": "learning_rate",
    "per_device_train_batch_size": "batch_size",
    "per_device_eval_batch_size": "eval_batch_size",
    "num_train_epochs": "epochs",
    "weight_decay": "weight_decay",
    "warmup_steps": "warmup_ratio",
    "seed": "seed",
}
FLAGS = {"learning_rate": "--learning-rate", "epochs": "--epochs"}


def _text(value) -> str:
    return f"{value:g}" if isinstance(value, float) and not isinstance(value, bool) else str(value)


def run_changes(recipe: dict, settings: Settings, precision: dict | None = None) -> dict[str, dict]:
    """``{reason: {field: new value}}``: what this run changes in ``recipe``, and why (the profile, a flag, this
    machine). ``precision``: :func:`cola_workshop.hardware.precision_arguments`'s fields for this machine."""
    changes: dict[str, dict] = {}
    profile_values = profile_defaults(settings.profile)
    for field, name in RUN_FIELDS.items():
        value = getattr(settings, name)
        if field not in recipe or value == recipe[field]:
            continue
        reason = f"{settings.profile} profile" if value == profile_values[name] else FLAGS.get(name, name)
        changes.setdefault(reason, {})[field] = value
    machine = dict(precision or {})
    if not machine.get("bf16"):
        machine.pop("use_cpu", None)  # only needed to let a CPU-only machine train in bf16
    for field, value in machine.items():
        if recipe.get(field, False) != value:
            changes.setdefault("this machine", {})[field] = value
    return changes


def apply_run_settings(recipe: dict, settings: Settings, precision: dict | None = None) -> dict:
    """The recipe with this run's changes (:func:`run_changes`), after printing one line per reason, e.g.
    ``tiny profile: learning_rate 2e-05 -> 0.003, num_train_epochs 3 -> 5``."""
    changes = run_changes(recipe, settings, precision)
    for reason, fields in changes.items():
        said = ", ".join(f"{field} {_text(recipe.get(field, False))} -> {_text(value)}" for field, value in fields.items())
        print(f"{reason}: {said}")
    if not changes:
        print("no changes: this run trains with the recipe as written")
    return {**recipe, **{field: value for fields in changes.values() for field, value in fields.items()}}
