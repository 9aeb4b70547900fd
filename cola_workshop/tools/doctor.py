"""``cola-workshop doctor``: is this laptop ready for the workshop? One line per check, each failure with its fix.

An instructor asks the room to run it before the session, when a problem still costs minutes rather than a
lesson. It checks, without downloading any model or dataset:

- versions: Python and the libraries against the tested (locked) ones (a warning, not a failure);
- device: where and in which precision the Trainer will train with the chosen profile;
- hub: whether the Hugging Face hub answers, and if not, whether what the settings need from it is cached;
- kit: whether an offline kit (``cola-workshop prefetch --to DIR``: ``DIR/model`` and ``DIR/data``) or the
  folders given to ``--model`` / ``--data`` are complete: config, tokenizer, untruncated safetensors weights,
  every split of the saved dataset;
- sections: which notebook sections the model will skip, each saying why (an encoder has no zero-shot
  baseline; some architectures have no question-answering class), when its configuration can be read offline;
- disk: free space under the outputs folder against what training the chosen model needs (the estimate of
  ``artifacts.require_disk_space``, which notebook 05 enforces before it trains).

Exit status 0 when nothing failed (warnings allowed), 1 otherwise.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

from .. import environment
from ..artifacts import ArtifactError, require_disk_space
from ..data import HUB_CONFIG, HUB_ID, DataFormatError, detect_layout
from ..hub import OFFLINE_FIX, hub_endpoint, hub_reachable
from ..models import skipped_sections
from ..settings import Settings, display_path, local_folder
from ..sources import ModelSourceError, local_checkpoint
from ..weights import IncompleteError, checkpoint_parameters

OK, WARN, FAIL = "ok", "warn", "FAIL"
EXIT_HEALTHY, EXIT_PROBLEMS = 0, 1
KIT_FIX = (
    "copy the whole kit folder again, or re-create it with `cola-workshop prefetch --to DIR` on a machine with a "
    "network (see notebooks/instructor-guide.md)"
)
TOKENIZER_FILES = (("tokenizer.json",), ("vocab.json", "merges.txt"), ("tokenizer.model",), ("vocab.txt",))
SPLITS = ("train", "validation", "test")


@dataclasses.dataclass(frozen=True)
class Finding:
    status: str  # OK, WARN or FAIL
    topic: str
    text: str

    def line(self) -> str:
        return f"{self.status:<5} {self.topic}: {self.text}"


def check_model_folder(folder: Path) -> int:
    """The parameter count of a complete checkpoint folder; IncompleteError naming what is missing."""
    if not folder.is_dir():
        raise IncompleteError(f"{display_path(folder)} does not exist")
    try:
        local_checkpoint(str(folder))  # config.json and .safetensors weights
        json.loads((folder / "config.json").read_text())
    except (ModelSourceError, ValueError) as error:
        raise IncompleteError(str(error).split(":")[0]) from None
    if not any(all((folder / name).is_file() for name in group) for group in TOKENIZER_FILES):
        raise IncompleteError(
            f"{display_path(folder)} has no tokenizer files (tokenizer.json or vocab.json + merges.txt)"
        )
    return checkpoint_parameters(folder)


def check_data_folder(folder: Path) -> None:
    """IncompleteError unless ``folder`` holds CoLA in a layout --data reads, with every saved split's files."""
    if not folder.is_dir():
        raise IncompleteError(f"{display_path(folder)} does not exist")
    try:
        layout, root = detect_layout(folder)
    except DataFormatError:
        raise IncompleteError(
            f"{display_path(folder)} holds no CoLA data (neither a saved dataset nor TSV files)"
        ) from None
    if layout != "saved":
        return
    try:
        splits = json.loads((root / "dataset_dict.json").read_text())["splits"]
    except (ValueError, KeyError):
        raise IncompleteError(f"{display_path(root / 'dataset_dict.json')} is damaged") from None
    for split in SPLITS:
        if split not in splits or not (root / split / "state.json").is_file():
            raise IncompleteError(f"the {split} split is missing from {display_path(root)}")
        state = json.loads((root / split / "state.json").read_text())
        for entry in state.get("_data_files", []):
            path = root / split / entry["filename"]
            if not path.is_file() or path.stat().st_size == 0:
                raise IncompleteError(f"{display_path(path)} is missing or empty")


