"""Turn `poetry export -f constraints.txt --without-hashes` (on stdin) into the files pip and the package read.

Writes two files, both generated from poetry.lock, never edited by hand:

- ``.ci/constraints.txt``: every locked version, for README's ``pip install -e . -c .ci/constraints.txt``;
- ``cola_workshop/tested_versions.json``: the locked versions of the libraries whose versions the workshop
  reports and checks at run time (``cola-workshop doctor``, the notebooks' settings cell), so that an installed
  copy of the package knows what it was tested with without Poetry or the lock.

Why post-process: Poetry may lock two versions of one package whose markers can both be true on one platform.
The current lock does this for nvidia-cublas and nvidia-cuda-nvrtc on Linux x86_64/aarch64 (torch's
cuda-toolkit extras pin ==13.1.1.3.* / ==13.0.88.*, cudnn and cublas accept any version, and Poetry also locked
the newest). pip ANDs constraints, so it stops with ResolutionImpossible when it installs PyPI's CUDA build of
torch there. For each such pair this script keeps the version that every dependent in poetry.lock accepts and
narrows the other line's marker to the platforms where the kept line does not apply: every locked version is
still listed, and no platform gets two. It stops with an explanation when it cannot decide.

Run through ``.ci/relock`` (needs .venv for ``packaging``).
"""

from __future__ import annotations

import itertools
import json
import sys
import tomllib
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / ".ci" / "constraints.txt"
TESTED = ROOT / "cola_workshop" / "tested_versions.json"
# The libraries whose versions the workshop reports (settings cell, doctor) and README names.
REPORTED = ("torch", "transformers", "tokenizers", "datasets", "evaluate", "accelerate", "huggingface-hub", "nbval")
HEADER = (
    "# Generated from poetry.lock by .ci/relock (poetry export + .ci/export_constraints.py): do not edit by hand.\n"
    "# Used by README's setup command: pip install -e . -c .ci/constraints.txt\n"
)
_PLATFORMS = {  # (sys_platform, platform_system, os_name, machines)
    "linux": ("linux", "Linux", "posix", ("x86_64", "aarch64")),
    "darwin": ("darwin", "Darwin", "posix", ("arm64", "x86_64")),
    "win32": ("win32", "Windows", "nt", ("AMD64", "ARM64")),
}
ALWAYS = 'python_version >= "3"'  # the marker of a line without one
_NEGATED_OP = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">", "in": "not in", "not in": "in"}


def environments(python_versions: str) -> list[dict]:
    """Marker environments of the platforms the workshop supports, for every Python minor the lock allows."""
    allowed = SpecifierSet(python_versions)
    minors = [f"3.{minor}" for minor in range(8, 20) if f"3.{minor}.0" in allowed]
    result = []
    for (sys_platform, system, os_name, machines), minor in itertools.product(_PLATFORMS.values(), minors):
        for machine in machines:
            result.append(dict(
                sys_platform=sys_platform, platform_system=system, os_name=os_name, platform_machine=machine,
                python_version=minor, python_full_version=f"{minor}.0", implementation_name="cpython",
                platform_python_implementation="CPython", platform_release="", platform_version="", extra="",
            ))
    return result


def _render(node, negate: bool) -> str:
    """A marker (packaging's parsed form) as text, optionally negated with De Morgan's laws."""
    if isinstance(node, tuple):
        left, op, right = node
        text_op = _NEGATED_OP.get(op.value) if negate else op.value
        if text_op is None:
            raise SystemExit(f"export_constraints: cannot negate the marker operator {op.value!r}: resolve by hand")
        value = lambda item: item.value if type(item).__name__ == "Variable" else json.dumps(item.value)
        return f"{value(left)} {text_op} {value(right)}"
    # A list: terms joined by 'and'/'or', where 'and' binds tighter; group the 'and' runs first.
    groups, current = [], []
    for item in node:
        if item == "or":
            groups.append(current)
            current = []
        elif item != "and":
            current.append(_render(item, negate))
    groups.append(current)
    inner, outer = (" or ", " and ") if negate else (" and ", " or ")
    return "(" + outer.join("(" + inner.join(group) + ")" for group in groups) + ")"


