"""``cola-workshop status``: which stages the outputs folder holds, whether each is up to date with the settings,
and which notebook to run next.

Without --profile or WORKSHOP_PROFILE it first says what the folder holds, from the stages' manifests alone, then
compares the stages with the settings that made the newest of them rather than with a profile's defaults. Sizes are
always compared; checksums too with --verify, or while the saved stages are small (CHEAP_TO_VERIFY).
"""

from __future__ import annotations

import argparse
import datetime
import os
from pathlib import Path
from typing import Iterable, Sequence

from ..artifacts import stage_bytes, stage_states
from ..settings import ENV_VARS, Settings, SettingsError, display_path
from .cli_parser import PROG
from .cli_settings import settings_from_args
from .execution import EXIT_OK

# Status compares checksums without --verify while the saved stages hold no more than this (the tiny profile's do).
CHEAP_TO_VERIFY = 64 << 20


def format_table(rows: Iterable[Sequence[str]]) -> str:
    rows = [list(row) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def _when(created: str | None) -> str:
    """A manifest's ISO timestamp as 'YYYY-MM-DD HH:MM UTC'."""
    if not created:
        return "-"
    try:
        moment = datetime.datetime.fromisoformat(created).astimezone(datetime.timezone.utc)
    except ValueError:
        return created
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def status_table(states) -> str:
    """One row per stage: done, when, whether its settings match, and why it is modified or stale."""
    rows = [("stage", "done", "when", "settings match", "note")]
    for state in states:
        when = _when(state.created)
        match = ("yes" if state.settings_match else "no") if state.done else "-"
        note = f"modified: {state.modified}" if state.modified else f"stale: {state.stale_reason}" if state.stale_reason else ""
        rows.append((state.stage, "yes" if state.done else "no", when, match, note))
    return format_table(rows)


_SHOWN_SETTINGS = (
    ("profile", "profile"), ("model", "model"), ("data", "data"), ("max_train_samples", "training samples"),
    ("epochs", "epochs"), ("learning_rate", "learning rate"), ("precision", "precision"),
)


def _made_with(recorded: dict) -> str:
    shown = [(label, recorded[key]) for key, label in _SHOWN_SETTINGS if key in recorded]
    return ", ".join(f"{label} {'all' if value is None else f'{value:g}' if isinstance(value, float) else value}"
                     for label, value in shown)


def describe_outputs(outputs: Path, states) -> str:
    """What the outputs folder holds, from the manifests alone: which settings made which stages."""
    groups: list[tuple[list[str], dict]] = []
    for state in (state for state in states if state.done):
        base = {key: state.settings.get(key) for key in ("profile", "model", "data", "max_train_samples")}
        if groups and {key: groups[-1][1].get(key) for key in base} == base:
            groups[-1][0].append(state.stage)
            groups[-1][1].update(state.settings)
        else:
            groups.append(([state.stage], dict(state.settings)))
    lines = [f"{display_path(outputs)} holds (from the stages' manifests):"]
    for stages, recorded in groups:
        span = stages[0] if len(stages) == 1 else f"{stages[0]} to {stages[-1]}"
        lines.append(f"  {span}: made with {_made_with(recorded)}")
    return "\n".join(lines)


def settings_of_outputs(args: argparse.Namespace, states) -> Settings | None:
    """The settings that made the newest saved stage, with the flags and WORKSHOP_* variables given on top;
    None when nothing is saved or its folders are gone."""
    done = [state for state in states if state.done]
    if not done:
        return None
    recorded = max(done, key=lambda state: state.created or "").settings
    values = {key: recorded[key] for key in ENV_VARS if key in recorded and key != "outputs"}
    if "max_train_samples" in values:
        values["max_train_samples"] = "all" if values["max_train_samples"] is None else values["max_train_samples"]
    for key, variable in ENV_VARS.items():  # what the learner gives beats what is recorded
        if getattr(args, key, None) is not None or os.environ.get(variable, "").strip():
            values.pop(key, None)
    environ = {**os.environ, **{ENV_VARS[key]: str(value) for key, value in values.items()}}  # repo-relative paths
    try:
        return settings_from_args(args, environ)
    except SettingsError:  # e.g. the model folder that made them was moved
        return None


def cmd_status(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    states = stage_states(settings)
    profile_given = args.profile is not None or os.environ.get(ENV_VARS["profile"], "").strip()
    if not profile_given and any(state.done for state in states):
        # first what outputs/ holds, then a comparison with the settings that made it, not with the defaults
        print(describe_outputs(settings.outputs, states) + "\n")
        settings = settings_of_outputs(args, states) or settings
        print("compared with the settings that made the newest stage (give --profile to compare with a profile):")
    verify = args.verify or stage_bytes(settings) <= CHEAP_TO_VERIFY
    states = stage_states(settings, checksums=verify)
    print(settings.describe() + "\n")
    print(status_table(states))
    if not verify and any(state.done for state in states):
        print("(file sizes checked; add --verify to compare every file's checksum too)")
    first_unusable = next((state.stage for state in states if not state.usable), None)
    if first_unusable is None:
        print("\nall stages are done and up to date with these settings")
    else:
        print(f"\nnext: run notebooks/{first_unusable}.ipynb (or: {PROG} run --from {first_unusable[:2]})")
    return EXIT_OK
