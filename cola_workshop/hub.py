"""Access to the Hugging Face hub: a fast reachability probe and an offline mode for cached copies.

The hub is the default source for people with a network. Without one (a workshop room with bad wifi, CI),
the loaders first try the local hub cache and otherwise fail at once with a message that names the fix,
instead of retrying for half a minute.
"""

from __future__ import annotations

import contextlib
import os
import socket
from urllib.parse import urlparse

from .errors import WorkshopError

OFFLINE_FIX = (
    "run with --profile tiny, or point --model/--data at a folder prepared with "
    "`cola-workshop prefetch` (see notebooks/instructor-guide.md)"
)


class HubUnreachableError(WorkshopError, ConnectionError):
    """The hub cannot be reached and nothing usable is cached."""


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def hub_reachable(timeout: float = 3.0) -> bool:
    """True when a TCP connection to the hub endpoint opens within ``timeout`` seconds."""
    if os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE"):
        return False
    url = urlparse(hub_endpoint())
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def offline_mode():
    """Make huggingface_hub, transformers and datasets read only their local caches inside the block."""
    import datasets.config
    import huggingface_hub.constants as hub_constants

    saved = (hub_constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE)
    hub_constants.HF_HUB_OFFLINE = True
    datasets.config.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        hub_constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE = saved


@contextlib.contextmanager
def hub_or_cache(what: str):
    """Use the hub when it answers, else the local cache; fail with one sentence when neither has ``what``."""
    if hub_reachable():
        yield
        return
    try:
        with offline_mode():
            yield
    except (OSError, ValueError) as error:  # missing cache entries surface as OSError/ValueError subclasses
        raise HubUnreachableError(
            f"the Hugging Face hub is unreachable and {what} is not in the local cache: {OFFLINE_FIX}."
        ) from error