def negate(marker: str) -> str:
    return _render(Marker(marker)._markers, negate=True)


def _dependent_specifiers(lock: dict, name: str) -> list[SpecifierSet]:
    """What every locked package requires of ``name`` (Poetry writes '*' and bare versions, too)."""
    result = []
    for package in lock["package"]:
        for dependency, constraint in package.get("dependencies", {}).items():
            if canonicalize_name(dependency) != name:
                continue
            for entry in constraint if isinstance(constraint, list) else [constraint]:
                text = (entry if isinstance(entry, str) else entry.get("version", "*")).strip()
                text = "" if text == "*" else f"=={text}" if text[:1].isdigit() else text
                result.append(SpecifierSet(text))
    return result


def _winner(lock: dict, name: str, versions: list[str]) -> str:
    specifiers = _dependent_specifiers(lock, name)
    accepted = [v for v in versions if all(spec.contains(v, prereleases=True) for spec in specifiers)]
    if len(accepted) != 1:
        raise SystemExit(
            f"export_constraints: poetry.lock pins {name} at {', '.join(versions)} on the same platform and "
            f"{len(accepted)} of them satisfy every dependent: resolve the lock by hand (e.g. pin {name} in pyproject)"
        )
    return accepted[0]


def _pinned(requirement: Requirement) -> str:
    (specifier,) = requirement.specifier
    return specifier.version


def _overlap(markers: list[str], envs: list[dict]) -> bool:
    return any(sum(Marker(marker).evaluate(env) for marker in markers) > 1 for env in envs)


def resolve_overlaps(lines: list[str], lock: dict) -> list[str]:
    """The export's lines, with any package that two lines pin on one platform narrowed as the module says."""
    envs = environments(lock["metadata"]["python-versions"])
    requirements = [Requirement(line) for line in lines]
    markers = [str(r.marker) if r.marker else ALWAYS for r in requirements]
    names = [canonicalize_name(r.name) for r in requirements]
    for name in dict.fromkeys(names):
        group = [i for i, other in enumerate(names) if other == name]
        if len(group) < 2 or not _overlap([markers[i] for i in group], envs):
            continue
        versions = [_pinned(requirements[i]) for i in group]
        keep = group[versions.index(_winner(lock, name, versions))]
        for i in group:
            if i != keep:
                markers[i] = f"({markers[i]}) and {negate(markers[keep])}"
                lines[i] = f"{requirements[i].name}=={versions[group.index(i)]} ; {markers[i]}"
                print(f"export_constraints: {lines[i].split(' ;')[0]} narrowed to where "
                      f"{name}=={_pinned(requirements[keep])} does not apply", file=sys.stderr)
        if _overlap([markers[i] for i in group], envs):  # the promise of this script, checked
            raise SystemExit(f"export_constraints: {name} is still pinned twice on one platform: resolve by hand")
    return lines


def tested_versions(lock: dict) -> dict:
    locked = {}
    for package in lock["package"]:
        locked.setdefault(canonicalize_name(package["name"]), []).append(package["version"])
    missing = [name for name in REPORTED if name not in locked]
    if missing:
        raise SystemExit(f"export_constraints: {', '.join(missing)} not in poetry.lock: update REPORTED")
    return {
        "about": "Generated from poetry.lock by .ci/relock: the versions the workshop was tested with.",
        "python": lock["metadata"]["python-versions"],
        "packages": {name: sorted(locked[name], key=Version) for name in REPORTED},
    }


def main() -> int:
    lock = tomllib.loads((ROOT / "poetry.lock").read_text())
    lines = [line.strip() for line in sys.stdin.read().splitlines() if line.strip() and not line.startswith("#")]
    if not lines:
        raise SystemExit("export_constraints: nothing on stdin: run it through .ci/relock")
    CONSTRAINTS.write_text(HEADER + "\n".join(resolve_overlaps(lines, lock)) + "\n")
    TESTED.write_text(json.dumps(tested_versions(lock), indent=2) + "\n")
    print(f"wrote {CONSTRAINTS.relative_to(ROOT)} and {TESTED.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
