"""Tests for cola_workshop.tools.cli: run (on throwaway notebooks), status, clean, prefetch and the one-line errors.

The notebooks used here are built in tmp_path, so these tests do not depend on the workshop's real notebooks.
The tests that start Jupyter kernels are marked ``slow`` (the quick lane leaves them out), all but one: a failing
cell, which keeps one real kernel run in the quick lane.
"""

from __future__ import annotations

import errno
import io
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from cola_workshop.tools import cli, status
from cola_workshop.artifacts import STAGES, save_stage
from cola_workshop.errors import WorkshopError
from cola_workshop.settings import ENV_VARS, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """No WORKSHOP_* variable of the developer's shell may leak into these tests."""
    for variable in ENV_VARS.values():
        monkeypatch.delenv(variable, raising=False)


def write_notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}")] + [nbformat.v4.new_code_cell(src) for src in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def marker_notebooks(folder: Path) -> Path:
    """Six notebooks; each leaves ran_<stage> in the outputs folder and prints what the kernel sees."""
    for stage in STAGES:
        write_notebook(
            folder / f"{stage}.ipynb",
            "import os\nfrom pathlib import Path",
            f"out = Path(os.environ['WORKSHOP_OUTPUTS'])\nout.mkdir(exist_ok=True)\n(out / 'ran_{stage}').write_text('x')",
            "from cola_workshop.settings import load_settings\n"
            "s = load_settings()\n"
            "print('EPOCHS', os.environ['WORKSHOP_EPOCHS'], s.epochs, s.max_train_samples)\n"
            "print('CWD', os.getcwd())",
        )
    return folder


def error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


# --------------------------------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_run_range_settings_reach_kernel_and_sources_stay_unchanged(tmp_path, monkeypatch, capsys):
    notebooks = marker_notebooks(tmp_path / "nbs")
    before = {path.name: path.read_bytes() for path in notebooks.iterdir()}
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WORKSHOP_EPOCHS", "5")  # the flag wins over the variable
    with save_stage(load_settings(outputs=str(tmp_path / "out"), epochs="2", max_train_samples="7"), "01_goal") as folder:
        (folder / "goal.json").write_text("{}")  # what --from 2 starts from

    code = cli.main(
        ["run", "--notebooks", "nbs", "--outputs", "out", "--epochs", "2", "--max-train-samples", "7",
         "--from", "2", "--to", "03_preprocessing", "--html", "--timeout", "60"]
    )
    output = capsys.readouterr().out
    assert code == 0, output

    outputs = tmp_path / "out"  # relative --outputs is relative to the current folder, not the repo root
    assert sorted(p.name for p in outputs.glob("ran_*")) == ["ran_02_exploration", "ran_03_preprocessing"]
    executed = outputs / "executed"
    assert sorted(p.name for p in executed.iterdir()) == [
        "02_exploration.html", "02_exploration.ipynb", "03_preprocessing.html", "03_preprocessing.ipynb",
    ]
    copy = nbformat.read(str(executed / "02_exploration.ipynb"), as_version=4)
    printed = "".join(out.get("text", "") for out in copy.cells[-1].outputs)
    assert "EPOCHS 2.0 2.0 7" in printed  # the flag reached the kernel and load_settings there agrees
    assert f"CWD {notebooks.resolve()}" in printed or f"CWD {notebooks}" in printed
    assert {path.name: path.read_bytes() for path in notebooks.iterdir()} == before  # sources never rewritten

    assert "epochs  : 2" in output  # settings printed first
    assert "02_exploration: running" in output and "03_preprocessing: done in" in output
    assert "01_goal" not in output and "04_training_args" not in output
    assert "  cell 3/4" in output  # per-cell progress, one line each when not on a terminal
    assert "\r" not in output


@pytest.mark.slow
def test_run_from_a_later_stage_needs_the_earlier_ones_before_any_kernel_starts(tmp_path, capsys):
    notebooks, outputs = marker_notebooks(tmp_path / "nbs"), tmp_path / "out"
    args = ["run", "--notebooks", str(notebooks), "--outputs", str(outputs), "--from", "03"]
    assert cli.main(args) == 2
    line = error_line(capsys)
    assert "--from 03 needs 01_goal" in line and "run with --from 01" in line
    assert not (outputs / "executed").exists()  # nothing started, nothing written

    other = load_settings(outputs=str(outputs), max_train_samples="50")  # 01 and 02 made with other settings
    for stage in STAGES[:2]:
        with save_stage(other, stage) as folder:
            (folder / "result.txt").write_text(stage)
    assert cli.main(args) == 2
    line = error_line(capsys)
    assert "needs 01_goal" in line and "other settings" in line and "new --outputs folder" in line
    assert cli.main([*args, "--max-train-samples", "50"]) == 0  # with those settings, 03 can start
    assert "03_preprocessing: done in" in capsys.readouterr().out


