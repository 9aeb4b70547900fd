"""Write a file or a folder so that it appears complete or not at all.

What is written goes to a hidden name beside its final place, ``.<name>.partial-<pid>-<random>``, and is renamed
into place only once the writing finished. When the writing fails, or the process is stopped, the partial write
never takes the final name, and whatever was there before is still there (a failure removes the partial write; a
killed process leaves it, hidden, for ``leftovers`` to find). A folder that already exists is moved aside
(``.<name>.old-<pid>-<random>``) for the moment of the rename and put back if the rename fails.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path


def _hidden(final: Path, kind: str) -> Path:
    return final.with_name(f".{final.name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def leftovers(final: str | os.PathLike) -> list[Path]:
    """What interrupted writes of ``final`` left beside it: partial writes and previous versions moved aside."""
    final = Path(final)
    if not final.parent.is_dir():
        return []
    name = glob.escape(final.name)
    return sorted(final.parent.glob(f".{name}.partial-*")) + sorted(final.parent.glob(f".{name}.old-*"))


@contextlib.contextmanager
def atomic_file(final: str | os.PathLike) -> Iterator[Path]:
    """``with atomic_file(path) as partial: write into partial``; on success ``partial`` replaces ``path``.

    ``partial`` is a hidden path beside ``path`` (its folder is created); one ``os.replace`` puts it in place."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = _hidden(final, "partial")
    try:
        yield partial
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(final: str | os.PathLike) -> Iterator[Path]:
    """``with atomic_folder(path) as partial: write into partial``; on success ``partial`` replaces ``path``.

    ``partial`` is a new, empty, hidden folder beside ``path``. A folder already at ``path`` is replaced as a
    whole, so nothing of it survives in the new one."""
    final = Path(final)
    partial = _hidden(final, "partial")
    partial.mkdir(parents=True)
    try:
        yield partial
        _replace(partial, final)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _replace(partial: Path, final: Path) -> None:
    """Rename ``partial`` to ``final``; what was at ``final`` is moved aside first and put back if that fails."""
    retired = None
    if final.exists():
        retired = _hidden(final, "old")
        final.rename(retired)
    try:
        partial.rename(final)
    except OSError:
        if retired is not None:
            retired.rename(final)
        raise
    if retired is None:
        return
    if retired.is_dir():
        shutil.rmtree(retired, ignore_errors=True)
    else:
        retired.unlink()
