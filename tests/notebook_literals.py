"""The recipe's literal values as the notebooks write them: notebook 04's ``recipe = dict(...)`` and notebook 03's
``max_length = <number>``, read from their code cells with ``ast`` (nothing is executed). The tests that tie the
profiles (``test_overrides.py``) and the standalone script (``test_train_classifier.py``) to them share these."""

from __future__ import annotations

import ast
import json
from pathlib import Path


def code_cells(notebook_path) -> list[str]:
    cells = json.loads(Path(notebook_path).read_text())["cells"]
    return ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]


def parsed_cells(sources):
    for source in sources:
        try:
            yield ast.parse(source)
        except SyntaxError:  # an IPython magic or shell line: not the cells looked for
            continue


def recipe_in(sources) -> dict:
    """The keywords of the one ``recipe = dict(...)`` in these code cells, as literal values."""
    found = [node.value for tree in parsed_cells(sources) for node in ast.walk(tree)
             if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["recipe"]
             and isinstance(node.value, ast.Call) and getattr(node.value.func, "id", None) == "dict"]
    assert len(found) == 1, f"expected one `recipe = dict(...)` cell, found {len(found)}"
    return {keyword.arg: ast.literal_eval(keyword.value) for keyword in found[0].keywords}


def max_length_in(sources) -> int:
    """The literal of the one ``max_length = <constant>`` in these code cells."""
    found = [node.value.value for tree in parsed_cells(sources) for node in ast.walk(tree)
             if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["max_length"]
             and isinstance(node.value, ast.Constant)]
    assert len(found) == 1, f"expected one `max_length = <number>` line, found {len(found)}"
    return found[0]
