"""The settings a ``cola-workshop`` command runs with: its flags over the WORKSHOP_* variables over the profile.

Paths given on the command line are relative to the current folder; WORKSHOP_* paths, as in the notebooks, to the
repository root.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..settings import ENV_VARS, Settings, load_settings, local_folder


def absolute(value: str) -> str:
    """A path given on the command line, made absolute against the current folder."""
    return str(Path(value).expanduser().absolute())


def settings_from_args(args: argparse.Namespace, environ: dict | None = None) -> Settings:
    """``load_settings`` with the flags as overrides; relative paths on the command line are made absolute
    against the current folder here (load_settings would take them relative to the repository root)."""
    overrides = {key: getattr(args, key, None) for key in ENV_VARS}
    if overrides["outputs"] is not None:
        overrides["outputs"] = absolute(overrides["outputs"])
    if overrides["data"] is not None and overrides["data"].strip().lower() != "hub":
        overrides["data"] = absolute(overrides["data"])
    if overrides["model"] is not None:
        folder = local_folder(overrides["model"], base=Path.cwd())  # None for a hub id such as openai-community/gpt2
        if folder is not None:
            overrides["model"] = absolute(str(folder))
    return load_settings(environ, **overrides)