def test_run_may_start_from_a_stage_that_is_itself_out_of_date(tmp_path):
    """Only the stages before --from must be usable: the one it starts from is what the run replaces."""
    outputs = tmp_path / "out"
    cli.check_upstream(load_settings({}, outputs=str(outputs)), "01_goal")  # nothing before 01
    simulate_stages(outputs, "01_goal")
    other = load_settings({}, outputs=str(outputs), max_train_samples="50")
    with save_stage(other, "02_exploration") as folder:  # 02 made with other settings
        (folder / "result.json").write_text("{}")
    cli.check_upstream(load_settings({}, outputs=str(outputs)), "02_exploration")
    with pytest.raises(cli.CliError, match="needs 02_exploration, which .* holds for other settings"):
        cli.check_upstream(load_settings({}, outputs=str(outputs)), "03_preprocessing")


def test_a_path_the_system_cannot_read_is_one_line(tmp_path, capsys):
    outputs = tmp_path / "out"
    (outputs / "01_goal" / "manifest.json").mkdir(parents=True)  # a folder where a file belongs
    assert cli.main(["status", "--outputs", str(outputs)]) == 2
    line = error_line(capsys)
    assert "manifest.json" in line and "directory" in line.lower()


def test_a_file_where_a_folder_belongs_is_one_line(tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    assert cli.main(["status", "--outputs", str(a_file)]) == 2
    assert "is a file, not a folder" in error_line(capsys)
    assert cli.main(["learner-edition", str(a_file)]) == 2
    assert "is a file, not a folder" in error_line(capsys)
    assert a_file.read_text() == "mine"


def test_failing_cell_names_notebook_and_cell_and_stops(tmp_path, capsys):
    notebooks = tmp_path / "nbs"
    write_notebook(notebooks / "01_goal.ipynb", "x = 1", "print('before')", "raise ValueError('the data is broken')", "x = 2")
    write_notebook(notebooks / "02_exploration.ipynb", "print('must not run')")
    outputs = tmp_path / "out"

    code = cli.main(["run", "--notebooks", str(notebooks), "--outputs", str(outputs), "--to", "02"])
    captured = capsys.readouterr()

    assert code == 1
    assert "01_goal.ipynb, cell 4/5" in captured.err  # markdown cell 1, code cells 2..5
    assert "raise ValueError('the data is broken')" in captured.err
    assert "ValueError: the data is broken" in captured.err
    partial = outputs / "executed" / "01_goal.ipynb"
    assert str(partial) in captured.err or "executed/01_goal.ipynb" in captured.err
    copy = nbformat.read(str(partial), as_version=4)
    assert "before" in copy.cells[2].outputs[0]["text"]  # saved with the outputs up to the failure
    assert not copy.cells[4].get("outputs")
    assert "02_exploration: running" not in captured.out
    assert not (outputs / "executed" / "02_exploration.ipynb").exists()


@pytest.mark.slow
def test_ctrl_c_interrupts_the_cell_saves_the_copy_and_exits_130(tmp_path):
    notebooks = tmp_path / "nbs"
    write_notebook(notebooks / "01_goal.ipynb", "print('first cell ran')", "import time\ntime.sleep(60)", "print('never')")
    outputs = tmp_path / "out"
    command = [sys.executable, "-m", "cola_workshop.tools.cli", "run", "--notebooks", str(notebooks), "--outputs", str(outputs), "--to", "01"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in process.stdout:  # wait until the sleeping cell runs
            if "cell 3/4" in line:
                break
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 130
    assert "interrupted (SIGINT)" in err and "cell 3/4" in err and "Traceback" not in err
    copy = nbformat.read(str(outputs / "executed" / "01_goal.ipynb"), as_version=4)
    assert "first cell ran" in copy.cells[1].outputs[0]["text"]
    assert not copy.cells[3].get("outputs")


def test_run_refuses_missing_notebook_before_starting(tmp_path, capsys):
    write_notebook(tmp_path / "nbs" / "01_goal.ipynb", "pass")
    code = cli.main(["run", "--notebooks", str(tmp_path / "nbs"), "--outputs", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.count("\n") == 1 and "02_exploration.ipynb" in captured.err
    assert captured.out == ""  # refused before printing or running anything
    assert not (tmp_path / "out").exists()


def test_stage_range_accepts_numbers_and_names():
    assert cli.stage_range("03", "5") == ["03_preprocessing", "04_training_args", "05_training"]
    assert cli.stage_range("06_usage", None) == ["06_usage"]
    assert cli.stage_range(None, None) == list(STAGES)
    with pytest.raises(cli.CliError, match="--from"):
        cli.stage_range("9", None)
    with pytest.raises(cli.CliError, match="comes after"):
        cli.stage_range("04", "02")


# --------------------------------------------------------------------------------------------------
# One-line errors
# --------------------------------------------------------------------------------------------------


def test_unknown_profile_is_one_line_naming_the_choices(capsys):
    assert cli.main(["run", "--profile", "huge"]) == 2
    line = error_line(capsys)
    assert "--profile" in line and "'huge'" in line and "tiny" in line and "full" in line


def test_bad_epochs_is_one_line_naming_the_flag(tmp_path, capsys):
    assert cli.main(["run", "--epochs", "0", "--outputs", str(tmp_path)]) == 2
    line = error_line(capsys)
    assert line.startswith("cola-workshop: error: epochs must be a positive number") and "--epochs" in line


def test_missing_model_folder_is_one_line_naming_the_flag(tmp_path, capsys):
    assert cli.main(["run", "--model", str(tmp_path / "no-such-model"), "--outputs", str(tmp_path / "out")]) == 2
    line = error_line(capsys)
    assert line.startswith("cola-workshop: error:") and "does not exist" in line and "--model" in line
    assert not (tmp_path / "out").exists()


def test_unknown_stage_is_one_line(tmp_path, capsys):
    assert cli.main(["clean", "--stage", "12", "--outputs", str(tmp_path), "--yes"]) == 2
    assert "unknown stage '12'" in error_line(capsys)


# --------------------------------------------------------------------------------------------------
# status and clean
# --------------------------------------------------------------------------------------------------


def simulate_stages(outputs: Path, *stages: str):
    settings = load_settings({}, outputs=str(outputs))
    for stage in stages:
        with save_stage(settings, stage) as folder:
            (folder / "result.json").write_text("{}")
    return settings


def status_rows(text: str) -> dict[str, dict[str, str]]:
    """The status table as {stage: {column: value}}, cut at the header's column positions."""
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("stage "))
    names = ["stage", "done", "when", "settings match", "note"]
    starts = [header.index(name) for name in names]
    assert starts == sorted(starts)
    rows = {}
    for line in lines:
        if line.split() and line.split()[0] in STAGES:
            bounds = zip(starts, starts[1:] + [None])
            rows[line.split()[0]] = {name: line[a:b].strip() for name, (a, b) in zip(names, bounds)}
    return rows


def test_status_shows_done_missing_stale_and_settings_mismatch(tmp_path, capsys):
    outputs = tmp_path / "out"
    simulate_stages(outputs, "01_goal", "02_exploration", "03_preprocessing", "02_exploration")  # 02 re-run: 03 stale

    assert cli.main(["status", "--outputs", str(outputs)]) == 0
    text = capsys.readouterr().out
    rows = status_rows(text)
    assert rows["01_goal"] == {"stage": "01_goal", "done": "yes", "when": rows["01_goal"]["when"], "settings match": "yes", "note": ""}
    assert rows["01_goal"]["when"].endswith("UTC") and rows["01_goal"]["when"][:2] == "20"
    assert rows["02_exploration"]["done"] == "yes" and rows["02_exploration"]["note"] == ""
    assert rows["03_preprocessing"]["done"] == "yes"
    assert rows["03_preprocessing"]["note"] == "stale: 02_exploration was re-run after it"
    assert rows["04_training_args"] == {"stage": "04_training_args", "done": "no", "when": "-", "settings match": "-", "note": ""}
    assert "run --from 03" in text

    assert cli.main(["status", "--outputs", str(outputs), "--max-train-samples", "5"]) == 0
    rows = status_rows(capsys.readouterr().out)
    assert rows["01_goal"]["settings match"] == "no"  # made with the whole training split


def test_clean_one_stage_keeps_everything_else(tmp_path, monkeypatch, capsys):
    outputs = tmp_path / "out"
    simulate_stages(outputs, "01_goal", "02_exploration", "03_preprocessing")
    (outputs / "my_notes.txt").write_text("mine")
    (outputs / "executed").mkdir()
    (outputs / "executed" / "02_exploration.ipynb").write_text("{}")
    (outputs / "executed" / "01_goal.ipynb").write_text("{}")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal

    assert cli.main(["clean", "--stage", "02", "--outputs", str(outputs), "--yes"]) == 0
    printed = capsys.readouterr().out
    assert "removed" in printed and "02_exploration" in printed
    assert sorted(p.name for p in outputs.iterdir()) == ["01_goal", "03_preprocessing", "executed", "my_notes.txt"]
    assert [p.name for p in (outputs / "executed").iterdir()] == ["01_goal.ipynb"]

    assert cli.main(["clean", "--outputs", str(outputs), "--yes"]) == 0
    assert [p.name for p in outputs.iterdir()] == ["my_notes.txt"]


def test_clean_without_yes_needs_a_terminal_or_confirmation(tmp_path, monkeypatch, capsys):
    outputs = tmp_path / "out"
    simulate_stages(outputs, "01_goal")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert cli.main(["clean", "--outputs", str(outputs)]) == 2
    line = error_line(capsys)
    assert "--yes" in line and "every training checkpoint" in line  # all stages: checkpoints too, said first
    assert cli.main(["clean", "--outputs", str(outputs), "--stage", "02"]) == 2
    assert "checkpoint" not in error_line(capsys)
    assert (outputs / "01_goal").is_dir()

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdin", Terminal("n\n"))
    assert cli.main(["clean", "--outputs", str(outputs)]) == 0
    assert (outputs / "01_goal").is_dir()
    monkeypatch.setattr("sys.stdin", Terminal("y\n"))
    assert cli.main(["clean", "--outputs", str(outputs)]) == 0
    assert not (outputs / "01_goal").exists()


# --------------------------------------------------------------------------------------------------
# prefetch
# --------------------------------------------------------------------------------------------------


def test_prefetch_fails_fast_without_hub_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    target = tmp_path / "kit"
    started = time.monotonic()
    assert cli.main(["prefetch", "--to", str(target)]) == 2
    assert time.monotonic() - started < 10
    line = error_line(capsys)
    assert line.startswith("cola-workshop: error: cannot reach the Hugging Face hub") and "network" in line
    assert list(tmp_path.iterdir()) == []


def test_prefetch_refuses_a_local_model_folder(tmp_path, capsys):
    (tmp_path / "ckpt").mkdir()
    assert cli.main(["prefetch", "--model", str(tmp_path / "ckpt"), "--to", str(tmp_path / "kit")]) == 2
    assert "local folder" in error_line(capsys)
    assert not (tmp_path / "kit").exists()


# --------------------------------------------------------------------------------------------------
# status tells the truth: changed files, and what outputs/ holds
# --------------------------------------------------------------------------------------------------


def test_status_reports_a_stage_changed_since_it_was_saved(tmp_path, capsys):
    outputs = tmp_path / "out"
    simulate_stages(outputs, *STAGES)
    assert cli.main(["status", "--outputs", str(outputs)]) == 0
    assert "all stages are done and up to date" in capsys.readouterr().out

    (outputs / "05_training" / "result.json").write_text("[]")  # same size: only a checksum tells
    assert cli.main(["status", "--outputs", str(outputs), "--verify"]) == 0
    text = capsys.readouterr().out
    rows = status_rows(text)
    assert rows["05_training"]["note"] == "modified: result.json changed"
    assert rows["06_usage"]["note"] == "stale: 05_training is out of date"
    assert "run --from 05" in text and "up to date" not in text

    (outputs / "05_training" / "result.json").write_text("{\"corrupted\": true}")
    assert cli.main(["status", "--outputs", str(outputs)]) == 0  # small stages: checked without --verify
    assert status_rows(capsys.readouterr().out)["05_training"]["note"] == "modified: result.json changed size"
    assert cli.main(["run", "--from", "06", "--outputs", str(outputs), "--notebooks", str(tmp_path)]) == 2
    assert "needs 05_training, which was modified since it was saved" in error_line(capsys)


def test_status_on_large_stages_checks_sizes_and_offers_verify(tmp_path, capsys, monkeypatch):
    outputs = tmp_path / "out"
    simulate_stages(outputs, "01_goal")
    monkeypatch.setattr(status, "CHEAP_TO_VERIFY", 0)
    (outputs / "01_goal" / "result.json").write_text("[]")
    assert cli.main(["status", "--outputs", str(outputs)]) == 0
    text = capsys.readouterr().out
    assert status_rows(text)["01_goal"]["note"] == "" and "add --verify" in text
    assert cli.main(["status", "--outputs", str(outputs), "--verify"]) == 0
    assert status_rows(capsys.readouterr().out)["01_goal"]["note"] == "modified: result.json changed"


def test_status_without_profile_describes_the_outputs_of_a_tiny_run(tmp_path, capsys):
    outputs = tmp_path / "out"
    tiny = load_settings({}, profile="tiny", outputs=str(outputs))
    for stage in STAGES:
        with save_stage(tiny, stage) as folder:
            (folder / "result.json").write_text("{}")

    assert cli.main(["status", "--outputs", str(outputs)]) == 0
    text = capsys.readouterr().out
    holds = text.split("\n\n")[0]
    assert "01_goal to 06_usage: made with profile tiny, model data/tiny-gpt2, data data/cola_tiny" in holds
    assert "epochs 5, learning rate 0.003, precision auto" in holds
    assert all(row["settings match"] == "yes" and row["note"] == "" for row in status_rows(text).values())
    assert "all stages are done and up to date" in text and "next:" not in text

    assert cli.main(["status", "--outputs", str(outputs), "--profile", "full"]) == 0  # asked: compared with full
    text = capsys.readouterr().out
    assert "holds" not in text and status_rows(text)["01_goal"]["settings match"] == "no"
    assert cli.main(["status", "--outputs", str(outputs), "--epochs", "2"]) == 0  # a flag beats what is recorded
    rows = status_rows(capsys.readouterr().out)
    assert rows["03_preprocessing"]["settings match"] == "yes" and rows["05_training"]["settings match"] == "no"


def test_status_of_an_empty_folder_compares_with_the_default_profile(tmp_path, capsys):
    assert cli.main(["status", "--outputs", str(tmp_path / "none")]) == 0
    text = capsys.readouterr().out
    assert "holds" not in text and "profile : full" in text and "next: run notebooks/01_goal.ipynb" in text


# --------------------------------------------------------------------------------------------------
# one run at a time; failed writes
# --------------------------------------------------------------------------------------------------


def cli_process(*args: str, **popen) -> subprocess.Popen:
    command = [sys.executable, "-m", "cola_workshop.tools.cli", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


@pytest.mark.slow
def test_a_second_run_on_the_same_folder_exits_at_once(tmp_path, capsys):
    notebooks, outputs, sleeping = tmp_path / "nbs", tmp_path / "out", tmp_path / "sleeping"
    sleep_cell = f"import pathlib, time\npathlib.Path({str(sleeping)!r}).touch()\ntime.sleep(60)"
    write_notebook(notebooks / "01_goal.ipynb", "print('first cell ran')", sleep_cell)
    first = cli_process("run", "--notebooks", str(notebooks), "--outputs", str(outputs), "--to", "01")
    try:
        for line in first.stdout:  # the first run is in its sleeping cell
            if "cell 3/3" in line:
                break
        started = time.monotonic()
        assert cli.main(["run", "--notebooks", str(notebooks), "--outputs", str(outputs), "--to", "01"]) == 2
        assert time.monotonic() - started < 10
        line = error_line(capsys)
        assert f"another cola-workshop run holds {outputs}" in line and f"(process {first.pid} on " in line
        assert "started 20" in line and f"kill {first.pid}" in line and "another --outputs" in line
        assert cli.main(["clean", "--outputs", str(outputs), "--yes"]) == 2  # nor is it cleaned under the run
        assert "before you clean it" in error_line(capsys)
        deadline = time.monotonic() + 60  # "cell 3/3" is printed before the kernel starts the cell: an interrupt
        while not sleeping.exists() and time.monotonic() < deadline:  # sent earlier would find it idle
            time.sleep(0.1)
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
    finally:
        first.kill()
    assert first.returncode == 143
    assert not (outputs / ".run.lock").exists()  # released on the way out


@pytest.mark.slow
def test_a_lock_left_by_a_killed_run_does_not_block_the_next(tmp_path, capsys):
    notebooks, outputs = marker_notebooks(tmp_path / "nbs"), tmp_path / "out"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    outputs.mkdir()
    (outputs / ".run.lock").write_text(json.dumps({"pid": gone.pid, "host": socket.gethostname(), "started": "x", "token": "t"}))
    assert cli.main(["run", "--notebooks", str(notebooks), "--outputs", str(outputs), "--to", "01"]) == 0
    assert (outputs / "ran_01_goal").exists() and not (outputs / ".run.lock").exists()


def _limit_files_to_64_kib():
    import resource  # POSIX only

    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="file-size limits are a POSIX feature")
def test_a_write_over_a_file_size_limit_stops_the_run_with_the_fix(tmp_path):
    notebooks, outputs = tmp_path / "nbs", tmp_path / "out"
    write_notebook(notebooks / "01_goal.ipynb", "(__import__('pathlib').Path('{}') / 'ckpt.bin').write_bytes(bytes(1 << 20))".format(outputs))
    run = cli_process("run", "--notebooks", str(notebooks), "--outputs", str(outputs), "--to", "01",
                      preexec_fn=_limit_files_to_64_kib)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 1, err
    error = next(line for line in err.splitlines() if line.strip().startswith("error"))
    assert f"could not write into {outputs}" in error and "file-size limit" in error and "--outputs" in error
    assert "[Errno 27] File too large" in error  # what the system said, after the fix


def test_a_refused_write_in_the_command_itself_is_one_line_with_the_fix(tmp_path, capsys, monkeypatch):
    def full_disk(args):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "executed" / "01_goal.ipynb"))

    monkeypatch.setitem(cli.HANDLERS, "status", full_disk)
    assert cli.main(["status"]) == 2
    line = error_line(capsys)
    assert "01_goal.ipynb: No space left on device: could not write into" in line and "the disk is full" in line


def workshop_error_classes() -> list[type]:
    """Every exception class defined in the package, its tools and optional extras included."""
    import importlib
    import pkgutil

    import cola_workshop

    found = []
    for module_info in pkgutil.walk_packages(cola_workshop.__path__, "cola_workshop."):
        if ".evaluate_modules" in module_info.name:
            continue  # the metric script evaluate loads by path: not a module of the package
        module = importlib.import_module(module_info.name)  # site and demo import their extras only when run
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Exception) and value.__module__ == module.__name__:
                found.append(value)
    return found


