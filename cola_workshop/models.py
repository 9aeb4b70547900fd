"""What notebook 01 asks about a model before it loads one, and the offline copy that ``cola-workshop prefetch`` makes.

The notebooks write the loading calls themselves (``AutoTokenizer.from_pretrained``,
``AutoModelForSequenceClassification.from_pretrained``, ...) on what :func:`~cola_workshop.sources.model_source`
returns; nothing here wraps them. Everything is read with ``trust_remote_code=False`` and from safetensors
weights: no pickled weights are ever unpickled.
"""

from __future__ import annotations

from pathlib import Path

from .hub import hub_or_cache
from .settings import display_path
from .sources import ModelSourceError, local_checkpoint, model_source


def is_causal_lm(name: str) -> bool:
    """True when ``name`` is a left-to-right language model (GPT-2, Llama, ...), not an encoder such as BERT."""
    from transformers import AutoConfig

    return predicts_next_word(AutoConfig.from_pretrained(model_source(name), trust_remote_code=False))


def predicts_next_word(config) -> bool:
    """True when this configuration's architecture is a left-to-right language model (``...ForCausalLM``)."""
    return any(arch.endswith(("ForCausalLM", "LMHeadModel")) for arch in config.architectures or [])


def has_question_answering_class(config) -> bool:
    """True when transformers has an extractive question-answering class for this configuration's architecture, so
    that ``AutoModelForQuestionAnswering.from_pretrained`` can load it (GPT-2, Llama, BERT: yes; Gemma, Phi, OLMo:
    no, and it would stop with "Unrecognized configuration class")."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_QUESTION_ANSWERING_MAPPING_NAMES

    return config.model_type in MODEL_FOR_QUESTION_ANSWERING_MAPPING_NAMES


def skipped_sections(config) -> list[str]:
    """The notebook sections a model with this configuration skips, each saying why; empty when it runs them all.

    Any checkpoint with a sequence-classification class runs all six notebooks; a section that needs an ability
    the model lacks says so in one sentence and the notebook goes on (notebooks 01 and 06 ask the same questions).
    """
    skipped = []
    if not predicts_next_word(config):
        skipped.append("01 and 06: the zero-shot baseline and text generation (not a left-to-right language model)")
    if not has_question_answering_class(config):
        skipped.append(f"01 and 06: question answering (transformers has no question-answering class for "
                       f"{config.model_type!r})")
    return skipped


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
