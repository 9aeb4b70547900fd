"""One run at a time per outputs folder.

``cola-workshop run`` holds ``<outputs>/.run.lock`` (its process id, start time and host, as JSON) while it runs,
and passes the lock's token to the kernels it starts (``WORKSHOP_RUN_LOCK``). Anything else that would read or
write stages there meanwhile (a second run, ``clean``, a notebook executed by hand) stops at once with one line
naming the holder and the fix. A lock whose process is gone (a killed run) does not block: the next run takes it.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import socket
import uuid
from pathlib import Path

from .errors import WorkshopError
from .settings import display_path

LOCK_NAME = ".run.lock"
TOKEN_VAR = "WORKSHOP_RUN_LOCK"  # set in the kernels of the run that holds the lock


class OutputsBusyError(WorkshopError):
    """Another run holds the outputs folder; the message names it and the fix."""


def lock_path(outputs: Path) -> Path:
    return Path(outputs) / LOCK_NAME


def _process_started(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), or None when there is no such process."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        return 0.0  # alive, but its start time is hidden from us


def read_holder(outputs: Path) -> dict | None:
    """The lock's record when a live process holds it; None when the folder is free or its holder is gone."""
    try:
        holder = json.loads(lock_path(outputs).read_text())
        pid, created = int(holder["pid"]), float(holder.get("process_created", 0.0))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        return None  # a lock cut short while it was written: nobody can hold it
    if holder.get("host") != socket.gethostname():
        return holder  # another machine's process (a shared disk): we cannot tell, so it holds
    started = _process_started(pid)
    if started is None or (created and started and abs(started - created) > 1.0):  # gone, or its pid reused
        return None
    return holder


def describe_holder(holder: dict, outputs: Path) -> str:
    """'another run holds outputs (pid 123 on host, started ...)': the first half of the one-line error."""
    return (
        f"another cola-workshop run holds {display_path(outputs)} (process {holder.get('pid')} on {holder.get('host')}, "
        f"started {holder.get('started', '?')})"
    )


def check_free(outputs: Path, doing: str = "use it") -> None:
    """OutputsBusyError unless the folder is free, or held by the run this process belongs to."""
    holder = read_holder(outputs)
    if holder is None or holder.get("token") == os.environ.get(TOKEN_VAR):
        return
    raise OutputsBusyError(
        f"{describe_holder(holder, outputs)}: wait until it finishes (or stop it: kill {holder.get('pid')}) "
        f"before you {doing}, or choose another --outputs / WORKSHOP_OUTPUTS folder"
    )


def _write_lock(path: Path, record: dict) -> bool:
    """Create the lock file with ``record``; False when one exists already."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w") as handle:
        handle.write(json.dumps(record, indent=2) + "\n")
    return True


@contextlib.contextmanager
def hold_outputs(outputs: Path):
    """Hold ``outputs`` for this process (creating the folder) while the block runs; its kernels inherit the token
    through ``os.environ``. OutputsBusyError at once when a live process holds it; a dead holder's lock is replaced."""
    outputs = Path(outputs)
    outputs.mkdir(parents=True, exist_ok=True)
    path = lock_path(outputs)
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "process_created": _process_started(os.getpid()),
        "token": uuid.uuid4().hex,
    }
    for _ in range(3):
        if _write_lock(path, record):
            break
        check_free(outputs, "start another run")  # raises while its holder lives
        stale = path.with_name(f"{LOCK_NAME}.stale-{uuid.uuid4().hex[:8]}")
        with contextlib.suppress(FileNotFoundError):
            path.rename(stale)  # one of two runs racing for a stale lock gets it
            stale.unlink()
    else:
        check_free(outputs, "start another run")
        raise OutputsBusyError(f"could not take {display_path(path)}: remove it if no run is going on, then run again")
    previous = os.environ.get(TOKEN_VAR)
    os.environ[TOKEN_VAR] = record["token"]
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(TOKEN_VAR, None)
        else:
            os.environ[TOKEN_VAR] = previous
        with contextlib.suppress(FileNotFoundError):
            if json.loads(path.read_text()).get("token") == record["token"]:
                path.unlink()
