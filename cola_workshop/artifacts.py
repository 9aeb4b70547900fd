"""Hand-off between notebooks: each stage caches its results in ``<outputs>/<stage>/`` with a manifest.

A stage folder appears complete or not at all: it is written into a hidden ``.<stage>.partial-*`` folder
first and renamed into place only when the notebook's save cell finished (``files.atomic_folder``).
``manifest.json`` records the stage, the settings it was made with, library versions, the checksum of every
file, and which run of the previous stage it was built on, so that a later notebook can refuse missing,
partial, stale or differently-configured inputs with one sentence that says which notebook to run.
Only JSON, Arrow (``save_to_disk``) and safetensors files are written: no pickles.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import json
import platform
import shutil
import uuid
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from .errors import WorkshopError, write_failure
from .files import atomic_folder, leftovers
from .outputs_lock import check_free
from .settings import Settings, display_path, source_key

STAGES = (
    "01_goal",
    "02_exploration",
    "03_preprocessing",
    "04_training_args",
    "05_training",
    "06_usage",
)
# Bonus notebooks after the six: they read earlier stages, but nothing depends on them and `run` runs them only
# when asked (--to 07); each reads the stages up to BONUS_NEEDS[stage].
BONUS_STAGES = ("07_design_choices",)
BONUS_NEEDS = {"07_design_choices": "04_training_args"}
MANIFEST = "manifest.json"

# Settings that change what the data/model stages compute; every other field of Settings but the outputs folder
# matters from training on, so a new field makes the training stages stale without anyone listing it here.
_BASE_KEYS = ("profile", "model", "data", "max_train_samples", "max_length", "seed")
_TRAINING_KEYS = tuple(
    field.name for field in dataclasses.fields(Settings) if field.name not in _BASE_KEYS + ("outputs",)
)
# Settings added after some outputs were made: what a manifest without them was made with.
_ADDED_LATER = {"precision": "auto"}
_LIBRARIES = ("torch", "transformers", "datasets", "tokenizers", "evaluate", "accelerate", "scikit-learn")


class ArtifactError(WorkshopError, RuntimeError):
    """A cached stage is missing, partial, stale or was made with other settings."""


def notebook_for(stage: str) -> str:
    return f"notebooks/{stage}.ipynb"


def stage_name(stage: str) -> str:
    """Accept '05', '5', '05_training' or 'training' and return '05_training'."""
    text = str(stage).strip()
    for name in STAGES + BONUS_STAGES:
        number, _, short = name.partition("_")
        if text in (name, short) or (text.isdigit() and int(text) == int(number)):
            return name
    raise ArtifactError(f"unknown stage {stage!r}: use one of {', '.join(s[:2] for s in STAGES + BONUS_STAGES)}")


def relevant_settings(settings: Settings, stage: str) -> dict:
    early = stage in STAGES and STAGES.index(stage) < STAGES.index("04_training_args")
    keys = _BASE_KEYS if early else _BASE_KEYS + _TRAINING_KEYS
    values = settings.fingerprint()
    return {key: values[key] for key in keys}


def library_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stage_files(folder: Path) -> list[Path]:
    return [path for path in sorted(folder.rglob("*")) if path.is_file() and path.name != MANIFEST]


def _checksums(folder: Path) -> dict:
    return {path.relative_to(folder).as_posix(): _sha256(path) for path in _stage_files(folder)}


def _sizes(folder: Path) -> dict:
    return {path.relative_to(folder).as_posix(): path.stat().st_size for path in _stage_files(folder)}


def stage_change(folder: Path, manifest: dict, checksums: bool = True) -> tuple[str, str] | None:
    """(file, what happened) for the first file of a saved stage that is missing or changed since it was saved,
    or None. Sizes are always compared (cheap; manifests from before sizes were recorded have none); checksums
    only with ``checksums``."""
    sizes = manifest.get("sizes", {})
    for name, checksum in manifest.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            return name, "is missing"
        if name in sizes and path.stat().st_size != sizes[name]:
            return name, "changed size"
        if checksums and _sha256(path) != checksum:
            return name, "changed"
    return None


def stage_bytes(settings: Settings) -> int:
    """What checking every saved stage's checksums would read."""
    total = 0
    for stage in STAGES:
        manifest = read_manifest(settings.stage_dir(stage)) or {}
        total += sum(manifest.get("sizes", {}).values()) if "sizes" in manifest else len(manifest.get("files", {})) << 20
    return total


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def read_json(path: Path):
    return json.loads(Path(path).read_text())


