"""``cola-workshop``: run the six notebooks headless, see and clean their cached results, prepare offline kits.

Subcommands::

    cola-workshop run [--profile tiny|full] [--epochs N] ... [--from NN] [--to NN] [--html]
    cola-workshop status [--outputs DIR] [settings flags]
    cola-workshop clean [--stage NN] [--outputs DIR] [--yes]
    cola-workshop prefetch [--model HUB_ID] [--data hub] --to DIR
    cola-workshop doctor [--kit DIR] [settings flags]
    cola-workshop learner-edition DIR [--force]
    cola-workshop site [--to DIR] [--strict]
    cola-workshop demo [--port N] [--model DIR] [--host ADDR] [--outputs DIR]

``run`` passes its settings to the notebooks through the same WORKSHOP_* variables a learner can set before
starting Jupyter (``settings_to_env``), so a notebook run from here and one run by hand compute the same thing.
It executes copies with nbclient and writes them to ``<outputs>/executed/``; the source notebooks are never
rewritten. Paths given on the command line are relative to the current folder (WORKSHOP_* paths are relative
to the repository root, as in the notebooks).

Here: the subcommands other than ``status`` (``status.py``) and ``main``. The flags' grammar is in ``cli_parser.py``,
how they become settings in ``cli_settings.py``.

Exit codes: 0 success, 1 a notebook cell failed, 2 a usage or settings error (one line on stderr),
130 interrupted by Ctrl-C (143 by SIGTERM); the executed copy keeps what ran. ``doctor``: 1 when a check failed.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Sequence

from .. import data as data_module
from .. import models
from . import doctor, status
from ..artifacts import BONUS_NEEDS, BONUS_STAGES, STAGES, ArtifactError, clean_stage, stage_name, stage_states
from ..errors import WorkshopError, write_failure
from ..files import atomic_folder
from ..outputs_lock import check_free, hold_outputs
from .editions import exercise_counts, write_learner_edition
from .execution import EXIT_OK, NOTEBOOKS_DIR, is_terminal, notebook_paths, run_notebooks
from .cli_parser import EXIT_USAGE, PROG, build_parser
from .cli_settings import absolute, settings_from_args
from ..hub import HubUnreachableError, hub_endpoint, hub_reachable
from ..sources import local_checkpoint
from ..settings import ENV_VARS, SEEDS_VAR, Settings, display_path, parse_seeds, resolve_path

EXIT_INTERRUPTED = 130


class CliError(WorkshopError):
    """A problem with what the command line asked for; the message says how to fix it."""


# Every problem a learner can fix is a WorkshopError (tests/test_cli.py checks each error class of the package).
EXPECTED_ERRORS = (WorkshopError,)


# --------------------------------------------------------------------------------------------------
# Checks before a run
# --------------------------------------------------------------------------------------------------


def check_sources(settings: Settings) -> None:
    """Fail before any kernel starts when the model or data folder cannot be used (hub sources pass)."""
    local_checkpoint(settings.model)  # ModelSourceError for a missing or broken checkpoint folder
    if settings.data != "hub":
        folder = resolve_path(settings.data)
        if not folder.is_dir():  # a profile's default folder (load_settings checks only given values)
            raise CliError(
                f"data folder {display_path(folder)} does not exist: set --data / WORKSHOP_DATA to 'hub' or a CoLA folder"
            )
        data_module.detect_layout(folder)  # DataFormatError names the layouts it accepts


def sections_to_skip(settings: Settings, stages: list[str]) -> list[str]:
    """The sections of these stages that the model will skip (``models.skipped_sections``), read from a local
    checkpoint's configuration; nothing for a hub id (its configuration is read in the notebooks)."""
    from transformers import AutoConfig

    folder = local_checkpoint(settings.model)
    if folder is None or not {"01_goal", "06_usage"} & set(stages):
        return []
    return models.skipped_sections(AutoConfig.from_pretrained(str(folder), trust_remote_code=False))


def stage_range(first: str | None, last: str | None) -> list[str]:
    """The stages from ``first`` to ``last`` (inclusive); each may be '03', '3' or '03_preprocessing'."""
    names = []
    for flag, value, default in (("--from", first, STAGES[0]), ("--to", last, STAGES[-1])):
        try:
            names.append(stage_name(value) if value is not None else default)
        except ArtifactError as error:
            raise CliError(f"{flag}: {error}") from None
    order = STAGES + BONUS_STAGES  # a bonus notebook runs only when --to names it
    start, stop = (order.index(name) for name in names)
    if start > stop:
        raise CliError(f"--from {names[0][:2]} comes after --to {names[1][:2]}: the stages run in order 01 to 06")
    return list(order[start : stop + 1])