def check_kit(model_dir: Path | None, data_dir: Path | None, label: str) -> Finding:
    try:
        if model_dir is not None:
            check_model_folder(model_dir)
        if data_dir is not None:
            check_data_folder(data_dir)
    except IncompleteError as error:
        fix = KIT_FIX if label.startswith("--kit") else "check the path, or give a complete folder (README, Instructor guide)"
        return Finding(FAIL, "kit", f"{label} is incomplete: {error}: {fix}")
    parts = [display_path(p) for p in (model_dir, data_dir) if p is not None]
    return Finding(OK, "kit", f"{label} is complete ({' and '.join(parts)})")


# --------------------------------------------------------------------------------------------------
# The hub and the local cache
# --------------------------------------------------------------------------------------------------


def model_cached(name: str, cache_dir: str | Path | None = None) -> Path | None:
    """The cached snapshot folder of hub model ``name`` when its config and safetensors weights are cached."""
    from huggingface_hub import try_to_load_from_cache

    config = try_to_load_from_cache(name, "config.json", cache_dir=cache_dir)
    if not isinstance(config, str):
        return None
    folder = Path(config).parent
    for weights in ("model.safetensors", "model.safetensors.index.json"):
        if isinstance(try_to_load_from_cache(name, weights, cache_dir=cache_dir), str):
            return folder
    return None


def dataset_cached() -> bool:
    """True when CoLA loads from the local caches alone (what the notebooks do when the hub is unreachable)."""
    from datasets import load_dataset

    from ..hub import offline_mode

    try:
        with offline_mode():
            load_dataset(HUB_ID, HUB_CONFIG)
    except (OSError, ValueError):
        return False
    return True


def hub_needs(settings: Settings) -> list[str]:
    """What the settings take from the hub: the model (a hub id), the dataset (--data hub), both or nothing."""
    model = settings.model
    needs = [] if local_folder(model) is not None else [f"the model {model!r}"]
    return needs + ([f"the dataset {HUB_ID} ({HUB_CONFIG})"] if settings.data == "hub" else [])


def check_hub(settings: Settings, reachable: bool) -> Finding:
    needs = hub_needs(settings)
    if reachable:
        return Finding(OK, "hub", f"{hub_endpoint()} answers")
    if not needs:
        return Finding(OK, "hub", f"{hub_endpoint()} does not answer; not needed: model and data are local folders")
    missing = [need for need in needs if not (model_cached(settings.model) if "model" in need else dataset_cached())]
    if missing:
        what = " and ".join(missing) + (" is" if len(missing) == 1 else " are")
        return Finding(FAIL, "hub", f"{hub_endpoint()} is unreachable and {what} not in the local cache: {OFFLINE_FIX}")
    return Finding(WARN, "hub", f"{hub_endpoint()} is unreachable; {' and '.join(needs)} load from the local cache")


# --------------------------------------------------------------------------------------------------
# Disk, versions, device
# --------------------------------------------------------------------------------------------------


def parameter_count(settings: Settings, reachable: bool) -> int | None:
    """Parameters of the settings' model from its safetensors headers (local, cached, or the hub's header
    metadata when it answers); None when nothing says."""
    try:
        folder = local_checkpoint(settings.model, weights=False) or model_cached(settings.model)
        if folder is not None:
            return checkpoint_parameters(folder) or None
        if reachable:
            from huggingface_hub import get_safetensors_metadata

            return sum(get_safetensors_metadata(settings.model).parameter_count.values())
    except Exception:  # noqa: BLE001 - an estimate we cannot make is reported as unknown, not as a crash
        return None
    return None


def free_bytes(folder: Path) -> int:
    while not folder.exists():
        folder = folder.parent
    return shutil.disk_usage(folder).free


def size(nbytes: float) -> str:
    return f"{nbytes / 1e9:.1f} GB" if nbytes >= 1e8 else f"{nbytes / 1e6:.0f} MB"