def read_manifest(folder: Path) -> dict | None:
    try:
        return read_json(folder / MANIFEST)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _upstream(stage: str) -> str | None:
    if stage in BONUS_NEEDS:
        return BONUS_NEEDS[stage]
    index = STAGES.index(stage)
    return STAGES[index - 1] if index else None


@contextlib.contextmanager
def save_stage(settings: Settings, stage: str):
    """Write a stage atomically: ``with save_stage(settings, "02_exploration") as folder: ...``.

    Inside the block, write files into ``folder``. If the block fails, nothing of the old stage is lost
    and no half-written stage appears; on success the new folder replaces the old one in one rename.
    A write the system refuses (a full disk, a file-size limit, a read-only folder), in the block or here,
    becomes one ArtifactError naming the outputs folder and the fix. OutputsBusyError at once while another
    run holds the outputs folder (``outputs_lock``).
    """
    stage = stage_name(stage)
    check_free(settings.outputs, f"save {stage}")
    with _write_failures_named(settings), atomic_folder(settings.stage_dir(stage)) as partial:
        yield partial
        _write_manifest(settings, stage, partial)


@contextlib.contextmanager
def _write_failures_named(settings: Settings):
    """Turn a write the system refused into one line naming the folder and the fix, however the library that
    wrote reports it (an OSError, or safetensors' ``I/O error: File too large (os error 27)``)."""
    try:
        yield
    except Exception as error:
        message = write_failure(error, display_path(settings.outputs))
        if message is None:
            raise
        raise ArtifactError(message) from None


def _write_manifest(settings: Settings, stage: str, partial: Path) -> None:
    """The manifest of the stage written into ``partial``, which ``atomic_folder`` then renames into place."""
    upstream = _upstream(stage)
    upstream_manifest = read_manifest(settings.stage_dir(upstream)) if upstream else None
    manifest = {
        "stage": stage,
        "notebook": notebook_for(stage),
        "run_id": uuid.uuid4().hex,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "settings": relevant_settings(settings, stage),
        "upstream": {upstream: upstream_manifest["run_id"]} if upstream_manifest else {},
        "versions": library_versions(),
        "files": _checksums(partial),
        "sizes": _sizes(partial),
    }
    write_json(partial / MANIFEST, manifest)


@dataclass
class StageState:
    stage: str
    done: bool
    created: str | None
    settings_match: bool
    stale_reason: str | None  # why a done stage no longer matches what is upstream of it
    modified: str | None = None  # which file changed since the stage was saved ("model/x changed size")
    settings: dict | None = None  # the settings recorded in its manifest

    @property
    def usable(self) -> bool:
        return self.done and self.settings_match and self.stale_reason is None and self.modified is None


def _settings_difference(recorded: dict, current: dict) -> list[str]:
    def same(key, value) -> bool:  # a folder recorded by an older version, e.g. absolute, is still the same folder
        before = recorded.get(key, _ADDED_LATER.get(key))
        return before == value or (key in ("model", "data") and before is not None and source_key(before) == value)

    return [
        f"{key}={recorded.get(key, _ADDED_LATER.get(key))!r} (now {value!r})"
        for key, value in current.items()
        if not same(key, value)
    ]


def stage_states(settings: Settings, checksums: bool = False) -> list[StageState]:
    """Done / settings / staleness / changed files of every stage, from the manifests and the files' sizes
    (and their checksums with ``checksums``)."""
    states: list[StageState] = []
    previous: dict | None = None
    for stage in STAGES:
        manifest = read_manifest(settings.stage_dir(stage))
        if manifest is None:
            states.append(StageState(stage, False, None, False, None))
            previous = None
            continue
        match = not _settings_difference(manifest.get("settings", {}), relevant_settings(settings, stage))
        reason = None
        upstream = _upstream(stage)
        if upstream is not None:
            before = states[-1]
            if previous is None:
                reason = f"{upstream} is missing"
            elif manifest.get("upstream", {}).get(upstream) != previous.get("run_id"):
                reason = f"{upstream} was re-run after it"
            elif before.stale_reason or not before.settings_match or before.modified:
                reason = f"{upstream} is out of date"
        change = stage_change(settings.stage_dir(stage), manifest, checksums)
        modified = " ".join(change) if change else None
        recorded = manifest.get("settings", {})
        states.append(StageState(stage, True, manifest.get("created"), match, reason, modified, recorded))
        previous = manifest
    return states


