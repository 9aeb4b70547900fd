"""The learner edition: solutions stripped, outputs cleared, and exactly the check cells fail when it runs.

The unit tests build small notebooks by hand and take milliseconds. The last test writes the learner edition of
the real notebooks, executes all six in order on the tiny profile (one epoch on 200 training sentences, into a
temporary outputs folder) with errors allowed, and asserts that every check cell, and no other cell, stops with an
AssertionError. It took 113-125 s on 2 cores shared with the other pytest-xdist worker.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from cola_workshop.tools import cli
from cola_workshop.artifacts import BONUS_STAGES, STAGES
from cola_workshop.tools.editions import (
    BEGIN_SOLUTION,
    CHECK_TAG,
    END_SOLUTION,
    SOLUTION_TAG,
    STUB,
    EditionError,
    learner_notebook,
    strip_solutions,
    write_learner_edition,
)
from cola_workshop.tools.execution import NOTEBOOKS_DIR, kernel_environment
from cola_workshop.settings import ENV_VARS, load_settings

SOLUTION = (
    f"answer = None  # a placeholder\n{BEGIN_SOLUTION}\nanswer = 6 * 7\nprint(answer)\n{END_SOLUTION}\nprint('after')"
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """No WORKSHOP_* variable of the developer's shell may leak into these tests."""
    for variable in ENV_VARS.values():
        monkeypatch.delenv(variable, raising=False)


def tags(cell) -> list[str]:
    return list(cell.metadata.get("tags", []))


def solution_cell(source: str = SOLUTION):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata = {"tags": [SOLUTION_TAG, "hide-input"], "jupyter": {"source_hidden": True}}
    return cell


def executed(cell, text: str = "42\n", count: int = 3):
    cell.execution_count = count
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    cell.metadata["execution"] = {"iopub.execute_input": "2024-01-01T00:00:00Z"}
    return cell


def small_notebook():
    check = nbformat.v4.new_code_cell("assert answer == 42, 'multiply'\nprint('Correct: 42')")
    check.metadata = {"tags": [CHECK_TAG]}
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("**Exercise 1.** Compute six times seven."),
        executed(nbformat.v4.new_code_cell("x = 1\nprint(x)"), "1\n", 1),
        executed(solution_cell(), "42\nafter\n", 2),
        executed(check, "Correct: 42\n", 3),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


# --------------------------------------------------------------------------------------------------
# strip_solutions
# --------------------------------------------------------------------------------------------------


def test_strip_replaces_the_block_by_the_stub_and_keeps_everything_around_it():
    assert strip_solutions(SOLUTION) == f"answer = None  # a placeholder\n{STUB}\nprint('after')"


def test_strip_keeps_the_indentation_and_handles_several_blocks():
    source = (
        f"def f():\n    {BEGIN_SOLUTION}\n    return 1\n    {END_SOLUTION}\n\n{BEGIN_SOLUTION}\ny = f()\n{END_SOLUTION}"
    )
    assert strip_solutions(source) == f"def f():\n    {STUB}\n\n{STUB}"


def test_strip_leaves_a_cell_without_markers_unchanged():
    source = "import numpy as np\n\nprint(np.pi)\n"
    assert strip_solutions(source) == source


@pytest.mark.parametrize(
    "source, message",
    [
        (f"{BEGIN_SOLUTION}\nx = 1", "without ### END SOLUTION"),
        (f"x = 1\n{END_SOLUTION}", "line 2: ### END SOLUTION without"),
        (f"{BEGIN_SOLUTION}\n{BEGIN_SOLUTION}\nx = 1\n{END_SOLUTION}", "line 2: a second"),
        ("## BEGIN SOLUTION\nx = 1\n## END SOLUTION", "line 1: '## BEGIN SOLUTION' is not a marker"),
        (f"{BEGIN_SOLUTION}  # start\nx = 1\n{END_SOLUTION}", "is not a marker"),
    ],
)
def test_strip_refuses_markers_that_could_leak_a_solution(source, message):
    with pytest.raises(EditionError, match=re.escape(message)):
        strip_solutions(source, "01_goal.ipynb, cell 4")


# --------------------------------------------------------------------------------------------------
# learner_notebook
# --------------------------------------------------------------------------------------------------


