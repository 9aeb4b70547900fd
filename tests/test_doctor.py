"""`cola-workshop doctor` and the environment report: healthy setups pass, and each failure (incomplete kit,
unreachable hub with nothing cached, too little disk) exits non-zero with one line naming the fix.

No network: the hub probe is replaced by "unreachable" everywhere, and the hub cache is a temporary folder."""

import json
import platform
import shutil
from collections import namedtuple
from pathlib import Path

import pytest

from cola_workshop import data, environment, notebook
from cola_workshop.tools import cli, doctor
from cola_workshop.settings import REPO_ROOT, load_settings

TINY_MODEL = REPO_ROOT / "data" / "tiny-gpt2"
DiskUsage = namedtuple("DiskUsage", "total used free")


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setattr(doctor, "hub_reachable", lambda: False)
    for name in ("WORKSHOP_PROFILE", "WORKSHOP_MODEL", "WORKSHOP_DATA", "WORKSHOP_OUTPUTS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def saved_data(tmp_path_factory):
    """The tiny CoLA sample as `cola-workshop prefetch` saves a dataset (save_to_disk)."""
    folder = tmp_path_factory.mktemp("saved") / "data"
    data.save_for_offline(load_settings(environ={}, profile="tiny"), folder)
    return folder


@pytest.fixture
def kit(tmp_path, saved_data):
    """A complete offline kit, as prefetch writes it: kit/model and kit/data."""
    folder = tmp_path / "kit"
    shutil.copytree(TINY_MODEL, folder / "model")
    shutil.copytree(saved_data, folder / "data")
    return folder


def doctor_run(capsys, *argv):
    code = cli.main(["doctor", *argv])
    out = capsys.readouterr().out
    return code, out, [line for line in out.splitlines() if line.startswith("FAIL")]


def test_healthy_tiny_setup_exits_0(capsys, tmp_path):
    code, out, failed = doctor_run(capsys, "--profile", "tiny", "--outputs", str(tmp_path / "outputs"))
    assert code == 0 and not failed, out
    assert "ready for the workshop" in out
    assert "hub: " in out and "not needed: model and data are local folders" in out
    assert "device: training on " in out and "(profile tiny)" in out
    assert "needs about 68 MB" in out  # 1.69M parameters x 4 bytes x 10 (three checkpoints + the model)


def test_complete_kit_exits_0(capsys, tmp_path, kit):
    code, out, failed = doctor_run(capsys, "--kit", str(kit), "--outputs", str(tmp_path / "outputs"))
    assert code == 0 and not failed, out
    assert f"kit: --kit {kit} is complete" in out


def _truncate_weights(kit):
    weights = kit / "model" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])


@pytest.mark.parametrize(
    "damage, reason",
    [
        (_truncate_weights, "model.safetensors is incomplete"),
        (lambda kit: [(kit / "model" / name).unlink(missing_ok=True) for name in ("tokenizer.json", "vocab.json", "merges.txt")],
             "no tokenizer files"),
        (lambda kit: shutil.rmtree(kit / "data" / "validation"), "the validation split is missing"),
        (lambda kit: next((kit / "data" / "train").glob("*.arrow")).unlink(), "is missing or empty"),
        (lambda kit: shutil.rmtree(kit / "data"), "does not exist"),
    ],
    ids=["truncated-weights", "no-tokenizer", "missing-split", "missing-arrow", "no-data-folder"],
)
def test_incomplete_kit_fails_with_one_line_fix(capsys, tmp_path, kit, damage, reason):
    damage(kit)
    code, out, failed = doctor_run(capsys, "--kit", str(kit), "--outputs", str(tmp_path / "outputs"))
    assert code == doctor.EXIT_PROBLEMS, out
    assert len(failed) == 1 and failed[0].startswith("FAIL  kit: "), out
    assert reason in failed[0] and "cola-workshop prefetch --to DIR" in failed[0]


def test_model_and_data_flags_are_checked_like_a_kit(capsys, tmp_path, kit):
    flags = ["--model", str(kit / "model"), "--data", str(kit / "data"), "--outputs", str(tmp_path)]
    code, out, _ = doctor_run(capsys, *flags)
    assert code == 0 and "kit: --model" in out and "is complete" in out, out
    shutil.rmtree(kit / "model")
    code, out, failed = doctor_run(capsys, "--model", str(kit / "model"), "--outputs", str(tmp_path))
    assert code == doctor.EXIT_PROBLEMS and "does not exist" in failed[0], out
    assert "check the path" in failed[0] and "kit folder again" not in failed[0]  # a typed path, not a copied kit


