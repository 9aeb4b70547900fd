"""Loading tokenizers and models from a hub id or a local checkpoint folder, the same way everywhere.

Everything loads with ``trust_remote_code=False`` and from safetensors weights: no pickled weights are
ever unpickled. A hub id is looked up on the hub when it answers and in the local hub cache otherwise.
"""

from __future__ import annotations

from pathlib import Path

from .data import LABEL_NAMES
from .hub import hub_or_cache
from .settings import display_path, resolve_path

ID2LABEL = dict(enumerate(LABEL_NAMES))
LABEL2ID = {name: index for index, name in ID2LABEL.items()}
_SAFE = dict(trust_remote_code=False)


class ModelSourceError(ValueError):
    """--model names something that is not a usable checkpoint."""


def local_checkpoint(name: str, weights: bool = True, *, hub_ids: bool = True) -> Path | None:
    """The checkpoint folder for ``name``, None for a hub id; ModelSourceError for a broken folder.

    ``hub_ids=False`` where only a folder will do (the demo): the errors' fixes then name no hub id and no
    ``WORKSHOP_MODEL``, which such a command does not read."""
    path = resolve_path(name)
    looks_local = name.startswith((".", "/", "~")) or path.exists()
    if not looks_local:
        return None
    folder_only = "point --model at a fine-tuned model folder, e.g. outputs/05_training/model"
    if not path.is_dir():
        raise ModelSourceError(
            f"model folder {display_path(name)!r} does not exist: "
            + ("set --model / WORKSHOP_MODEL to a checkpoint folder or a hub id such as openai-community/gpt2"
               if hub_ids else folder_only)
        )
    if not weights:
        return path
    if not (path / "config.json").is_file():
        raise ModelSourceError(
            f"{display_path(name)} is not a model checkpoint (no config.json): "
            + ("point --model at a folder written by save_pretrained, e.g. outputs/05_training/model, or at a hub id"
               if hub_ids else folder_only)
        )
    if not any(path.glob("*.safetensors")):
        raise ModelSourceError(
            f"{display_path(name)} has no .safetensors weights (pickled .bin weights are not loaded): re-save it "
            "with save_pretrained(..., safe_serialization=True)"
        )
    return path


def _source(name: str, what: str):
    """(path or id to pass to from_pretrained, context manager to load it in)."""
    import contextlib

    folder = local_checkpoint(name, weights=what != "tokenizer")
    if folder is not None:
        return str(folder), contextlib.nullcontext()
    no_folder = "" if "/" in name else ", which is no folder here either,"  # perhaps a mistyped folder name
    return name, hub_or_cache(f"the {what} {name!r}{no_folder}")


def add_pad_token(tokenizer) -> str:
    """Give a tokenizer without a padding token one, and say which (GPT-2 and Llama ship without).

    The end-of-text token is reused when there is one: padded positions are masked out by the attention
    mask and skipped by the classification head, so reusing it changes no result and adds no new,
    untrained embedding. Returns a sentence describing what was done.
    """
    if tokenizer.pad_token is not None:
        return f"the tokenizer already has a padding token: {tokenizer.pad_token!r}"
    for candidate in (tokenizer.eos_token, tokenizer.unk_token):
        if candidate is not None:
            tokenizer.pad_token = candidate
            return f"no padding token: reusing {candidate!r} (id {tokenizer.pad_token_id}) for padding"
    tokenizer.add_special_tokens({"pad_token": "<pad>"})
    return "no padding token and no end-of-text token: added a new '<pad>' token"


def load_tokenizer(name: str, pad: bool = True):
    """AutoTokenizer for ``name``; with ``pad``, a padding token is added where it lacks one."""
    from transformers import AutoTokenizer

    source, context = _source(name, "tokenizer")
    folder = Path(source)
    bare_bpe = folder.is_dir() and not any((folder / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json"))
    with context:
        if bare_bpe and (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
            # OpenAI's original GPT-2 files alone (vocab.json + merges.txt): nothing says which class to use.
            from transformers import GPT2TokenizerFast

            tokenizer = GPT2TokenizerFast.from_pretrained(source)
        else:
            tokenizer = AutoTokenizer.from_pretrained(source, **_SAFE)
    if pad:
        add_pad_token(tokenizer)
    return tokenizer


def _fit_to_tokenizer(model, tokenizer):
    """Tell the model which id is padding, and grow its embeddings if the tokenizer gained a token."""
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    if tokenizer.pad_token_id is not None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model


def load_classifier(name: str, tokenizer=None):
    """A sequence classifier with CoLA's two labels (a new, untrained head on a pretrained body)."""
    from transformers import AutoModelForSequenceClassification

    source, context = _source(name, "model")
    with context:
        model = AutoModelForSequenceClassification.from_pretrained(
            source, num_labels=2, id2label=ID2LABEL, label2id=LABEL2ID, use_safetensors=True, **_SAFE
        )
    return _fit_to_tokenizer(model, tokenizer) if tokenizer is not None else model


def is_causal_lm(name: str) -> bool:
    """True when ``name`` is a left-to-right language model (GPT-2, Llama, ...), not an encoder such as BERT."""
    from transformers import AutoConfig

    source, context = _source(name, "model")
    with context:
        config = AutoConfig.from_pretrained(source, **_SAFE)
    architectures = config.architectures or []
    return any(arch.endswith(("ForCausalLM", "LMHeadModel")) for arch in architectures)


def load_causal_lm(name: str, tokenizer=None):
    """The language model itself, for zero-shot scoring."""
    from transformers import AutoModelForCausalLM

    source, context = _source(name, "model")
    with context:
        model = AutoModelForCausalLM.from_pretrained(source, use_safetensors=True, **_SAFE)
    model.eval()
    return _fit_to_tokenizer(model, tokenizer) if tokenizer is not None else model


def load_question_answering(name: str, tokenizer=None):
    """A model with an extractive question-answering head (freshly initialised for GPT-2: see notebook 01)."""
    from transformers import AutoModelForQuestionAnswering

    source, context = _source(name, "model")
    with context:
        model = AutoModelForQuestionAnswering.from_pretrained(source, use_safetensors=True, **_SAFE)
    model.eval()
    return _fit_to_tokenizer(model, tokenizer) if tokenizer is not None else model


def save_for_offline(name: str, folder: Path) -> Path:
    """Download hub model ``name`` (config, tokenizer, safetensors weights) into ``folder`` for ``--model folder``."""
    from huggingface_hub import snapshot_download

    if local_checkpoint(name) is not None:
        raise ModelSourceError(f"{display_path(name)} is already a local folder: copy it as it is")
    with hub_or_cache(f"the model {name!r}"):
        snapshot_download(
            name,
            local_dir=str(folder),
            allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken"],
        )
    return folder
