"""Where CoLA's metric comes from: the hub's ``matthews_correlation`` module, or the workshop's copy of it.

Notebooks write the call themselves::

    mcc = evaluate.load("matthews_correlation" if hub_reachable() else str(LOCAL_MCC))

``evaluate.load`` fetches a hub module's script at run time; where the hub is out of reach (the tiny profile
in CI, a room without a network) the same call takes the path of a folder holding the script. The copy in
``evaluate_modules/matthews_correlation`` computes the same number (scikit-learn's ``matthews_corrcoef``) and
returns it under the same key.
"""

from __future__ import annotations

from pathlib import Path

LOCAL_MCC = Path(__file__).resolve().parent / "evaluate_modules" / "matthews_correlation"
