"""Where the benchmark's model, data and tokenizer come from, here and on a learner's machine."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
HUB_MODEL = "openai-community/gpt2"


def shared_available() -> bool:
    """True on the workshop's machines, where the real CoLA release and GPT-2's tokenizer lie beside the repo."""
    return (SHARED_DATA / "cola_public").is_dir() and (SHARED_DATA / "gpt2-tokenizer").is_dir()


def default_model(end_to_end: bool) -> str:
    """'random' (GPT2Config() with random weights) where the hub is not needed or the mode always uses it."""
    return "random" if end_to_end or shared_available() else HUB_MODEL


def default_data() -> str:
    return str(SHARED_DATA / "cola_public") if shared_available() else "hub"


def default_tokenizer(model: str) -> str | None:
    """GPT-2's real tokenizer for a random model (the shared copy, else the hub's); None: the model's own."""
    if model != "random":
        return None
    return str(SHARED_DATA / "gpt2-tokenizer") if shared_available() else HUB_MODEL


def absolute_if_local(value: str | None) -> str | None:
    """Folders given relative to the current directory, made absolute (children run in the repository root)."""
    if value and value not in ("random", "hub") and Path(value).expanduser().exists():
        return str(Path(value).expanduser().resolve())
    return value
