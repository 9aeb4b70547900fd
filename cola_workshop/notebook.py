"""What every notebook does in its settings cell: load the settings, seed, and keep library chatter down."""

from __future__ import annotations

import logging
import os
import re
import warnings

from . import environment
from .hardware import use_shape_agnostic_attention
from .settings import REPO_ROOT, Settings, load_settings


def _sorted_report(text: str) -> str:
    """The load report with its table rows in name order: transformers lists the weights from a set, so their order
    changes from one process to the next (string hashing is randomised), and a notebook's output would too."""
    lines = text.split("\n")
    rule = next((i for i, line in enumerate(lines) if re.fullmatch(r"-+\+[-+]*", line.strip())), None)
    if rule is None:
        return text
    end = next((i for i in range(rule + 1, len(lines)) if not lines[i].strip()), len(lines))
    return "\n".join(lines[: rule + 1] + sorted(lines[rule + 1 : end]) + lines[end:])


class LoadReportOnce(logging.Filter):
    """Pass transformers' weight-loading report (and errors) only, each report once, without terminal colours,
    with its rows in name order and with paths inside the workshop written relative to it (the same text on every
    machine and in every run)."""

    def __init__(self):
        super().__init__()
        self.shown: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        text = record.getMessage()
        if "LOAD REPORT" not in text:
            return False
        text = _sorted_report(re.sub(r"\x1b?\[[0-9;]*m", "", text).replace(f"{REPO_ROOT}{os.sep}", ""))
        if text in self.shown:
            return False
        self.shown.add(text)
        record.msg, record.args = text, ()
        return True


def quiet_libraries() -> None:
    """Hide download/progress chatter and known-harmless warnings so the cells show what matters.

    Training progress (the Trainer's own table) stays visible, and so does transformers' report of the
    weights a model did not find in its checkpoint (e.g. a classification head that starts random): that is
    evidence the notebooks read, shown once per kernel (:class:`LoadReportOnce`). Other library warnings are
    silenced here, not ignored: the notebooks explain in prose what matters.
    """
    import datasets
    import transformers

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    transformers.logging.set_verbosity_error()
    loading = logging.getLogger("transformers.modeling_utils")  # where from_pretrained logs its load report
    loading.setLevel(logging.WARNING)
    if not any(isinstance(existing, LoadReportOnce) for existing in loading.filters):
        loading.addFilter(LoadReportOnce())
    transformers.logging.disable_progress_bar()  # "Loading weights" / "Writing model shards" bars
    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    logging.getLogger("evaluate").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*TracerWarning.*")
    warnings.filterwarnings("ignore", message=".*'pin_memory' argument is set as true but no accelerator.*")


def start() -> Settings:
    """Settings for this run, with every random generator seeded; prints them for the learner, with the Python
    and library versions, the device and precision training will use, and a one-line warning (naming the fix)
    when a version is not the one the workshop was tested with (``environment.report``). On a CUDA GPU it also
    picks attention kernels that suit batches of changing shape (``hardware.use_shape_agnostic_attention``)."""
    # accelerate's set_seed seeds Python, NumPy and PyTorch as transformers' does; transformers' own lives beside the
    # Trainer and imports peft with it (about 3 s), which notebooks that train nothing need not wait for.
    from accelerate.utils import set_seed

    settings = load_settings()
    quiet_libraries()
    use_shape_agnostic_attention()
    set_seed(settings.seed)
    print(settings.describe())
    print(environment.report(settings))
    return settings