def test_unreachable_hub_with_nothing_cached_fails(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(doctor, "model_cached", lambda name: None)
    monkeypatch.setattr(doctor, "dataset_cached", lambda: False)
    code, out, failed = doctor_run(capsys, "--profile", "full", "--outputs", str(tmp_path))
    assert code == doctor.EXIT_PROBLEMS, out
    assert len(failed) == 1 and failed[0].startswith("FAIL  hub: "), out
    assert "'openai-community/gpt2' and the dataset nyu-mll/glue (cola) are not in the local cache" in failed[0]
    assert "--profile tiny" in failed[0] and "cola-workshop prefetch" in failed[0]


def test_unreachable_hub_with_everything_cached_passes(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(doctor, "model_cached", lambda name: TINY_MODEL)  # a cached snapshot's folder
    monkeypatch.setattr(doctor, "dataset_cached", lambda: True)
    code, out, failed = doctor_run(capsys, "--outputs", str(tmp_path))
    assert code == 0 and not failed, out
    assert "load from the local cache" in out and "needs about 68 MB" in out


def test_too_little_disk_fails(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", lambda path: DiskUsage(10**9, 10**9 - 10**6, 10**6))
    code, out, failed = doctor_run(capsys, "--profile", "tiny", "--outputs", str(tmp_path / "new" / "outputs"))
    assert code == doctor.EXIT_PROBLEMS, out
    assert len(failed) == 1 and failed[0].startswith("FAIL  disk: training needs about 0.1 GB"), out
    assert "free some space or point --outputs / WORKSHOP_OUTPUTS at a larger disk" in failed[0]


def _cache_entry(cache: Path, repo: str, files: dict[str, bytes]) -> Path:
    """A hub cache entry laid out as huggingface_hub writes it: refs/main names the snapshot."""
    entry = cache / f"models--{repo.replace('/', '--')}"
    snapshot = entry / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text("0123abcd")
    for name, content in files.items():
        (snapshot / name).write_bytes(content)
    return snapshot


def test_model_cached_reads_the_hub_cache(tmp_path):
    assert doctor.model_cached("org/none", cache_dir=tmp_path) is None
    config_only = _cache_entry(tmp_path, "org/config-only", {"config.json": b"{}"})
    assert config_only.is_dir() and doctor.model_cached("org/config-only", cache_dir=tmp_path) is None
    weights = (TINY_MODEL / "model.safetensors").read_bytes()
    snapshot = _cache_entry(tmp_path, "org/full", {"config.json": b"{}", "model.safetensors": weights})
    assert doctor.model_cached("org/full", cache_dir=tmp_path) == snapshot


def test_safetensors_parameters_match_the_tensors():
    from safetensors.numpy import load_file

    from cola_workshop.weights import safetensors_parameters

    tensors = load_file(TINY_MODEL / "model.safetensors")
    assert safetensors_parameters(TINY_MODEL / "model.safetensors") == sum(t.size for t in tensors.values())


# --------------------------------------------------------------------------------------------------
# Versions: tested = same major.minor as locked
# --------------------------------------------------------------------------------------------------


def _locked_installed():
    return {name: versions[0] for name, versions in environment.tested_versions()["packages"].items()}


def test_locked_versions_are_tested_whatever_the_build_or_patch():
    installed = _locked_installed()
    assert environment.untested(installed, python="3.11.7") == []
    major, minor, *_ = installed["torch"].split(".")
    installed["torch"] = f"{major}.{minor}.99+cu130"  # a patch release, CUDA build
    assert environment.untested(installed, python="3.13.1") == []


def test_other_minor_versions_and_pythons_are_flagged_in_one_line():
    installed = _locked_installed()
    major, minor, *_ = installed["transformers"].split(".")
    installed["transformers"] = f"{major}.{int(minor) + 1}.0"
    del installed["datasets"]
    problems = environment.untested(installed, python="3.14.0")
    assert [p.split(" ")[0] for p in problems] == ["Python", "transformers", "datasets"], problems
    warning = environment.version_warning(problems)
    assert "\n" not in warning and warning.startswith("warning: untested versions: Python 3.14.0")
    assert f"transformers {major}.{int(minor) + 1}.0 (tested: " in warning
    assert warning.endswith("python -m pip install -e . -c .ci/constraints.txt, in the repository)")


def test_doctor_warns_but_passes_on_untested_versions(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(environment, "installed_version", lambda name: "0.0.1")
    code, out, failed = doctor_run(capsys, "--profile", "tiny", "--outputs", str(tmp_path))
    assert code == 0 and not failed, out
    assert "warn  versions: untested versions: " in out and "torch 0.0.1" in out


# --------------------------------------------------------------------------------------------------
# The settings cell
# --------------------------------------------------------------------------------------------------


def test_settings_cell_reports_versions_and_device(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("WORKSHOP_PROFILE", "tiny")
    monkeypatch.setenv("WORKSHOP_OUTPUTS", str(tmp_path))
    notebook.start()
    lines = capsys.readouterr().out.splitlines()
    versions = next(line for line in lines if line.startswith("versions: "))
    assert versions.startswith(f"versions: Python {platform.python_version()}, torch ")
    assert "transformers " in versions and "datasets " in versions
    assert any(line.startswith("training on ") for line in lines)


def _sanitized(text: str) -> str:
    import re

    from nbval.plugin import get_sanitize_patterns

    patterns = get_sanitize_patterns((REPO_ROOT / "tests" / "nbval_sanitize.cfg").read_text())
    for regex, replace in patterns:
        text = re.sub(regex, replace, text)
    return text


def test_settings_cell_output_is_the_same_on_any_cpu_after_sanitizing(monkeypatch):
    """nbval compares the settings cell: thread count, bf16 support and Python's patch release must not show."""
    import torch

    from cola_workshop import hardware

    settings = load_settings(environ={}, profile="full")
    outputs = []
    for threads, bf16, python in ((2, True, "3.11.7"), (16, False, "3.13.2")):
        monkeypatch.setattr(torch, "get_num_threads", lambda threads=threads: threads)
        monkeypatch.setattr(hardware, "cpu_bf16_is_faster", lambda bf16=bf16: bf16)
        monkeypatch.setattr(platform, "python_version", lambda python=python: python)
        outputs.append(environment.report(settings))
    assert outputs[0] != outputs[1]
    assert _sanitized(outputs[0]) == _sanitized(outputs[1])
    assert "training on DEVICE" in _sanitized(outputs[0]) and "Python 3.X" in _sanitized(outputs[0])


def test_tested_versions_file_ships_in_the_package():
    tested = json.loads(environment.TESTED_FILE.read_text())
    assert environment.TESTED_FILE.parent == Path(environment.__file__).parent
    assert {"torch", "transformers", "datasets", "evaluate", "accelerate", "nbval"} <= set(tested["packages"])
