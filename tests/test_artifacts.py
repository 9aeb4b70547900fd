"""Tests for cola_workshop.artifacts: atomic stage folders, manifests, refusals, staleness, cleaning, checkpoints.

Every test works in its own outputs folder (tmp_path) with the tiny profile's settings; no notebook runs.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from cola_workshop.artifacts import (
    MANIFEST,
    STAGES,
    ArtifactError,
    checkpoint_dir,
    clean_stage,
    last_checkpoint,
    load_stage,
    notebook_for,
    read_manifest,
    relevant_settings,
    remove_checkpoints,
    save_stage,
    stage_name,
    stage_states,
)
from cola_workshop.outputs_lock import TOKEN_VAR, OutputsBusyError, hold_outputs, lock_path, read_holder
from cola_workshop.settings import REPO_ROOT, load_settings, settings_to_env


@pytest.fixture
def settings(tmp_path):
    return load_settings(environ={}, profile="tiny", outputs=str(tmp_path))


def make_stage(settings, stage: str, text: str = "result") -> Path:
    with save_stage(settings, stage) as folder:
        (folder / "result.txt").write_text(text)
        (folder / "sub").mkdir()
        (folder / "sub" / "values.json").write_text(json.dumps({"stage": stage}))
    return settings.stage_dir(stage_name(stage))


def make_stages(settings, upto: int) -> None:
    for stage in STAGES[:upto]:
        make_stage(settings, stage)


def hidden_leftovers(outputs: Path) -> list[Path]:
    return sorted(path for path in outputs.iterdir() if path.name.startswith("."))


def states(settings) -> dict:
    return {state.stage: state for state in stage_states(settings)}


# --------------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------------


def test_stage_name_accepts_numbers_and_names():
    assert stage_name("05") == stage_name("5") == stage_name("training") == stage_name("05_training") == "05_training"
    assert notebook_for("02_exploration") == "notebooks/02_exploration.ipynb"
    with pytest.raises(ArtifactError, match="unknown stage '12'"):
        stage_name("12")


# --------------------------------------------------------------------------------------------------
# save_stage / load_stage
# --------------------------------------------------------------------------------------------------


def test_save_stage_writes_a_complete_folder_with_a_manifest(settings):
    make_stage(settings, "01_goal")
    folder = make_stage(settings, "02", text="exploration")
    assert folder == settings.outputs / "02_exploration"
    assert (folder / "result.txt").read_text() == "exploration"
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["stage"] == "02_exploration"
    assert manifest["notebook"] == "notebooks/02_exploration.ipynb"
    assert manifest["settings"] == relevant_settings(settings, "02_exploration")
    assert manifest["settings"]["model"] == "data/tiny-gpt2" and "epochs" not in manifest["settings"]
    assert {"python", "torch", "transformers", "datasets"} <= set(manifest["versions"])
    assert manifest["versions"]["transformers"].startswith("5.")
    assert manifest["files"] == {
        "result.txt": hashlib.sha256(b"exploration").hexdigest(),
        "sub/values.json": hashlib.sha256(json.dumps({"stage": "02"}).encode()).hexdigest(),
    }
    upstream = read_manifest(settings.stage_dir("01_goal"))
    assert manifest["upstream"] == {"01_goal": upstream["run_id"]}
    assert upstream["upstream"] == {}
    assert len({manifest["run_id"], upstream["run_id"]}) == 2
    assert hidden_leftovers(settings.outputs) == []
    assert load_stage(settings, "02") == folder
    assert load_stage(settings, "exploration") == folder


def test_training_stages_record_the_training_settings(settings):
    make_stages(settings, 4)
    recorded = read_manifest(settings.stage_dir("04_training_args"))["settings"]
    assert recorded["epochs"] == settings.epochs and recorded["learning_rate"] == settings.learning_rate


def test_failure_inside_the_block_keeps_the_previous_stage(settings):
    make_stage(settings, "01_goal", text="first run")
    before = read_manifest(settings.stage_dir("01_goal"))
    with pytest.raises(RuntimeError, match="cell failed"):
        with save_stage(settings, "01_goal") as folder:
            (folder / "result.txt").write_text("half")
            (folder / "extra.txt").write_text("half")
            raise RuntimeError("cell failed")
    folder = load_stage(settings, "01")
    assert (folder / "result.txt").read_text() == "first run"
    assert not (folder / "extra.txt").exists()
    assert read_manifest(folder) == before
    assert hidden_leftovers(settings.outputs) == []


def test_failure_of_a_first_run_leaves_nothing(settings):
    with pytest.raises(KeyboardInterrupt):
        with save_stage(settings, "03") as folder:
            (folder / "result.txt").write_text("half")
            raise KeyboardInterrupt
    assert not settings.stage_dir("03_preprocessing").exists()
    assert hidden_leftovers(settings.outputs) == []


def test_rerun_replaces_the_stage(settings):
    make_stage(settings, "01_goal", text="one")
    first = read_manifest(settings.stage_dir("01_goal"))["run_id"]
    folder = make_stage(settings, "01_goal", text="two")
    assert (folder / "result.txt").read_text() == "two"
    assert read_manifest(folder)["run_id"] != first
    assert hidden_leftovers(settings.outputs) == []


def test_missing_stage_names_the_notebook_to_run(settings):
    with pytest.raises(ArtifactError) as error:
        load_stage(settings, "03")
    message = str(error.value)
    assert "\n" not in message
    assert "has not been run yet" in message
    assert "run notebooks/03_preprocessing.ipynb first" in message


def test_interrupted_stage_says_so(settings):
    make_stage(settings, "01_goal")
    (settings.outputs / ".02_exploration.partial-123-abcdef01").mkdir()
    with pytest.raises(ArtifactError) as error:
        load_stage(settings, "02")
    message = str(error.value)
    assert "interrupted" in message and "run notebooks/02_exploration.ipynb first" in message


def test_folder_without_manifest_counts_as_interrupted(settings):
    settings.stage_dir("01_goal").mkdir(parents=True)
    with pytest.raises(ArtifactError, match="interrupted"):
        load_stage(settings, "01")


def test_modified_file_is_refused(settings):
    folder = make_stage(settings, "01_goal")
    (folder / "sub" / "values.json").write_text("{}")
    with pytest.raises(ArtifactError) as error:
        load_stage(settings, "01")
    message = str(error.value)
    assert "incomplete or was modified (sub/values.json)" in message
    assert "notebooks/01_goal.ipynb" in message


def test_deleted_file_is_refused(settings):
    folder = make_stage(settings, "01_goal")
    (folder / "result.txt").unlink()
    with pytest.raises(ArtifactError, match=r"incomplete or was modified \(result.txt\)"):
        load_stage(settings, "01")


def test_other_training_settings_are_refused_from_stage_04_on(settings, tmp_path):
    make_stages(settings, 4)
    more_epochs = load_settings(environ={}, profile="tiny", outputs=str(tmp_path), epochs=3)
    with pytest.raises(ArtifactError) as error:
        load_stage(more_epochs, "04")
    message = str(error.value)
    assert "other settings" in message and "epochs=5" in message and "(now 3.0)" in message
    assert "notebooks/04_training_args.ipynb" in message
    # The data stages do not depend on the number of epochs.
    for stage in ("01", "02", "03"):
        assert load_stage(more_epochs, stage) == settings.stage_dir(stage_name(stage))
    state = states(more_epochs)
    assert state["03_preprocessing"].usable
    assert not state["04_training_args"].settings_match


def test_other_data_settings_are_refused_everywhere(settings, tmp_path):
    make_stages(settings, 2)
    fewer = load_settings(environ={}, profile="tiny", outputs=str(tmp_path), max_train_samples=100)
    with pytest.raises(ArtifactError, match=r"max_train_samples=None \(now 100\)"):
        load_stage(fewer, "02")


def test_settings_from_the_environment_match_the_manifest(settings):
    """A stage written by a notebook run from the command line is usable by one run by hand, and back."""
    make_stages(settings, 4)
    from_cli = load_settings(environ=settings_to_env(settings))
    assert load_stage(from_cli, "04") == settings.stage_dir("04_training_args")


def test_a_folder_written_another_way_is_the_same_folder(settings, tmp_path):
    """`cola-workshop run --model data/tiny-gpt2` records absolute paths, a notebook started by hand the profile's
    relative ones: both name the same folders, so stages and an interrupted training are found either way."""
    make_stages(settings, 4)
    absolute = load_settings(environ={}, profile="tiny", outputs=str(tmp_path),
                             model=str(REPO_ROOT / "data" / "tiny-gpt2"), data=str(REPO_ROOT / "data" / "." / "cola_tiny"))
    assert (absolute.model, absolute.data) != (settings.model, settings.data)
    assert load_stage(absolute, "04") == settings.stage_dir("04_training_args")
    assert checkpoint_dir(absolute) == checkpoint_dir(settings)
    other_folder = load_settings(environ={}, profile="tiny", outputs=str(tmp_path), model=str(REPO_ROOT / "data" / "cola_tiny"))
    with pytest.raises(ArtifactError, match="other settings"):
        load_stage(other_folder, "01")


def test_a_stage_that_recorded_an_absolute_folder_is_still_usable(settings):
    """Earlier versions recorded a folder as it was given: an absolute path in the manifest still matches."""
    make_stages(settings, 2)
    manifest_path = settings.stage_dir("01_goal") / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["settings"]["model"] = str(REPO_ROOT / "data" / "tiny-gpt2")
    manifest_path.write_text(json.dumps(manifest))
    assert load_stage(settings, "01") == settings.stage_dir("01_goal")
    assert states(settings)["02_exploration"].usable


# --------------------------------------------------------------------------------------------------
# Staleness
# --------------------------------------------------------------------------------------------------


def test_rerunning_an_earlier_stage_makes_the_later_ones_stale(settings):
    make_stages(settings, 3)
    assert all(states(settings)[stage].usable for stage in STAGES[:3])
    make_stage(settings, "01_goal")  # re-run 01 after 02 and 03
    state = states(settings)
    assert state["01_goal"].usable
    assert state["02_exploration"].stale_reason == "01_goal was re-run after it"
    assert state["03_preprocessing"].stale_reason == "02_exploration is out of date"
    assert not state["02_exploration"].usable and not state["03_preprocessing"].usable
    assert not state["04_training_args"].done
    for stage in ("02", "03"):
        with pytest.raises(ArtifactError) as error:
            load_stage(settings, stage)
        message = str(error.value)
        assert "stale" in message
        assert "re-run the notebooks from notebooks/02_exploration.ipynb on" in message
    # Re-running 02 and 03 in order makes them usable again.
    make_stage(settings, "02")
    make_stage(settings, "03")
    assert load_stage(settings, "03") == settings.stage_dir("03_preprocessing")


def test_a_stage_whose_upstream_is_missing_is_stale(settings):
    make_stages(settings, 2)
    clean_stage(settings, "01")
    state = states(settings)
    assert not state["01_goal"].done
    assert state["02_exploration"].stale_reason == "01_goal is missing"
    with pytest.raises(ArtifactError, match="re-run the notebooks from notebooks/01_goal.ipynb on"):
        load_stage(settings, "02")


# --------------------------------------------------------------------------------------------------
# clean_stage
# --------------------------------------------------------------------------------------------------


def test_clean_stage_removes_only_that_stage(settings):
    outputs = settings.outputs
    make_stages(settings, 5)
    executed = outputs / "executed"
    executed.mkdir()
    for stage in ("04_training_args", "05_training"):
        (executed / f"{stage}.ipynb").write_text("{}")
        (executed / f"{stage}.html").write_text("<html></html>")
    checkpoints = checkpoint_dir(settings) / "checkpoint-8"
    checkpoints.mkdir(parents=True)
    (outputs / ".05_training.partial-1-deadbeef").mkdir()
    (outputs / ".05_training.old-cafebabe").mkdir()
    (outputs / ".04_training_args.partial-1-deadbeef").mkdir()
    (outputs / "my_notes.txt").write_text("mine")
    (outputs / "05_training.txt").write_text("also mine")

    removed = clean_stage(settings, "05")
    assert set(removed) == {
        outputs / "05_training",
        outputs / "05_training.checkpoints",
        executed / "05_training.ipynb",
        executed / "05_training.html",
        outputs / ".05_training.partial-1-deadbeef",
        outputs / ".05_training.old-cafebabe",
    }
    assert not any(path.exists() for path in removed)
    assert (outputs / "my_notes.txt").read_text() == "mine"
    assert (outputs / "05_training.txt").read_text() == "also mine"
    assert (executed / "04_training_args.ipynb").is_file() and (executed / "04_training_args.html").is_file()
    assert (outputs / ".04_training_args.partial-1-deadbeef").is_dir()
    assert load_stage(settings, "04") == settings.stage_dir("04_training_args")
    assert clean_stage(settings, "05") == []


def test_clean_stage_on_a_missing_outputs_folder(tmp_path):
    settings = load_settings(environ={}, profile="tiny", outputs=str(tmp_path / "never-created"))
    assert clean_stage(settings, "02") == []


# --------------------------------------------------------------------------------------------------
# Training checkpoints
# --------------------------------------------------------------------------------------------------


def test_checkpoint_dir_depends_on_the_training_settings_only(settings, tmp_path):
    same = load_settings(environ={}, profile="tiny", outputs=str(tmp_path))
    assert checkpoint_dir(same) == checkpoint_dir(settings)
    assert checkpoint_dir(settings).parent == settings.outputs / "05_training.checkpoints"
    for change in ({"epochs": 3}, {"max_train_samples": 100}, {"model": "openai-community/gpt2"}, {"profile": "full"}):
        other = load_settings(environ={}, **{"profile": "tiny", "outputs": str(tmp_path), **change})
        assert checkpoint_dir(other) != checkpoint_dir(settings), change


def test_checkpoint_dir_is_the_same_for_the_command_line_and_jupyter(settings):
    from_cli = load_settings(environ=settings_to_env(settings))
    assert from_cli == settings
    assert checkpoint_dir(from_cli) == checkpoint_dir(settings)


def test_last_checkpoint_is_the_newest_complete_one(settings):
    assert last_checkpoint(settings) is None
    folder = checkpoint_dir(settings)
    for step, complete in ((8, True), (16, True), (24, False)):
        (folder / f"checkpoint-{step}").mkdir(parents=True)
        if complete:
            (folder / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    (folder / "checkpoint-x").mkdir()
    (folder / "checkpoint-x" / "trainer_state.json").write_text("{}")
    assert last_checkpoint(settings) == str(folder / "checkpoint-16")
    (folder / "checkpoint-100").mkdir()  # numeric order, not string order: 100 > 16 and > 24
    (folder / "checkpoint-100" / "trainer_state.json").write_text("{}")
    assert last_checkpoint(settings) == str(folder / "checkpoint-100")
    # Another training configuration never sees these checkpoints.
    other = load_settings(environ={}, profile="tiny", outputs=str(settings.outputs), epochs=3)
    assert last_checkpoint(other) is None
    remove_checkpoints(settings)
    assert last_checkpoint(settings) is None and not folder.exists()


def test_require_disk_space_refuses_a_too_small_disk_before_training(tmp_path, monkeypatch):
    import collections

    import cola_workshop.artifacts as artifacts

    class Model:
        def num_parameters(self):
            return 1_000_000  # 4 MB per float32 copy

    settings = load_settings(environ={}, profile="tiny", outputs=str(tmp_path / "not-yet" / "outputs"))
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(artifacts.shutil, "disk_usage", lambda path: usage(10**12, 0, 39_000_000))
    with pytest.raises(artifacts.ArtifactError) as error:
        artifacts.require_disk_space(settings, Model())
    message = str(error.value)
    assert "\n" not in message and "--outputs" in message and "GB is free" in message
    monkeypatch.setattr(artifacts.shutil, "disk_usage", lambda path: usage(10**12, 0, 41_000_000))
    assert artifacts.require_disk_space(settings, Model()) == 40_000_000


# --------------------------------------------------------------------------------------------------
# Changed files, failed writes
# --------------------------------------------------------------------------------------------------


def tree_bytes(folder: Path) -> dict:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_a_file_that_changed_size_is_reported_without_reading_it(settings):
    make_stages(settings, 2)
    assert states(settings)["01_goal"].modified is None and states(settings)["01_goal"].usable
    (settings.stage_dir("01_goal") / "result.txt").write_text("result, edited")
    state = states(settings)["01_goal"]
    assert state.modified == "result.txt changed size" and not state.usable
    assert states(settings)["02_exploration"].stale_reason == "01_goal is out of date"


def test_a_same_size_change_needs_the_checksums(settings):
    make_stages(settings, 1)
    (settings.stage_dir("01_goal") / "result.txt").write_text("RESULT")  # same length
    assert states(settings)["01_goal"].modified is None  # sizes only: cheap, and blind to this
    changed = {state.stage: state for state in stage_states(settings, checksums=True)}["01_goal"]
    assert changed.modified == "result.txt changed"
    (settings.stage_dir("01_goal") / "sub" / "values.json").unlink()
    assert states(settings)["01_goal"].modified == "sub/values.json is missing"


def test_a_manifest_from_before_precision_was_a_setting_still_matches(settings):
    make_stages(settings, 5)
    manifest_path = settings.stage_dir("05_training") / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    del manifest["settings"]["precision"]
    manifest_path.write_text(json.dumps(manifest))
    assert load_stage(settings, "05_training")
    forced = load_settings(environ={}, profile="tiny", outputs=str(settings.outputs), precision="bf16")
    with pytest.raises(ArtifactError, match="precision='auto' \\(now 'bf16'\\)"):
        load_stage(forced, "05_training")


def _write_big_file_under_a_size_limit(outputs: Path) -> subprocess.CompletedProcess:
    """In a child process limited to 64 KiB per file (as `ulimit -f`), save stage 01 with a 1 MiB file."""
    script = textwrap.dedent(
        f"""
        import resource
        from cola_workshop.artifacts import save_stage
        from cola_workshop.settings import load_settings

        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
        settings = load_settings(environ={{}}, profile="tiny", outputs={str(outputs)!r})
        with save_stage(settings, "01_goal") as folder:
            (folder / "big.bin").write_bytes(bytes(1 << 20))
        """
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(sys.platform == "win32", reason="file-size limits are a POSIX feature")
def test_a_file_size_limit_names_the_folder_and_the_fix_and_keeps_the_previous_stage(settings):
    previous = tree_bytes(make_stage(settings, "01_goal", "the previous run"))
    result = _write_big_file_under_a_size_limit(settings.outputs)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("cola_workshop.artifacts.ArtifactError: could not write into ")
    assert "file-size limit" in last and "--outputs / WORKSHOP_OUTPUTS" in last
    assert tree_bytes(settings.stage_dir("01_goal")) == previous  # byte-identical, manifest included
    assert hidden_leftovers(settings.outputs) == []
    assert load_stage(settings, "01_goal")


@pytest.mark.parametrize(
    "error, fix",
    [
        (OSError(errno.ENOSPC, "No space left on device"), "the disk is full"),
        (PermissionError(errno.EACCES, "Permission denied"), "make the folder writable"),
        (OSError(errno.EROFS, "Read-only file system"), "read-only file system"),
        (RuntimeError("Error while serializing: I/O error: File too large (os error 27)"), "file-size limit"),
    ],
)
def test_a_refused_write_in_the_block_is_one_line_naming_the_fix(settings, error, fix):
    previous = tree_bytes(make_stage(settings, "01_goal", "the previous run"))
    with pytest.raises(ArtifactError) as caught:
        with save_stage(settings, "01_goal") as folder:
            (folder / "half.txt").write_text("half")
            raise error
    message = str(caught.value)
    assert "\n" not in message and fix in message and settings.outputs.name in message
    assert tree_bytes(settings.stage_dir("01_goal")) == previous
    assert hidden_leftovers(settings.outputs) == []


def test_an_error_that_is_not_a_refused_write_keeps_its_type(settings):
    with pytest.raises(FileNotFoundError):
        with save_stage(settings, "01_goal"):
            open(settings.outputs / "no-such-file.txt")
    with pytest.raises(OSError, match="some network trouble"):
        with save_stage(settings, "01_goal"):
            raise OSError(errno.ECONNRESET, "some network trouble")


def test_a_failed_rename_puts_the_previous_stage_back(settings, monkeypatch):
    previous = tree_bytes(make_stage(settings, "01_goal", "the previous run"))
    real_rename = Path.rename

    def rename(self, target):
        if self.name.startswith(".01_goal.partial-"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(ArtifactError, match="the disk is full"):
        with save_stage(settings, "01_goal") as folder:
            (folder / "result.txt").write_text("new")
    assert tree_bytes(settings.stage_dir("01_goal")) == previous


# --------------------------------------------------------------------------------------------------
# One run at a time per outputs folder
# --------------------------------------------------------------------------------------------------


def lock_for(process_pid: int, outputs: Path, token: str = "another-run") -> None:
    """The lock file a run in process ``process_pid`` of this machine would hold."""
    record = {
        "pid": process_pid, "host": socket.gethostname(), "started": "2026-01-01 10:00:00 UTC",
        "process_created": psutil.Process(process_pid).create_time(), "token": token,
    }
    outputs.mkdir(parents=True, exist_ok=True)
    lock_path(outputs).write_text(json.dumps(record))


@pytest.fixture
def other_process():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process
    process.kill()
    process.wait()


def test_a_notebook_run_by_hand_stops_while_a_run_holds_the_folder(settings, other_process, monkeypatch):
    make_stages(settings, 1)
    monkeypatch.delenv(TOKEN_VAR, raising=False)
    lock_for(other_process.pid, settings.outputs)
    for attempt in (lambda: load_stage(settings, "01_goal"), lambda: make_stage(settings, "02_exploration")):
        with pytest.raises(OutputsBusyError) as caught:
            attempt()
        message = str(caught.value)
        assert "\n" not in message and f"process {other_process.pid}" in message and "2026-01-01 10:00:00 UTC" in message
        assert "wait until it finishes" in message and "another --outputs" in message
    assert not settings.stage_dir("02_exploration").exists()
    monkeypatch.setenv(TOKEN_VAR, "another-run")  # a kernel that run started: its own folder
    assert load_stage(settings, "01_goal")


def test_a_lock_left_by_a_killed_run_does_not_block(settings, other_process, monkeypatch):
    monkeypatch.delenv(TOKEN_VAR, raising=False)
    lock_for(other_process.pid, settings.outputs)
    other_process.kill()
    other_process.wait()
    make_stages(settings, 1)  # the holder is gone
    with hold_outputs(settings.outputs) as path:  # and the next run takes its lock
        assert json.loads(path.read_text())["pid"] == os.getpid()
        assert os.environ[TOKEN_VAR] == json.loads(path.read_text())["token"]
        make_stages(settings, 2)
    assert not path.exists() and TOKEN_VAR not in os.environ


def test_a_second_holder_is_refused_while_the_first_lives(settings, other_process):
    lock_for(other_process.pid, settings.outputs)
    with pytest.raises(OutputsBusyError, match=f"process {other_process.pid} on "):
        with hold_outputs(settings.outputs):
            pass
    assert json.loads(lock_path(settings.outputs).read_text())["pid"] == other_process.pid  # left as it was


def test_a_lock_cut_short_while_written_does_not_block(settings):
    settings.outputs.mkdir(parents=True, exist_ok=True)
    lock_path(settings.outputs).write_text('{"pid": 12')
    assert read_holder(settings.outputs) is None
    make_stages(settings, 1)
