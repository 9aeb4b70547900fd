"""Which Python and library versions run the workshop, whether they are the tested ones, and which device trains.

Printed in each notebook's settings cell (``notebook.start``) and checked by ``cola-workshop doctor``, so that a
learner whose install drifted from the tested versions is told so, with the fix, before a cell fails in a
puzzling way. "Tested" means: the same major.minor release as the version pinned in poetry.lock. The pinned
versions are copied from the lock into ``tested_versions.json`` next to this module by ``.ci/relock``, so an
installed copy of the package knows them without Poetry or the lock (a test keeps the two in sync).
"""

from __future__ import annotations

import json
import platform
from functools import lru_cache
from importlib import metadata
from pathlib import Path

TESTED_FILE = Path(__file__).with_name("tested_versions.json")
# What the settings cell shows; the doctor checks every package in TESTED_FILE.
SHOWN = ("torch", "transformers", "datasets")
INSTALL_FIX = (
    "reinstall the tested versions with README's setup command "
    "(python -m pip install -e . -c .ci/constraints.txt, in the repository)"
)


@lru_cache(maxsize=1)
def tested_versions() -> dict:
    """{'python': '>=3.11,<3.14', 'packages': {'torch': ['2.13.0'], ...}} as locked in poetry.lock."""
    return json.loads(TESTED_FILE.read_text())


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def public(version: str) -> str:
    """'2.13.0+cpu' -> '2.13.0': the build label (cpu, cu130) depends on the machine, not on the release."""
    from packaging.version import Version

    return Version(version).public


def _minor(version: str) -> tuple[int, ...]:
    from packaging.version import Version

    return Version(version).release[:2]


def untested(installed: dict[str, str | None] | None = None, python: str | None = None) -> list[str]:
    """One 'name X (tested: Y)' phrase per package outside the tested major.minor releases; [] when all are tested.

    ``installed`` maps package names to versions (default: what is installed here); ``python`` likewise.
    """
    from packaging.specifiers import SpecifierSet

    tested = tested_versions()
    python = python or platform.python_version()
    problems = []
    if python not in SpecifierSet(tested["python"]):
        problems.append(f"Python {python} (tested: {tested['python']})")
    for name, versions in tested["packages"].items():
        version = installed_version(name) if installed is None else installed.get(name)
        if version is None:
            problems.append(f"{name} not installed (tested: {' or '.join(versions)})")
        elif _minor(version) not in {_minor(v) for v in versions}:
            problems.append(f"{name} {public(version)} (tested: {' or '.join(versions)})")
    return problems


def version_warning(problems: list[str]) -> str | None:
    """The one line that tells a learner their versions are untested, and how to fix it."""
    if not problems:
        return None
    return f"warning: untested versions: {', '.join(problems)}: {INSTALL_FIX}"


def versions_line(names: tuple[str, ...] = SHOWN) -> str:
    """'versions: Python 3.11.7, torch 2.13.0, transformers 5.24.0, datasets 5.2.0'."""
    parts = [f"Python {platform.python_version()}"]
    for name in names:
        version = installed_version(name)
        parts.append(f"{name} {public(version) if version else 'not installed'}")
    return "versions: " + ", ".join(parts)


def device_line(settings) -> str:
    """'training on CPU (8 threads) in fp32': what the Trainer will use with these settings on this machine."""
    from .hardware import describe_device, precision_arguments

    return describe_device(precision_arguments(settings))


def report(settings) -> str:
    """The lines the settings cell prints under the settings: versions, device and precision, and a warning
    line when a version is not the tested one."""
    lines = [versions_line(), device_line(settings)]
    warning = version_warning(untested())
    if warning:
        lines.append(warning)
    return "\n".join(lines)
