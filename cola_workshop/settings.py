"""Workshop settings: the two profiles, and how flags and WORKSHOP_* variables override them.

Every notebook starts with ``settings = load_settings()``. The command line (``cola-workshop run --epochs 1``)
passes its flags to the notebooks through the same environment variables that a learner can set before
starting Jupyter, so the notebooks, nbval and the command line always agree on which run they are part of.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

from .errors import WorkshopError

REPO_ROOT = Path(__file__).resolve().parents[1]

PROFILES = ("tiny", "full")

# Environment variable for each setting a learner may change.
ENV_VARS = {
    "profile": "WORKSHOP_PROFILE",
    "model": "WORKSHOP_MODEL",
    "data": "WORKSHOP_DATA",
    "epochs": "WORKSHOP_EPOCHS",
    "max_train_samples": "WORKSHOP_MAX_TRAIN_SAMPLES",
    "outputs": "WORKSHOP_OUTPUTS",
    "precision": "WORKSHOP_PRECISION",
    "learning_rate": "WORKSHOP_LEARNING_RATE",
}

# auto: what the hardware does best (hardware.precision_arguments); bf16 or fp32 forced, e.g. to prove that every
# check holds in the precision a learner's GPU or bf16 CPU trains in, on any machine (bf16 autocast runs on any x86
# CPU, slowly where it is not native or not faster: hardware.cpu_bf16_is_faster).
PRECISIONS = ("auto", "bf16", "fp32")


# The bonus notebook 07 trains each design choice with this many seeds (settings.seed, settings.seed + 1, ...). Not a
# field of Settings: it changes no stage of notebooks 01-06, so it must not make their cached results stale.
SEEDS_VAR = "WORKSHOP_SEEDS"
DEFAULT_SEEDS = 3


class SettingsError(WorkshopError, ValueError):
    """A setting has a value the workshop cannot use; the message says how to fix it."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything that decides what a run computes. Frozen: notebooks read it, never change it."""

    profile: str
    model: str  # a hub id (``openai-community/gpt2``) or a local checkpoint folder
    data: str  # ``hub`` or a local folder in CoLA's or GLUE's layout
    epochs: float
    max_train_samples: int | None  # None: the whole training split
    outputs: Path
    precision: str  # one of PRECISIONS
    # Hyperparameters of the profile (not flags: notebook 04 explains each one).
    learning_rate: float
    batch_size: int
    eval_batch_size: int
    weight_decay: float
    warmup_ratio: float
    max_length: int
    seed: int
    bf16_on_cpu: bool

    def stage_dir(self, stage: str) -> Path:
        return self.outputs / stage

    def fingerprint(self) -> dict:
        """The settings that decide what the cached artifacts contain (the outputs folder does not), with the
        model and data folders written one way however they were given (:func:`source_key`)."""
        values = dataclasses.asdict(self)
        values.pop("outputs")
        values["model"], values["data"] = source_key(self.model), source_key(self.data)
        return values

    def describe(self) -> str:
        """A few lines for the settings cell at the top of each notebook."""
        samples = "all" if self.max_train_samples is None else str(self.max_train_samples)
        return "\n".join(
            [
                f"profile : {self.profile}",
                f"model   : {display_path(self.model)}",
                f"data    : {display_path(self.data)}",
                f"epochs  : {self.epochs:g}   training samples: {samples}",
                f"outputs : {display_path(self.outputs)}",
            ]
        )


_PROFILE_DEFAULTS = {
    # The real thing: GPT-2 small on GLUE's CoLA from the hub. Batch 32 for 3 epochs as in BERT's GLUE recipe
    # (Devlin et al. 2019), with 2e-5, one of the learning rates that paper searched and the usual one for CoLA.
    "full": dict(
        model="openai-community/gpt2",
        data="hub",
        epochs=3.0,
        max_train_samples=None,
        learning_rate=2e-5,
        batch_size=32,
        eval_batch_size=64,
        weight_decay=0.01,
        warmup_ratio=0.1,
        max_length=64,
        seed=42,
        bf16_on_cpu=True,
    ),
    # Rehearsal, CI and offline rooms: 1,000 real CoLA sentences and a 1.7M-parameter GPT-2 (GPT-2's tokenizer),
    # both in data/. A model this small needs a far larger learning rate than GPT-2 small; 5 epochs of 3e-3 were
    # chosen among three settings by validation MCC over three seeds (see data/tiny-gpt2/README.md).
    "tiny": dict(
        model="data/tiny-gpt2",
        data="data/cola_tiny",
        epochs=5.0,
        max_train_samples=None,
        learning_rate=3e-3,
        batch_size=32,
        eval_batch_size=64,
        weight_decay=0.01,
        warmup_ratio=0.1,
        max_length=64,
        seed=42,
        bf16_on_cpu=False,
    ),
}