def test_learner_notebook_strips_clears_and_unhides_and_keeps_the_rest():
    nb = small_notebook()
    before = nbformat.writes(nb)
    learner = learner_notebook(nb)
    assert nbformat.writes(nb) == before, "the instructor's notebook must not change"
    markdown, plain, solution, check = learner.cells
    for cell in (plain, solution, check):
        assert cell.outputs == [] and cell.execution_count is None and "execution" not in cell.metadata
    assert solution.source == f"answer = None  # a placeholder\n{STUB}\nprint('after')"
    assert tags(solution) == [SOLUTION_TAG] and "jupyter" not in solution.metadata  # visible: the learner writes here
    assert markdown == nb.cells[0]
    assert (plain.source, plain.metadata) == (nb.cells[1].source, {})
    assert (check.source, check.metadata) == (nb.cells[3].source, {"tags": [CHECK_TAG]})
    assert learner.metadata == nb.metadata
    nbformat.validate(learner)


def test_learner_notebook_keeps_other_jupyter_metadata_of_a_solution_cell():
    nb = small_notebook()
    nb.cells[2].metadata["jupyter"]["outputs_hidden"] = True
    assert learner_notebook(nb).cells[2].metadata["jupyter"] == {"outputs_hidden": True}


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda nb: nb.cells[2].metadata.update(tags=[]), "has solution markers but is not tagged 'solution'"),
        (lambda nb: setattr(nb.cells[1], "metadata", {"tags": [SOLUTION_TAG]}), "is tagged 'solution' but has no"),
        (lambda nb: nb.cells.append(nbformat.v4.new_markdown_cell(SOLUTION)), "markdown cell with a solution"),
    ],
)
def test_learner_notebook_refuses_inconsistent_solution_markup(change, message):
    nb = small_notebook()
    change(nb)
    with pytest.raises(EditionError, match=re.escape(message)) as raised:
        learner_notebook(nb, "02_exploration.ipynb")
    assert str(raised.value).startswith("02_exploration.ipynb, cell ")


# --------------------------------------------------------------------------------------------------
# write_learner_edition and the command
# --------------------------------------------------------------------------------------------------


def write(folder: Path, name: str, nb) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / name))
    return folder / name


def test_write_refuses_the_source_folder_and_existing_notebooks_unless_forced(tmp_path):
    source = tmp_path / "notebooks"
    write(source, "01_a.ipynb", small_notebook())
    with pytest.raises(EditionError, match="holds the instructor's notebooks"):
        write_learner_edition(source, tmp_path / "notebooks" / ".." / "notebooks")
    target = tmp_path / "learner"
    assert write_learner_edition(source, target) == [target / "01_a.ipynb"]
    (target / "01_a.ipynb").write_text("a learner's answers")
    with pytest.raises(EditionError, match=r"already holds 01_a.ipynb .*--force"):
        write_learner_edition(source, target)
    assert (target / "01_a.ipynb").read_text() == "a learner's answers"
    write_learner_edition(source, target, force=True)
    assert STUB in (target / "01_a.ipynb").read_text()


def test_write_leaves_nothing_behind_when_one_notebook_is_broken(tmp_path):
    source = tmp_path / "notebooks"
    write(source, "01_a.ipynb", small_notebook())
    broken = small_notebook()
    broken.cells[2].source = broken.cells[2].source.replace(END_SOLUTION, "")
    write(source, "02_b.ipynb", broken)
    with pytest.raises(EditionError, match=r"02_b.ipynb, cell 3: ### BEGIN SOLUTION without"):
        write_learner_edition(source, tmp_path / "learner")
    assert not (tmp_path / "learner").exists()