# --------------------------------------------------------------------------------------------------
# Subcommands
# --------------------------------------------------------------------------------------------------


def check_upstream(settings: Settings, first: str) -> None:
    """Fail before any kernel starts when a stage before ``first`` is missing, out of date or was made with other
    settings: the notebook ``first`` would stop at its first cell that loads it."""
    after = STAGES[STAGES.index(BONUS_NEEDS[first]) + 1] if first in BONUS_NEEDS else first  # a bonus reads up to there
    for state in stage_states(settings):
        if state.stage == after:
            return
        if state.usable:
            continue
        where = display_path(settings.outputs)
        if not state.done:
            raise CliError(f"--from {first[:2]} needs {state.stage}, which is not in {where}: run with --from {state.stage[:2]}")
        if not state.settings_match:
            raise CliError(
                f"--from {first[:2]} needs {state.stage}, which {where} holds for other settings: run with --from "
                f"{state.stage[:2]} (it replaces the stages made with the other settings), or choose a new --outputs folder"
            )
        if state.modified:
            raise CliError(
                f"--from {first[:2]} needs {state.stage}, which was modified since it was saved ({state.modified}): "
                f"run with --from {state.stage[:2]}"
            )
        raise CliError(f"--from {first[:2]} needs {state.stage}, which is stale ({state.stale_reason}): run with --from {state.stage[:2]}")


def cmd_run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    stages = stage_range(args.from_stage, args.to_stage)
    check_sources(settings)
    check_upstream(settings, stages[0])
    if args.seeds is not None:
        os.environ[SEEDS_VAR] = str(parse_seeds(args.seeds))  # the kernels inherit it (notebook 07)
    notebooks_dir = Path(args.notebooks).expanduser().absolute() if args.notebooks else NOTEBOOKS_DIR
    notebook_paths(stages, notebooks_dir)  # all present before anything runs
    with hold_outputs(settings.outputs):  # OutputsBusyError at once while another run holds the folder
        print(settings.describe())
        print(f"stages  : {stages[0]} to {stages[-1]}")
        for section in sections_to_skip(settings, stages):
            print(f"skips   : {section}")
        print()
        return run_notebooks(settings, stages, notebooks_dir, timeout=args.timeout, html=args.html)


def _confirm(question: str) -> bool:
    print(f"{question} [y/N] ", end="", flush=True)
    try:
        return input().strip().lower() in ("y", "yes")
    except EOFError:
        return False


def clean_outputs(settings: Settings, stage: str | None = None) -> list[Path]:
    """Remove one stage's cached artifacts, or all stages' and ``executed/``; a user's own files stay."""
    if stage is not None:
        stage = stage_name(stage)
        return clean_stage(settings, stage)  # the stage, its checkpoints, leftovers and executed copies
    removed = [path for name in STAGES for path in clean_stage(settings, name)]
    executed = settings.outputs / "executed"
    if executed.is_dir():
        shutil.rmtree(executed)
        removed.append(executed)
    return removed


def cmd_clean(args: argparse.Namespace) -> int:
    # Only the outputs folder matters here: unrelated WORKSHOP_* values must not stop a clean.
    environ = {key: value for key, value in os.environ.items() if key == ENV_VARS["outputs"]}
    settings = settings_from_args(args, environ)
    stage = stage_name(args.stage) if args.stage else None
    what = f"stage {stage}" if stage else "all stages and executed/"
    # an interrupted training's checkpoints go too: say so before asking
    also = ", with every training checkpoint (an interrupted training starts again)" if stage in (None, "05_training") else ""
    where = display_path(settings.outputs)
    if not settings.outputs.is_dir():
        print(f"nothing to clean: {where} does not exist")
        return EXIT_OK
    check_free(settings.outputs, "clean it")
    if not args.yes:
        if not is_terminal(sys.stdin):
            raise CliError(f"clean deletes cached results ({what} in {where}{also}): add --yes to confirm outside a terminal")
        if not _confirm(f"remove the cached artifacts of {what} in {where}{also}?"):
            print("nothing removed")
            return EXIT_OK
    removed = clean_outputs(settings, stage)
    for path in removed:
        print(f"removed {display_path(path)}")
    if not removed:
        print(f"nothing to clean for {what} in {where}")
    return EXIT_OK


