"""pytest set-up shared by the unit tests and nbval.

The notebooks are re-executed by nbval on the tiny profile, against a throw-away outputs folder: a test run
never touches a learner's own ``outputs/`` (a full-profile model there stays as it is). The kernels that nbval
starts inherit these variables.
"""

import os
import tempfile

os.environ["WORKSHOP_PROFILE"] = "tiny"
for _name in ("WORKSHOP_MODEL", "WORKSHOP_DATA", "WORKSHOP_EPOCHS", "WORKSHOP_MAX_TRAIN_SAMPLES"):
    os.environ.pop(_name, None)
os.environ["WORKSHOP_OUTPUTS"] = tempfile.mkdtemp(prefix="workshop-test-outputs-")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
