"""How fast does the workshop's fine-tuning recipe train GPT-2 small on CoLA, and why?

One command times several training configurations side by side, each in its own child process under a
memory cap, with the workshop's own preprocessing, collator and Trainer settings (``cola_workshop``'s loaders,
``DataCollatorWithPadding``, the ``full`` profile's hyperparameters)::

    .venv/bin/python benchmarks/train_speed.py                       # all default configurations
    .venv/bin/python benchmarks/train_speed.py --configs workshop    # one configuration
    .venv/bin/python benchmarks/train_speed.py --list                # what each configuration is
    .venv/bin/python benchmarks/train_speed.py --end-to-end          # the six notebooks, then the reference

Defaults: where ``../shared/data`` exists beside the repository (the workshop's build machine) the real CoLA
training sentences and GPT-2 tokenizer are read from there and the model is GPT-2 small's architecture
(``GPT2Config()``, 124M parameters) with random weights: the speed of a step does not depend on the weight
values. Elsewhere the hub copies are used (``openai-community/gpt2``, ``nyu-mll/glue`` cola).

The code lives in the ``speed`` package beside this file (see its ``__init__``); this is its entry point, for
the parent and for each child. See benchmarks/README.md for how to read the output. Importing this module
runs nothing (the tests do so).
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for _folder in (_HERE, _HERE.parent):  # the speed package, and cola_workshop without an installed copy
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

from speed.cli import main, parse_args  # noqa: E402

__all__ = ["main", "parse_args"]

if __name__ == "__main__":
    sys.exit(main())
