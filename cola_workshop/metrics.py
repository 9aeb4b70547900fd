"""CoLA's metric, Matthews correlation, loadable offline through `evaluate`."""

from __future__ import annotations

from pathlib import Path

MCC_MODULE = Path(__file__).resolve().parent / "evaluate_modules" / "matthews_correlation"


def load_mcc():
    """``evaluate``'s Matthews correlation from the copy shipped with the workshop (no hub access needed)."""
    import evaluate

    return evaluate.load(str(MCC_MODULE))
