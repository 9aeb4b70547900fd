"""pytest set-up shared by the unit tests and nbval.

The notebooks are re-executed by nbval on the tiny profile, against a throw-away outputs folder: a test run
never touches a learner's own ``outputs/`` (a full-profile model there stays as it is). The kernels that nbval
starts inherit these variables.
"""

import os
import tempfile

import pytest

os.environ["WORKSHOP_PROFILE"] = "tiny"
for _name in ("WORKSHOP_MODEL", "WORKSHOP_DATA", "WORKSHOP_EPOCHS", "WORKSHOP_MAX_TRAIN_SAMPLES"):
    os.environ.pop(_name, None)
os.environ["WORKSHOP_OUTPUTS"] = tempfile.mkdtemp(prefix="workshop-test-outputs-")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # pytest-xdist runs one worker per core: each worker and the kernels it starts compute on one thread, so that
    # two workers do not fight over the same cores (OpenMP threads that wait spinning made training 25x slower).
    os.environ["OMP_NUM_THREADS"] = "1"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """With pytest-xdist (``-n``), each test file goes to one worker, and the six notebooks all to the same one.

    Each notebook reads what the one before it saved in this process's outputs folder, and nbval runs a
    notebook's cells in one kernel, so they must run in order on one worker. (xdist's own ``--dist loadgroup``
    cannot do this with pytest 9.2, whose node ids no longer take the group suffix.)
    """
    from xdist.scheduler import LoadScopeScheduling

    class NotebooksTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "notebooks" if path.endswith(".ipynb") else path

    return NotebooksTogether(config, log)


def pytest_addoption(parser):
    parser.addoption(
        "--real-weights", action="store_true", default=False,
        help="also collect the real-weights lane (tests marked real_weights: the full profile with the pretrained "
             "decoder and encoder from ../shared); README's test command leaves it out",
    )


@pytest.hookimpl(tryfirst=True)  # before pytest's own -m selection, which must see the marks added here
def pytest_collection_modifyitems(config, items):
    """Mark nbval's notebook items ``runs_notebooks`` too, and everything ``runs_notebooks`` also ``slow``, so
    ``pytest -m "not slow"`` is the quick lane (CONTRIBUTING.md, "Tests in lanes").

    Then longest work first: the test files that execute notebooks, then the notebooks under nbval, then the
    rest, each in its collected order. pytest-xdist hands out files in this order (``--no-loadscope-reorder``),
    so the two workers finish at about the same time.

    Tests marked ``real_weights`` (minutes each, with pretrained models) are left out unless ``--real-weights`` is
    given: CI runs them as a lane of their own after README's test command (README, "The real-weights lane")."""
    if not config.getoption("--real-weights"):
        lane = [item for item in items if item.get_closest_marker("real_weights")]
        if lane:
            config.hook.pytest_deselected(items=lane)
            items[:] = [item for item in items if not item.get_closest_marker("real_weights")]
    heavy_files = {item.path for item in items if item.get_closest_marker("runs_notebooks")}
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.runs_notebooks)
        if item.get_closest_marker("runs_notebooks"):
            item.add_marker(pytest.mark.slow)

    def rank(item) -> int:
        return 0 if item.path in heavy_files else 1 if item.path.suffix == ".ipynb" else 2

    items.sort(key=rank)  # a stable sort: order within each rank is kept
