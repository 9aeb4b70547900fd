"""Where a notebook's model comes from, checked before the library call that loads it.

Notebooks write the loading calls themselves (``AutoTokenizer.from_pretrained(source)``,
``AutoModelForSequenceClassification.from_pretrained(source, ...)``): that is the lesson. This module only
answers the questions that come before, in one line when the answer is "cannot": does ``--model`` name a local
folder or a hub id (:func:`~cola_workshop.settings.local_folder`, the one place that decides)? Is the folder a
usable checkpoint (:func:`local_checkpoint`)? Does the hub serve the id, or the local cache hold it
(:func:`model_source`)? Without a network and with the model cached, it switches the process to the cache
(``HF_HUB_OFFLINE``) so that the call that follows does not retry the network for half a minute; without a network
and without a cached copy it raises :class:`~cola_workshop.hub.HubUnreachableError`, whose message names the fix,
before any library traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import WorkshopError
from .hub import OFFLINE_FIX, HubUnreachableError, hub_reachable
from .settings import display_path, local_folder


class ModelSourceError(WorkshopError, ValueError):
    """--model names something that is not a usable checkpoint."""


def local_checkpoint(name: str, weights: bool = True, *, hub_ids: bool = True) -> Path | None:
    """The checkpoint folder for ``name``, None for a hub id; ModelSourceError for a broken folder.

    A folder must hold ``config.json`` and safetensors weights (``weights=False``: only exist, for a tokenizer).
    ``hub_ids=False`` where only a folder will do (the demo): the errors' fixes then name no hub id and no
    ``WORKSHOP_MODEL``, which such a command does not read."""
    path = local_folder(name)
    if path is None:
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


def use_hub_cache_only() -> None:
    """Make huggingface_hub, transformers and datasets read only their local caches from now on."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        import huggingface_hub.constants as hub_constants

        hub_constants.HF_HUB_OFFLINE = True
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        pass
    try:
        import datasets.config

        datasets.config.HF_HUB_OFFLINE = True
    except ImportError:  # pragma: no cover
        pass


def cached_on_hub(repo_id: str, filename: str, repo_type: str = "model") -> bool:
    """True when the local hub cache holds ``filename`` of ``repo_id`` (no network is used)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, repo_type=repo_type)
    return isinstance(found, str)


def model_source(name: str, *, weights: bool = True) -> str:
    """What to pass to ``from_pretrained`` for ``--model`` ``name``: a checked local folder, or the hub id.

    A folder must hold ``config.json`` and safetensors weights (``weights=False`` for a tokenizer alone); a hub
    id is returned as it is when the hub answers or when the local cache has it (and the process then reads the
    cache only). Anything else stops here with one line naming the fix (:class:`ModelSourceError` or
    :class:`HubUnreachableError`).
    """
    folder = local_checkpoint(name, weights=weights)
    if folder is not None:
        return str(folder)
    if hub_reachable():
        return name
    if cached_on_hub(name, "config.json") or (not weights and cached_on_hub(name, "tokenizer_config.json")):
        use_hub_cache_only()
        return name
    no_folder = "" if "/" in name else ", which is no folder here either,"  # perhaps a mistyped folder name
    raise HubUnreachableError(
        f"the Hugging Face hub is unreachable and the model {name!r}{no_folder} is not in the local cache: "
        f"{OFFLINE_FIX}."
    )
