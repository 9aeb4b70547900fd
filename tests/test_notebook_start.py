"""The settings cell's library set-up: transformers' load report is shown once, the same way in every run."""

import logging

from cola_workshop.notebook import LoadReportOnce, _sorted_report

REPORT = (
    "[transformers] GPT2ForQuestionAnswering LOAD REPORT from: {root}/outputs/05_training/model\n"
    "Key               | Status     | \n"
    "------------------+------------+-\n"
    "{rows}\n"
    "Notes:\n"
    "- MISSING:\tthose params were newly initialized because missing from the checkpoint.\n"
)
ROWS = ["score.weight      | UNEXPECTED | ", "qa_outputs.weight | MISSING    | ", "qa_outputs.bias   | MISSING    | "]


def record(text: str, level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord("transformers.modeling_utils", level, __file__, 1, text, (), None)


def test_the_report_lists_its_weights_in_the_same_order_whatever_order_transformers_gave():
    from cola_workshop.settings import REPO_ROOT

    shown = []
    for rows in (ROWS, ROWS[::-1], [ROWS[1], ROWS[0], ROWS[2]]):  # the order of a set changes between processes
        message = record(REPORT.format(root=REPO_ROOT, rows="\n".join(rows) + "\n"))
        assert LoadReportOnce().filter(message)
        shown.append(message.getMessage())
    assert shown[0] == shown[1] == shown[2]
    lines = shown[0].splitlines()
    assert lines[3:6] == sorted(ROWS) and lines[0].endswith("from: outputs/05_training/model")


def test_a_report_is_shown_once_and_other_library_chatter_not_at_all():
    once = LoadReportOnce()
    report = REPORT.format(root="/elsewhere", rows=ROWS[1])
    assert once.filter(record(report)) and not once.filter(record(report))
    assert not once.filter(record("Some other warning"))
    assert once.filter(record("a real error", logging.ERROR))


def test_text_without_a_table_is_left_as_it_is():
    assert _sorted_report("no table\nhere") == "no table\nhere"


def draws() -> tuple[float, float, float]:
    import random

    import numpy as np
    import torch

    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_the_settings_cell_seeds_python_numpy_and_torch_with_the_profiles_seed(monkeypatch, tmp_path):
    import random

    import numpy as np
    import torch

    from cola_workshop import notebook

    monkeypatch.setenv("WORKSHOP_OUTPUTS", str(tmp_path))
    settings = notebook.start()
    first = draws()
    random.seed(0), np.random.seed(0), torch.manual_seed(0)  # anything in between
    notebook.start()
    assert draws() == first
    random.seed(settings.seed), np.random.seed(settings.seed), torch.manual_seed(settings.seed)
    assert draws() == first, "start() seeds each generator with the settings' seed"
