"""The learner edition of the notebooks: the instructor's notebooks with every reference solution replaced by a stub.

The committed notebooks are the instructor edition and the only source: each exercise is a prompt, an answer cell
tagged ``solution`` whose reference solution sits between nbgrader's markers, and a check cell tagged ``check``::

    answer = None  # kept: the learner edition still runs, and the check then fails with its hint
    ### BEGIN SOLUTION
    answer = ...
    ### END SOLUTION

``learner_notebook`` replaces each marked block by ``# YOUR CODE HERE`` (at the block's indentation), clears every
output and execution count, and shows the answer cells expanded (the instructor edition collapses them, so that
a reader does not see the solution by accident; a learner must see where to write). Everything else is kept as
it is. Markers are checked strictly, because a marker typed slightly wrong would hand out a solution:
``EditionError`` names the notebook, cell and fix. ``cola-workshop learner-edition DIR`` calls
``write_learner_edition``; the learner edition is generated, never committed.
"""

from __future__ import annotations

import copy
from pathlib import Path

from ..files import atomic_file
from ..errors import WorkshopError
from ..settings import display_path

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
STUB = "# YOUR CODE HERE"
SOLUTION_TAG = "solution"
CHECK_TAG = "check"
HIDE_INPUT_TAG = "hide-input"  # myst-nb: the static site shows the input behind a toggle
_MARKER_WORDS = ("BEGIN SOLUTION", "END SOLUTION")


class EditionError(WorkshopError, ValueError):
    """A notebook's solution markup is inconsistent, or the destination is unsafe; the message names the fix."""


def strip_solutions(source: str, where: str = "cell") -> str:
    """``source`` with each ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` block replaced by ``# YOUR CODE HERE``.

    Lines outside the blocks stay exactly as they are. A marker line must be the marker alone (indentation
    allowed); any other line that mentions one, an unclosed block, or an END without BEGIN is an EditionError.
    """
    kept: list[str] = []
    inside = False
    for number, line in enumerate(source.split("\n"), 1):
        stripped = line.strip()
        if stripped == BEGIN_SOLUTION:
            if inside:
                raise EditionError(
                    f"{where}, line {number}: a second {BEGIN_SOLUTION} before {END_SOLUTION}: close the first block"
                )
            inside = True
            kept.append(line[: len(line) - len(line.lstrip())] + STUB)
        elif stripped == END_SOLUTION:
            if not inside:
                raise EditionError(
                    f"{where}, line {number}: {END_SOLUTION} without {BEGIN_SOLUTION}: add the begin marker"
                )
            inside = False
        elif any(word in line for word in _MARKER_WORDS):
            raise EditionError(
                f"{where}, line {number}: {stripped!r} is not a marker: write {BEGIN_SOLUTION!r} or {END_SOLUTION!r} "
                "alone on its line"
            )
        elif not inside:
            kept.append(line)
    if inside:
        raise EditionError(f"{where}: {BEGIN_SOLUTION} without {END_SOLUTION}: add the end marker")
    return "\n".join(kept)


def has_solution_markers(source: str) -> bool:
    return any(word in source for word in _MARKER_WORDS)


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _learner_cell(cell, where: str):
    """A copy of one cell as the learner gets it (see the module docstring); EditionError on inconsistent markup."""
    cell = copy.deepcopy(cell)
    metadata = cell.setdefault("metadata", {})
    metadata.pop("execution", None)  # nbclient's timings
    tagged = SOLUTION_TAG in _tags(cell)
    marked = has_solution_markers(cell.get("source", ""))
    if cell["cell_type"] != "code":
        if tagged or marked:
            raise EditionError(f"{where} is a {cell['cell_type']} cell with a solution: solutions go in code cells")
        return cell
    cell["outputs"], cell["execution_count"] = [], None
    if tagged and not marked:
        raise EditionError(f"{where} is tagged {SOLUTION_TAG!r} but has no {BEGIN_SOLUTION} / {END_SOLUTION} "
                           "markers: put them around the reference solution")
    if marked and not tagged:
        raise EditionError(f"{where} has solution markers but is not tagged {SOLUTION_TAG!r}: tag it, so that it is "
                           "collapsed in the instructor edition and on the site")
    if tagged:
        cell["source"] = strip_solutions(cell["source"], where)
        metadata["tags"] = [tag for tag in _tags(cell) if tag != HIDE_INPUT_TAG]
        jupyter = metadata.get("jupyter", {})
        jupyter.pop("source_hidden", None)
        if not jupyter:
            metadata.pop("jupyter", None)
    return cell


def learner_notebook(nb, name: str = "notebook"):
    """A copy of the notebook ``nb`` (an nbformat node) as the learner gets it; ``nb`` itself is not changed."""
    learner = copy.deepcopy(nb)
    learner["cells"] = [_learner_cell(cell, f"{name}, cell {number}") for number, cell in enumerate(nb["cells"], 1)]
    return learner


def exercise_counts(nb) -> tuple[int, int]:
    """(answer cells tagged ``solution``, cells tagged ``check``) of a notebook."""
    tags = [_tags(cell) for cell in nb["cells"]]
    return sum(SOLUTION_TAG in t for t in tags), sum(CHECK_TAG in t for t in tags)


def write_learner_edition(source: Path, destination: Path, force: bool = False) -> list[Path]:
    """Write the learner edition of every ``*.ipynb`` in ``source`` into ``destination``; returns the files written.

    All notebooks are converted before the first is written, so a markup error leaves nothing behind. Refuses
    to write into ``source`` itself (that would overwrite the instructor edition), and to replace existing
    notebooks unless ``force`` (they may hold a learner's answers).
    """
    import nbformat

    source, destination = Path(source), Path(destination)
    notebooks = sorted(source.glob("*.ipynb"))
    if not notebooks:
        raise EditionError(
            f"no notebooks in {display_path(source)}: run from a complete checkout of the workshop"
        )
    if destination.resolve() == source.resolve():
        raise EditionError(
            f"{display_path(destination)} holds the instructor's notebooks: write the learner edition to another folder"
        )
    if destination.exists() and not destination.is_dir():
        raise EditionError(f"{display_path(destination)} is a file, not a folder: name a folder for the learner edition")
    editions = {path.name: learner_notebook(nbformat.read(str(path), as_version=4), path.name) for path in notebooks}
    existing = sorted(name for name in editions if (destination / name).exists())
    if existing and not force:
        raise EditionError(
            f"{display_path(destination)} already holds {', '.join(existing)} (perhaps with a learner's answers): "
            "choose another folder, remove them, or add --force to overwrite"
        )
    destination.mkdir(parents=True, exist_ok=True)
    written = []
    for name, nb in editions.items():
        with atomic_file(destination / name) as partial:
            nbformat.write(nb, str(partial))
        written.append(destination / name)
    return written
