"""What every notebook does in its settings cell: load the settings, seed, and keep library chatter down."""

from __future__ import annotations

import logging
import os
import warnings

from . import environment
from .hardware import use_shape_agnostic_attention
from .settings import Settings, load_settings


def quiet_libraries() -> None:
    """Hide download/progress chatter and known-harmless warnings so the cells show what matters.

    Training progress (the Trainer's own table) stays visible; warnings that the notebooks explain in
    prose (e.g. "Some weights ... were newly initialized") are silenced here, not ignored.
    """
    import datasets
    import transformers

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    transformers.logging.set_verbosity_error()
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
    from transformers import set_seed

    settings = load_settings()
    quiet_libraries()
    use_shape_agnostic_attention()
    set_seed(settings.seed)
    print(settings.describe())
    print(environment.report(settings))
    return settings