def test_every_expected_error_class_is_a_workshop_error():
    """The CLI prints a WorkshopError as one line (exit 2) and lets anything else keep its traceback, so an error
    a learner can fix must derive from WorkshopError; a class that does not says here why the CLI never meets it."""
    not_expected_errors = {
        "NotebookFailed", "NotebookInterrupted",  # how run_notebooks tells its caller what happened; it reports them
    }
    found = workshop_error_classes()
    names = {cls.__name__ for cls in found}
    assert {"DataFormatError", "ModelSourceError", "HubUnreachableError", "SiteError", "DemoError"} <= names
    assert not_expected_errors <= names, "a class listed here no longer exists: take it off the list"
    outside = sorted(cls.__name__ for cls in found if not issubclass(cls, WorkshopError))
    assert outside == sorted(not_expected_errors), "derive an expected error from WorkshopError"


def test_the_cli_prints_any_workshop_error_as_one_line_and_exits_2(monkeypatch, capsys):
    from cola_workshop.data import DataFormatError
    from cola_workshop.tools.site import SiteError

    for error in (DataFormatError("data folder x does not exist:\n  fix it"), SiteError("no Sphinx: install it")):
        def fail(args, error=error):
            raise error

        monkeypatch.setitem(cli.HANDLERS, "status", fail)
        assert cli.main(["status"]) == 2
        assert error_line(capsys) == f"cola-workshop: error: {' '.join(str(error).split())}"
    monkeypatch.setitem(cli.HANDLERS, "status", lambda args: 1 / 0)
    with pytest.raises(ZeroDivisionError):  # a bug keeps its traceback
        cli.main(["status"])