def load_stage(settings: Settings, stage: str) -> Path:
    """The folder of a complete, up-to-date stage made with the current settings, or ArtifactError."""
    stage = stage_name(stage)
    folder = settings.stage_dir(stage)
    check_free(settings.outputs, f"load {stage}")
    run_first = f"run {notebook_for(stage)} first"
    manifest = read_manifest(folder)
    if manifest is None:
        interrupted = bool(leftovers(folder)) or folder.exists()
        what = "was interrupted before it finished" if interrupted else "has not been run yet"
        raise ArtifactError(f"{stage} in {display_path(folder.parent)} {what}: {run_first}.")
    change = stage_change(folder, manifest, checksums=True)
    if change:
        raise ArtifactError(f"{stage} is incomplete or was modified ({change[0]}): {run_first} again.")
    differences = _settings_difference(manifest.get("settings", {}), relevant_settings(settings, stage))
    if differences:
        raise ArtifactError(
            f"{stage} was made with other settings ({', '.join(differences)}): {run_first} with the current settings."
        )
    state = {s.stage: s for s in stage_states(settings)}[stage]
    if state.stale_reason:
        first_bad = next(s.stage for s in stage_states(settings) if not s.usable)
        raise ArtifactError(
            f"{stage} is stale because {state.stale_reason}: re-run the notebooks from {notebook_for(first_bad)} on."
        )
    return folder


def clean_stage(settings: Settings, stage: str) -> list[Path]:
    """Remove one stage's cached folder, its leftovers (partial writes) and its training checkpoints."""
    stage = stage_name(stage)
    root = settings.outputs
    executed = root / "executed"
    targets = [settings.stage_dir(stage), root / f"{stage}.checkpoints", executed / f"{stage}.ipynb", executed / f"{stage}.html"]
    targets += leftovers(settings.stage_dir(stage))  # of writes that were interrupted
    removed = []
    for target in targets:
        if target.is_dir():
            shutil.rmtree(target)
            removed.append(target)
        elif target.is_file():
            target.unlink()
            removed.append(target)
    return removed


def checkpoint_dir(settings: Settings) -> Path:
    """Where training keeps its checkpoints: outside the atomic stage folder, so an interrupted run loses
    nothing, and one sub-folder per training configuration, so a run never resumes from another's."""
    key = json.dumps(relevant_settings(settings, "05_training"), sort_keys=True)
    return settings.outputs / "05_training.checkpoints" / hashlib.sha256(key.encode()).hexdigest()[:12]


def last_checkpoint(settings: Settings) -> str | None:
    """The newest complete checkpoint of an interrupted training run with these settings, if any."""
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    folder = checkpoint_dir(settings)
    found = folder.glob(f"{PREFIX_CHECKPOINT_DIR}-*") if folder.is_dir() else []
    steps = sorted((int(path.name.rsplit("-", 1)[1]), path) for path in found if path.name.rsplit("-", 1)[1].isdigit())
    for _, path in reversed(steps):
        if (path / "trainer_state.json").is_file():  # written last: a checkpoint cut short has none
            return str(path)
    return None


def remove_checkpoints(settings: Settings) -> None:
    """Delete the checkpoints of a training run whose result was saved: there is nothing left to resume."""
    shutil.rmtree(checkpoint_dir(settings), ignore_errors=True)


def require_disk_space(settings: Settings, model) -> int:
    """Fail before training, not halfway, when the outputs disk cannot hold checkpoints and the final model.

    Each checkpoint holds the weights and Adam's two moment estimates (3 x float32 per parameter); two are
    kept, but the Trainer writes a third before it deletes the oldest; plus the final model. Returns bytes.
    """
    needed = model.num_parameters() * 4 * (3 * 3 + 1)
    folder = settings.outputs
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise ArtifactError(
            f"training needs about {needed / 1e9:.1f} GB free under {display_path(settings.outputs)} for checkpoints "
            f"and the model, but only {free / 1e9:.1f} GB is free: free some space or point --outputs / "
            "WORKSHOP_OUTPUTS at a larger disk"
        )
    return needed
