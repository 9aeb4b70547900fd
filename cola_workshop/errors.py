"""The workshop's expected errors: problems a learner can fix, each with a one-line message that says how.

Every module raises a subclass of :class:`WorkshopError` for what it expects to go wrong (a setting it cannot use,
a missing stage, an unreadable data folder, ...); ``cola-workshop`` prints such an error as one line and exits 2,
while anything else (a bug) keeps its traceback. A subclass also keeps the builtin class that says what kind of
problem it is (``class DataFormatError(WorkshopError, ValueError)``), so code that catches ``ValueError`` or
``OSError`` around a library call catches it too.
"""

from __future__ import annotations

import errno
import re


class WorkshopError(Exception):
    """A problem the learner can fix; the message is one sentence that names the fix."""


# Writes that fail for a reason outside the workshop, and what fixes each.
_WRITE_FIXES = {
    getattr(errno, name): fix
    for name, fix in (
        ("ENOSPC", "the disk is full: free some space"),
        ("EDQUOT", "the disk quota is used up: free some space"),
        ("EFBIG", "a file is larger than this system allows (a file-size limit, `ulimit -f`): raise the limit"),
        ("EACCES", "permission denied: make the folder writable"),
        ("EPERM", "permission denied: make the folder writable"),
        ("EROFS", "the folder is on a read-only file system"),
    )
    if hasattr(errno, name)
}
_ERRNO_IN_TEXT = re.compile(r"\[Errno (\d+)\]|\(os error (\d+)\)")


def write_error_number(error: BaseException | str) -> int | None:
    """The errno of a failed write, from an OSError or from the text of an error that wraps one
    (safetensors: ``SafetensorError: ... I/O error: File too large (os error 27)``); None for anything else."""
    if isinstance(error, OSError) and error.errno in _WRITE_FIXES:
        return error.errno
    match = _ERRNO_IN_TEXT.search(str(error))
    number = int(match.group(1) or match.group(2)) if match else None
    return number if number in _WRITE_FIXES else None


def write_failure(error: BaseException | str, folder: str) -> str | None:
    """One line naming ``folder`` and the fix when ``error`` is a write the system refused, else None."""
    number = write_error_number(error)
    if number is None:
        return None
    return (
        f"could not write into {folder}: {_WRITE_FIXES[number]}, or point --outputs / WORKSHOP_OUTPUTS at another "
        "folder; the stages saved before are kept as they were"
    )
