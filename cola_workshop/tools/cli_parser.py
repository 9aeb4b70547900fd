"""The grammar of ``cola-workshop``: its subcommands, their flags and help texts. No behaviour lives here:
``cli.main`` parses with :func:`build_parser` and calls the handler named by ``args.command``.

Usage errors are one line on stderr naming ``--help``, with exit code :data:`EXIT_USAGE`.
"""

from __future__ import annotations

import argparse

from ..settings import PRECISIONS, PROFILES

PROG = "cola-workshop"
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (no usage dump), pointing at --help."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"expected a port number from 1 to 65535, got {text!r}")
    return int(text)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number of seconds, got {text!r}")
    return value


def _add_settings_flags(parser: argparse.ArgumentParser, outputs_only: bool = False) -> None:
    group = parser.add_argument_group("settings (override the WORKSHOP_* variables)")
    add = group.add_argument
    add("--outputs", metavar="DIR", help="where cached results go (default: outputs/)")
    if outputs_only:
        return
    add("--profile", choices=PROFILES, help="tiny: offline sample and tiny GPT-2; full (default): GPT-2 small on CoLA")
    add("--model", metavar="HUB_ID_OR_DIR", help="a hub id or a checkpoint folder")
    add("--data", metavar="hub|DIR", help="'hub' or a folder with CoLA (its release, GLUE's layout or prefetch's)")
    add("--epochs", metavar="N", help="training epochs (a positive number)")
    add("--max-train-samples", metavar="N", help="train on a random subset of N sentences ('all': the whole split)")
    add("--precision", choices=PRECISIONS, help="training precision: auto (default: what this machine does best), "
        "or bf16 / fp32 forced")
    add("--learning-rate", metavar="LR", help="the optimizer's peak learning rate (default: the profile's, 2e-5 for "
        "GPT-2 small; another --model may need its own)")


def _add_run(commands) -> None:
    run = commands.add_parser(
        "run",
        help="execute notebooks headless",
        description="Execute the notebooks of stages --from to --to in order, headless. "
        "Executed copies go to <outputs>/executed/; the notebooks themselves are not changed.",
    )
    _add_settings_flags(run)
    run.add_argument("--from", dest="from_stage", metavar="NN", help="first stage: 03, 3 or 03_preprocessing (default: 01)")
    run.add_argument("--to", dest="to_stage", metavar="NN", help="last stage (default: 06)")
    run.add_argument("--seeds", metavar="N", help="notebook 07: train each design choice with N seeds (default: 3)")
    run.add_argument("--html", action="store_true", help="also write an .html next to each executed copy")
    run.add_argument("--timeout", type=_positive_int, metavar="SECONDS", help="stop a cell that runs longer (default: none)")
    run.add_argument("--notebooks", metavar="DIR", help=argparse.SUPPRESS)  # for tests and modified copies


def _add_outputs_commands(commands) -> None:
    """status and clean: what the outputs folder holds."""
    status = commands.add_parser(
        "status",
        help="show which stages are done and up to date",
        description="Show each stage's cached result: done, when, whether it matches the settings, and staleness.",
    )
    _add_settings_flags(status)
    status.add_argument("--verify", action="store_true", help="compare every saved file's checksum, not only its size "
                        "(done anyway when the stages are small)")
    clean = commands.add_parser(
        "clean",
        help="remove cached results",
        description="Remove the cached results of one stage, or of all stages and executed/. "
        "Other files in the outputs folder stay.",
    )
    clean.add_argument("--stage", metavar="NN", help="only this stage: 02, 2 or 02_exploration (default: all)")
    _add_settings_flags(clean, outputs_only=True)
    clean.add_argument("--yes", "-y", action="store_true", help="do not ask (required when not in a terminal)")


def _add_room_commands(commands) -> None:
    """prefetch and doctor: preparing a room and a machine."""
    fetch = commands.add_parser(
        "prefetch",
        help="download model and data for an offline room",
        description="Download a hub model and CoLA into a folder, for `run --model DIR/model --data DIR/data` "
        "without a network. WORKSHOP_* variables do not apply here.",
    )
    fetch.add_argument("--model", metavar="HUB_ID", help="hub id (default: the full profile's, openai-community/gpt2)")
    fetch.add_argument("--data", metavar="hub", help="data source (default: hub)")
    fetch.add_argument("--to", required=True, metavar="DIR", help="folder to create")
    check = commands.add_parser(
        "doctor",
        help="check this machine before the workshop",
        description="Check versions, device, the hub, an offline kit and free disk for the chosen settings; "
        "exit 1 with one line naming the fix when something would stop the workshop.",
    )
    _add_settings_flags(check)
    check.add_argument("--kit", metavar="DIR", help="a folder written by prefetch: check DIR/model and DIR/data")


def _add_sharing_commands(commands) -> None:
    """learner-edition, site and demo: what the workshop hands to others."""
    learner = commands.add_parser(
        "learner-edition",
        help="write the notebooks without solutions, for learners",
        description="Write the learner edition of the notebooks into DIR: each exercise's reference solution "
        "replaced by '# YOUR CODE HERE', all outputs cleared, everything else as committed.",
    )
    learner.add_argument("dir", metavar="DIR", help="folder to write the six notebooks into (created if missing)")
    learner.add_argument("--force", action="store_true", help="overwrite notebooks already in DIR")
    learner.add_argument("--notebooks", metavar="DIR", help=argparse.SUPPRESS)  # for tests
    site = commands.add_parser(
        "site",
        help="build the notebooks and the guide as a static HTML site",
        description="Build the six notebooks as committed (outputs and plots, nothing re-executed) and README's "
        "guide into a static HTML site. Needs the 'site' extra.",
    )
    site.add_argument("--to", metavar="DIR", help="where to write it (default: outputs/site)")
    site.add_argument("--strict", action="store_true", help="fail when Sphinx warns (broken links, ...)")
    demo = commands.add_parser(
        "demo",
        help="try the fine-tuned model in a local web page",
        description="Serve a page where you type a sentence and see the probability that your fine-tuned model "
        "calls it acceptable. Needs the 'demo' extra; stop it with Ctrl-C.",
    )
    demo.add_argument("--model", dest="model_dir", metavar="DIR", help="model folder (default: <outputs>/05_training/model)")
    demo.add_argument("--port", type=_port, metavar="N", help="port (default: the first free one from 7860)")
    demo.add_argument("--host", default="127.0.0.1", metavar="ADDR", help="address to listen on (default: 127.0.0.1)")
    _add_settings_flags(demo, outputs_only=True)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; ``args.command`` names the subcommand."""
    parser = _Parser(prog=PROG, description="Run, inspect and clean the CoLA fine-tuning workshop's notebooks.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser, required=True)
    for add in (_add_run, _add_outputs_commands, _add_room_commands, _add_sharing_commands):
        add(commands)
    return parser
