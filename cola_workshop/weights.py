"""How many parameters a checkpoint folder's safetensors weights hold, read from the files' headers (no tensor is
loaded), and whether every weight file is there and whole."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

from .errors import WorkshopError


class IncompleteError(WorkshopError, ValueError):
    """A model or data folder lacks something the workshop reads; the message says what."""


def safetensors_parameters(path: Path) -> int:
    """Parameters stored in one .safetensors file, read from its header; IncompleteError when the file was cut
    short (e.g. a copy onto a USB stick that did not finish) or is not safetensors at all."""
    size = path.stat().st_size
    try:
        with open(path, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(length)) if 8 + length <= size else None
    except (struct.error, ValueError):
        header = None
    if not isinstance(header, dict):
        raise IncompleteError(f"{path.name} is not a readable safetensors file")
    tensors = [value for key, value in header.items() if key != "__metadata__"]
    end = max((tensor["data_offsets"][1] for tensor in tensors), default=0)
    if 8 + length + end != size:
        raise IncompleteError(f"{path.name} is incomplete ({size:,} of {8 + length + end:,} bytes)")
    return sum(math.prod(tensor["shape"]) for tensor in tensors)


def checkpoint_parameters(folder: Path) -> int:
    """Parameters in a checkpoint folder's safetensors weights, after checking every shard is there and whole."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        missing = [name for name in names if not (folder / name).is_file()]
        if missing:
            raise IncompleteError(f"weight shard(s) {', '.join(missing)} missing")
        files = [folder / name for name in names]
    else:
        files = sorted(folder.glob("*.safetensors"))
    return sum(safetensors_parameters(path) for path in files)