def test_command_writes_the_six_notebooks_without_solutions_or_outputs(tmp_path, capsys):
    assert cli.main(["learner-edition", str(tmp_path / "learner")]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"wrote {len(STAGES + BONUS_STAGES)} notebooks with \d+ exercises to .*learner", out), out
    written = sorted((tmp_path / "learner").glob("*.ipynb"))
    assert [path.stem for path in written] == list(STAGES + BONUS_STAGES)  # the six and the bonus notebook
    for path in written:
        text = path.read_text()
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, path.name
        for cell in nbformat.read(str(path), as_version=4).cells:
            assert not cell.get("outputs") and cell.get("execution_count") is None, path.name
            assert "execution" not in cell.metadata

    assert cli.main(["learner-edition", str(tmp_path / "learner")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "add --force to overwrite" in error


# --------------------------------------------------------------------------------------------------
# The real notebooks: every exercise is marked up, and the learner edition fails exactly at the checks
# --------------------------------------------------------------------------------------------------


def instructor_notebooks():
    return {stage: nbformat.read(str(NOTEBOOKS_DIR / f"{stage}.ipynb"), as_version=4) for stage in STAGES}


def test_every_notebook_ends_with_exercises_each_a_prompt_a_collapsed_solution_and_a_check():
    for stage, nb in instructor_notebooks().items():
        cells = nb.cells
        start = next(
            i for i, cell in enumerate(cells) if cell.cell_type == "markdown" and cell.source.startswith("## Exercises")
        )
        solutions = [i for i, cell in enumerate(cells) if SOLUTION_TAG in tags(cell)]
        checks = [i for i, cell in enumerate(cells) if CHECK_TAG in tags(cell)]
        assert len(solutions) >= 2 and len(checks) == len(solutions), (
            f"{stage}: at least two exercises, each with a check"
        )
        for i in solutions:
            assert i > start and cells[i - 1].cell_type == "markdown", f"{stage}, cell {i + 1}: a prompt comes first"
            assert CHECK_TAG in tags(cells[i + 1]), f"{stage}, cell {i + 1}: a check cell follows each solution"
            assert cells[i].metadata.get("jupyter", {}).get("source_hidden") and "hide-input" in tags(cells[i])
            assert BEGIN_SOLUTION in cells[i].source.splitlines()
            placeholder = cells[i].source.splitlines()[0]
            assert re.fullmatch(r"[\w, ]+ = None[\w, ]*(  #.*)?", placeholder.replace("None, None", "None")), (
                f"{stage}, cell {i + 1}: start with a placeholder such as `answer = None`, so the learner edition runs")


def solution_lines(nb) -> set[str]:
    """Lines that only the solution blocks contain (a line that also occurs elsewhere would not be a leak)."""
    inside, lines, elsewhere = False, set(), set()
    for cell in nb.cells:
        for line in cell.source.splitlines():
            stripped = line.strip()
            if stripped in (BEGIN_SOLUTION, END_SOLUTION):
                inside = stripped == BEGIN_SOLUTION
            elif len(stripped) > 8:
                (lines if inside else elsewhere).add(stripped)
    return lines - elsewhere


def run_notebook(path: Path, settings):
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    client = NotebookClient(nb, kernel_name="python3", allow_errors=True, timeout=600,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute(env=kernel_environment(settings))
    return nb


@pytest.mark.runs_notebooks
def test_learner_edition_runs_and_exactly_the_check_cells_fail(tmp_path):
    instructor = instructor_notebooks()
    folder = tmp_path / "learner"
    write_learner_edition(NOTEBOOKS_DIR, folder)
    for stage, nb in instructor.items():
        text = "\n".join(cell.source for cell in nbformat.read(str(folder / f"{stage}.ipynb"), as_version=4).cells)
        leaked = [line for line in solution_lines(nb) if line in text]
        assert not leaked, f"{stage}: solution lines in the learner edition: {leaked[:3]}"

    # One epoch on 200 sentences: which cells fail does not depend on how well the model learns.
    settings = load_settings({}, profile="tiny", epochs="1", max_train_samples="200", outputs=str(tmp_path / "outputs"))
    for stage in STAGES:
        nb = run_notebook(folder / f"{stage}.ipynb", settings)
        for number, cell in enumerate(nb.cells, 1):
            errors = [output for output in cell.get("outputs", []) if output.output_type == "error"]
            where = f"{stage}, cell {number} ({cell.source.splitlines()[0] if cell.source else ''})"
            if CHECK_TAG in tags(cell):
                assert [error.ename for error in errors] == ["AssertionError"], f"{where} should fail its assertion"
            else:
                assert not errors, f"{where} failed: {errors[0].ename}: {errors[0].evalue}"
    assert (tmp_path / "outputs" / "06_usage" / "report.json").is_file(), "every notebook ran to its end"