def prefetch(settings: Settings, folder: Path) -> Path:
    """Download the model and CoLA into ``folder/model`` and ``folder/data``; the folder appears only when both
    downloads finished. HubUnreachableError at once (a few seconds) when the hub cannot be reached."""
    if local_checkpoint(settings.model, weights=False) is not None:
        raise CliError(
            f"--model {display_path(settings.model)} is a local folder: prefetch downloads a hub id such as "
            "openai-community/gpt2; a local folder can be given to run --model as it is"
        )
    if folder.exists() and any(folder.iterdir()):
        raise CliError(f"{display_path(folder)} already exists and is not empty: choose another --to or remove it")
    if not hub_reachable():
        raise HubUnreachableError(
            f"cannot reach the Hugging Face hub at {hub_endpoint()}: prefetch needs a network connection; run it on "
            "a machine that has one and copy the folder over, or run the workshop with --profile tiny"
        )
    print(f"downloading {settings.model} and CoLA ({settings.data}) into {display_path(folder)} ...", flush=True)
    with atomic_folder(folder) as partial:  # replaces an empty folder, checked above
        models.save_for_offline(settings.model, partial / "model")
        data_module.save_for_offline(settings, partial / "data")
    return folder


def cmd_prefetch(args: argparse.Namespace) -> int:
    # The full profile's model and data unless flags say otherwise; WORKSHOP_* variables do not apply here.
    args.profile, args.max_train_samples = "full", "all"
    settings = settings_from_args(args, environ={})
    folder = Path(absolute(args.to))
    prefetch(settings, folder)
    model, data = shlex.quote(str(folder / "model")), shlex.quote(str(folder / "data"))
    print(f"done. Run the workshop offline with:\n  {PROG} run --model {model} --data {data}")
    print(f"or, before starting Jupyter:\n  export {ENV_VARS['model']}={model} {ENV_VARS['data']}={data}")
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    # --model/--data/--kit are what the doctor examines: a broken folder is a finding with its fix, not a usage error.
    model, data, args.model, args.data = args.model, args.data, None, None
    settings = settings_from_args(args)
    findings = doctor.diagnose(settings, kit=args.kit, model=model, data=data)
    print(doctor.render(settings, findings))
    return doctor.exit_code(findings)


def cmd_learner_edition(args: argparse.Namespace) -> int:
    import nbformat

    source = Path(args.notebooks).expanduser().absolute() if args.notebooks else NOTEBOOKS_DIR
    written = write_learner_edition(source, Path(absolute(args.dir)), force=args.force)  # EditionError: one line
    counts = [exercise_counts(nbformat.read(str(path), as_version=4)) for path in written]
    where = display_path(Path(args.dir).absolute())
    print(f"wrote {len(written)} notebooks with {sum(s for s, _ in counts)} exercises to {where}: solutions replaced by "
          f"'# YOUR CODE HERE', outputs cleared")
    print(f"learners open them with: jupyter lab {shlex.quote(where)}")
    return EXIT_OK


def cmd_site(args: argparse.Namespace) -> int:
    from .site import build_site  # Sphinx is imported only here (the optional 'site' extra)

    build = build_site(args.to, strict=args.strict)
    for warning in build.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"site written to {display_path(build.index.parent)}: open {display_path(build.index)} in a browser")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo  # gradio is imported only here (the optional 'demo' extra)

    # Only the outputs folder matters here (it holds notebook 05's model): other WORKSHOP_* values must not stop it.
    environ = {key: value for key, value in os.environ.items() if key == ENV_VARS["outputs"]}
    run_demo(settings_from_args(args, environ), model=args.model_dir, port=args.port, host=args.host)
    return EXIT_OK


HANDLERS = {
    "run": cmd_run, "status": status.cmd_status, "clean": cmd_clean, "prefetch": cmd_prefetch, "doctor": cmd_doctor,
    "learner-edition": cmd_learner_edition, "site": cmd_site, "demo": cmd_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: sys.argv[1:]) and run the subcommand; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error already printed as one line
        return exit_.code if isinstance(exit_.code, int) else EXIT_OK
    try:
        return HANDLERS[args.command](args)
    except EXPECTED_ERRORS as error:
        message = " ".join(str(error).split())
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        if error.filename is None:  # not about a path (a network error, a bug): the traceback helps more
            raise
        reason = " ".join(str(error.strerror or error).split())  # a path that cannot be read or written
        fix = write_failure(error, display_path(Path(error.filename).parent))  # a full disk, a read-only folder
        print(f"{PROG}: error: {display_path(error.filename)}: {reason}" + (f": {fix}" if fix else ""), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