def check_disk(settings: Settings, parameters: int | None) -> Finding:
    where = display_path(settings.outputs)
    free = free_bytes(settings.outputs)
    if parameters is None:
        return Finding(WARN, "disk", f"{size(free)} free under {where}; the need is unknown until the model's weights "
                       "are available (GPT-2 small needs about 5 GB)")
    try:
        needed = require_disk_space(settings, SimpleNamespace(num_parameters=lambda: parameters))
    except ArtifactError as error:
        return Finding(FAIL, "disk", str(error))
    model = display_path(settings.model)
    return Finding(OK, "disk", f"{size(free)} free under {where}; training {model} needs about {size(needed)}")


def check_versions() -> Finding:
    names = tuple(environment.tested_versions()["packages"])
    warning = environment.version_warning(environment.untested())
    line = environment.versions_line(names).removeprefix("versions: ")
    if warning:
        return Finding(WARN, "versions", warning.removeprefix("warning: "))
    return Finding(OK, "versions", f"{line} (tested)")


def check_sections(settings: Settings, reachable: bool) -> Finding | None:
    """Which notebook sections this model will skip (an encoder: the zero-shot baseline; an architecture without a
    question-answering class: question answering); None when its configuration cannot be read without a network."""
    from transformers import AutoConfig

    folder = local_folder(settings.model)
    if folder is None and not reachable and model_cached(settings.model) is None:
        return None
    try:
        config = AutoConfig.from_pretrained(str(folder or settings.model), trust_remote_code=False)
    except (OSError, ValueError):
        return None  # the kit and hub checks say what is wrong with the model
    skipped = skipped_sections(config)
    if not skipped:
        return Finding(OK, "sections", "this model runs every section of the six notebooks")
    return Finding(OK, "sections", "this model skips " + "; ".join(skipped))


def check_device(settings: Settings) -> Finding:
    return Finding(OK, "device", f"{environment.device_line(settings)} (profile {settings.profile})")


# --------------------------------------------------------------------------------------------------
# All checks
# --------------------------------------------------------------------------------------------------


def given_path(value: str | None) -> Path | None:
    """A --model/--data value as a folder (relative to the current folder), None for a hub id or 'hub'.
    'kit/model' counts as a folder when 'kit' exists, so a half-copied kit is reported as such."""
    if not value or value.strip().lower() == "hub":
        return None
    folder = local_folder(value, base=Path.cwd())
    if folder is not None:
        return folder
    path = Path(value).expanduser()
    return path.absolute() if path.parent != Path(".") and path.parent.exists() else None


def diagnose(settings: Settings, kit: str | None = None, model: str | None = None, data: str | None = None) -> list:
    """Every check, for ``settings`` with ``--kit`` or ``--model`` / ``--data`` (as typed) applied."""
    model_dir, data_dir = given_path(model), given_path(data)
    given = (("model", model, model_dir), ("data", data, data_dir))
    label = " ".join(f"--{flag} {value}" for flag, value, path in given if path)
    if kit:
        folder = Path(kit).expanduser().absolute()
        model_dir, data_dir, label = folder / "model", folder / "data", f"--kit {kit}"
    if model is not None or model_dir:
        settings = dataclasses.replace(settings, model=str(model_dir or model))
    if data is not None or data_dir:
        settings = dataclasses.replace(settings, data=str(data_dir) if data_dir else "hub")
    reachable = hub_reachable()
    findings = [check_versions(), check_device(settings)]
    if model_dir or data_dir:
        findings.append(check_kit(model_dir, data_dir, label))
    findings.append(check_hub(settings, reachable))
    sections = check_sections(settings, reachable)
    findings += [sections] if sections else []
    findings.append(check_disk(settings, parameter_count(settings, reachable)))
    return findings


def exit_code(findings: list[Finding]) -> int:
    return EXIT_PROBLEMS if any(finding.status == FAIL for finding in findings) else EXIT_HEALTHY


def render(settings: Settings, findings: list[Finding]) -> str:
    failed = sum(finding.status == FAIL for finding in findings)
    lines = [f"cola-workshop doctor: profile {settings.profile}, outputs {display_path(settings.outputs)}"]
    lines += [finding.line() for finding in findings]
    if failed:
        lines.append(f"{failed} problem(s): fix the FAIL line(s) above, then run cola-workshop doctor again")
    else:
        lines.append("ready for the workshop")
    return "\n".join(lines)