def profile_defaults(profile: str) -> dict:
    """The values a profile starts from, before flags and WORKSHOP_* variables."""
    return dict(_PROFILE_DEFAULTS[profile])


def display_path(value: str | Path) -> str:
    """A path relative to the repository root when it lies inside it (stable across machines)."""
    text = str(value)
    path = Path(text)
    if not path.is_absolute():
        return text
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return text


def resolve_path(value: str | Path) -> Path:
    """Relative paths in settings are relative to the repository root, wherever the notebook runs."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else REPO_ROOT / path


def source_key(value: str) -> str:
    """A model or data source as artifacts record and compare it: an existing local folder as one text however
    it was written (``data/tiny-gpt2`` from a notebook and ``/home/you/workshop/data/tiny-gpt2`` from the command
    line are the same folder): relative to the repository root inside it, else absolute with links resolved.
    So a stage or an interrupted training made one way is found the other way. A hub id or ``hub`` as given."""
    text = str(value)
    path = resolve_path(text)
    if text.strip().lower() == "hub" or not path.exists():
        return text
    return display_path(os.path.realpath(path))


def _parse_epochs(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value > 0 and math.isfinite(value)):
        raise SettingsError(f"epochs must be a positive number, got {text!r}: set --epochs / WORKSHOP_EPOCHS to e.g. 3")
    return value


def _parse_learning_rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (0 < value < 1 and math.isfinite(value)):
        raise SettingsError(
            f"the learning rate must be a number between 0 and 1, got {text!r}: set --learning-rate / "
            "WORKSHOP_LEARNING_RATE to e.g. 2e-5"
        )
    return value


def _parse_max_samples(text: str) -> int | None:
    if text.strip().lower() in ("", "all", "none"):
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise SettingsError(
            f"max-train-samples must be a positive whole number or 'all', got {text!r}: "
            "set --max-train-samples / WORKSHOP_MAX_TRAIN_SAMPLES to e.g. 2000"
        )
    return value


def parse_seeds(text: str | None) -> int:
    """How many seeds notebook 07 trains each design choice with: ``--seeds`` / WORKSHOP_SEEDS, default 3."""
    if text is None or not str(text).strip():
        return DEFAULT_SEEDS
    try:
        value = int(str(text).strip())
    except ValueError:
        value = 0
    if value <= 0:
        raise SettingsError(f"seeds must be a positive whole number, got {text!r}: set --seeds / {SEEDS_VAR} to e.g. 3")
    return value


def load_seeds(environ: dict | None = None) -> list[int]:
    """The seeds notebook 07 uses: ``settings.seed`` and the next ones, as many as WORKSHOP_SEEDS says."""
    env = os.environ if environ is None else environ
    first = load_settings(env).seed
    return [first + offset for offset in range(parse_seeds(env.get(SEEDS_VAR)))]


def local_folder(name: str, base: Path | None = None) -> Path | None:
    """The folder that a ``--model`` value ``name`` names, or None when it is a hub id (``openai-community/gpt2``).

    A name is a folder when it is written as a path (it starts with ``.``, ``/`` or ``~``, or is absolute) or when
    something of that name exists, so ``data/tiny-gpt2`` is the repository's folder and ``owner/model`` a hub id
    unless a folder ``owner/model`` is there. Relative names are taken against ``base``: the repository root by
    default, as the settings and the notebooks read them (the command line passes the current folder). The folder
    need not exist: a mistyped path is reported as a missing folder, not looked up on the hub."""
    text = str(name)
    path = Path(text).expanduser()
    path = resolve_path(path) if base is None else Path(base) / path
    if text.startswith((".", "/", "~")) or Path(text).is_absolute() or path.exists():
        return path
    return None


def _model_value(text: str) -> str:
    """A local folder is kept as given (relative to the repo root); anything else must look like a hub id."""
    text = text.strip()
    if not text:
        raise SettingsError("model is empty: set --model / WORKSHOP_MODEL to a hub id or a checkpoint folder")
    if local_folder(text) is not None:
        return text
    parts = text.split("/")
    if len(parts) > 2 or any(not part for part in parts):
        raise SettingsError(
            f"model {text!r} is neither an existing folder nor a hub id like 'openai-community/gpt2': "
            "check the path given to --model / WORKSHOP_MODEL"
        )
    return text


def _data_value(text: str) -> str:
    text = text.strip()
    if text.lower() == "hub":
        return "hub"
    if not resolve_path(text).is_dir():
        raise SettingsError(
            f"data folder {text!r} does not exist: set --data / WORKSHOP_DATA to 'hub' or to a folder "
            "in CoLA's layout (raw/in_domain_train.tsv, ...) or GLUE's (train.tsv, dev.tsv, test.tsv)"
        )
    return text


def _precision_value(text: str) -> str:
    value = text.strip().lower()
    if value not in PRECISIONS:
        raise SettingsError(
            f"unknown precision {text!r}: set --precision / WORKSHOP_PRECISION to auto (what this machine does best), "
            "bf16 or fp32"
        )
    return value


def load_settings(environ: dict | None = None, **overrides) -> Settings:
    """Settings of the active profile, with WORKSHOP_* variables and then keyword overrides applied.

    ``overrides`` take the same names as the command-line flags (``model=``, ``epochs=`` ...); a value
    of None means "not given".
    """
    env = os.environ if environ is None else environ
    given = {key: env[var] for key, var in ENV_VARS.items() if env.get(var, "").strip()}
    given.update({key: str(value) for key, value in overrides.items() if value is not None})
    unknown = set(given) - set(ENV_VARS)
    if unknown:
        raise SettingsError(f"unknown setting(s) {sorted(unknown)}: the settings are {sorted(ENV_VARS)}")

    profile = given.get("profile", "full").strip().lower()
    if profile not in PROFILES:
        raise SettingsError(
            f"unknown profile {given['profile']!r}: use --profile tiny (offline sample) or --profile full "
            "(GPT-2 small on GLUE CoLA), or set WORKSHOP_PROFILE"
        )
    values = dict(_PROFILE_DEFAULTS[profile])
    if "model" in given:
        values["model"] = _model_value(given["model"])
    if "data" in given:
        values["data"] = _data_value(given["data"])
    if "epochs" in given:
        values["epochs"] = _parse_epochs(given["epochs"])
    if "max_train_samples" in given:
        values["max_train_samples"] = _parse_max_samples(given["max_train_samples"])
    if "learning_rate" in given:
        values["learning_rate"] = _parse_learning_rate(given["learning_rate"])
    values["epochs"] = float(values["epochs"])
    values["precision"] = _precision_value(given.get("precision", "auto"))
    outputs = resolve_path(given.get("outputs", "outputs"))
    if outputs.exists() and not outputs.is_dir():
        raise SettingsError(f"outputs {display_path(outputs)} is a file, not a folder: set --outputs / WORKSHOP_OUTPUTS to a folder")
    return Settings(profile=profile, outputs=outputs, **values)


def settings_to_env(settings: Settings) -> dict[str, str]:
    """The WORKSHOP_* variables that make a notebook kernel load exactly these settings."""
    samples = settings.max_train_samples
    return {
        ENV_VARS["profile"]: settings.profile,
        ENV_VARS["model"]: settings.model,
        ENV_VARS["data"]: settings.data,
        ENV_VARS["epochs"]: repr(float(settings.epochs)),
        ENV_VARS["max_train_samples"]: "all" if samples is None else str(samples),
        ENV_VARS["outputs"]: str(settings.outputs),
        ENV_VARS["precision"]: settings.precision,
        ENV_VARS["learning_rate"]: repr(float(settings.learning_rate)),
    }
