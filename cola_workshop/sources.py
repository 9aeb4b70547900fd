"""Where a notebook's model comes from, checked before the library call that loads it.

Notebooks write the loading calls themselves (``AutoTokenizer.from_pretrained(source)``,
``AutoModelForSequenceClassification.from_pretrained(source, ...)``): that is the lesson. This module only
answers the question that comes before, in one line when the answer is "cannot": is ``--model`` a usable local
checkpoint folder, or a hub id that the hub serves or the local cache holds? Without a network and with the
model cached, it switches the process to the cache (``HF_HUB_OFFLINE``) so that the call that follows does not
retry the network for half a minute; without a network and without a cached copy it raises
:class:`~cola_workshop.hub.HubUnreachableError`, whose message names the fix, before any library traceback.
"""

from __future__ import annotations

import os

from .hub import OFFLINE_FIX, HubUnreachableError, hub_reachable
from .models import local_checkpoint


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
