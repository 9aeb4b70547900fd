"""Project hygiene: the lock matches pyproject.toml and .ci/constraints.txt, installs are the locked versions,
no committed file names a registry host, CI runs README's commands."""

import hashlib
import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _lock():
    return tomllib.loads((ROOT / "poetry.lock").read_text())


def poetry_content_hash(pyproject: dict) -> str:
    """The hash Poetry 2 stores in poetry.lock (poetry.packages.locker.Locker._get_content_hash)."""
    project = {k: pyproject.get("project", {})[k] for k in ("requires-python", "dependencies", "optional-dependencies")
               if k in pyproject.get("project", {})}
    groups = pyproject.get("dependency-groups", {})
    poetry = pyproject.get("tool", {}).get("poetry", {})
    legacy = ("dependencies", "source", "extras", "dev-dependencies")
    relevant_poetry = {}
    for key in (*legacy, "group"):
        if poetry.get(key) is None and (key not in legacy or project or groups):
            continue
        relevant_poetry[key] = poetry.get(key)
    content = {}
    if project:
        content["project"] = project
    if groups:
        content["dependency-groups"] = groups
    content = {**content, "tool": {"poetry": relevant_poetry}} if content else relevant_poetry
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def test_lock_is_in_sync_with_pyproject():
    assert _lock()["metadata"]["content-hash"] == poetry_content_hash(_pyproject()), (
        "poetry.lock is out of date: run `poetry lock` after editing pyproject.toml"
    )


def test_every_dependency_is_locked_at_an_allowed_version():
    locked = {canonicalize_name(p["name"]): p["version"] for p in _lock()["package"]}
    for text in _pyproject()["project"]["dependencies"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not in poetry.lock"
        assert requirement.specifier.contains(locked[name], prereleases=True), f"{name} {locked[name]} violates {text}"


def test_locked_files_carry_hashes_and_no_source_urls():
    for package in _lock()["package"]:
        assert "source" not in package, f"{package['name']} names a package source"
        assert package["files"], f"{package['name']} lists no files"
        assert all(entry["hash"].startswith("sha256:") for entry in package["files"])


def _tracked_files():
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / name for name in out.splitlines()]


def test_no_committed_text_names_a_registry_host_or_machine_path():
    pattern = re.compile(r"(pypi\.org|files\.pythonhosted|download\.pytorch\.org|/opt/wheels|/opt/pypi|file:///)")
    for path in _tracked_files():
        if path.suffix in {".safetensors", ".png"} or not path.is_file():
            continue
        text = path.read_text(errors="ignore")
        if path.name == "test_project.py":
            continue
        assert not pattern.search(text), f"{path.relative_to(ROOT)} names a registry host or a local path"


def _readme_block(title: str) -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(rf"{re.escape(title)}.*?```(?:bash|sh)?\n(.*?)```", readme, re.S)
    assert match, f"README.md has no code block after {title!r}"
    return match.group(1).strip()


def test_ci_runs_exactly_the_readme_setup_and_test_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    for title in ("Set up", "Test", "The real-weights lane"):
        command = _readme_block(title)
        assert command in ci, f"`.ci/run` must run README's {title.lower()} command: {command}"


# --------------------------------------------------------------------------------------------------
# One source of versions: poetry.lock, exported for pip to .ci/constraints.txt by .ci/relock
# --------------------------------------------------------------------------------------------------

CONSTRAINTS = ROOT / ".ci" / "constraints.txt"
RELOCK_FIX = "poetry.lock and .ci/constraints.txt disagree: run .ci/relock --export-only (CONTRIBUTING.md: Upgrading dependencies)"
KEY_PACKAGES = ("torch", "transformers", "datasets", "evaluate", "accelerate", "nbval")


def _constraints():
    """(name, version, marker or None) for every line of .ci/constraints.txt."""
    result = []
    for line in CONSTRAINTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", f"{line}: a constraint must pin one version"
            result.append((canonicalize_name(requirement.name), specifier.version, requirement.marker))
    return result


def _locked_pairs():
    return {(canonicalize_name(p["name"]), p["version"]) for p in _lock()["package"]}


def _export_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("export_constraints", ROOT / ".ci" / "export_constraints.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _platforms():
    """Marker environments of the supported platforms, for each Python minor the lock allows: the export script's
    own list (one home), so the test checks exactly the platforms the export narrowed for."""
    return _export_script().environments(_lock()["metadata"]["python-versions"])


def test_every_locked_version_is_a_constraint():
    exported = {(name, version) for name, version, _ in _constraints()}
    missing = sorted(_locked_pairs() - exported)
    assert not missing, f"{RELOCK_FIX}; locked but not exported: {missing[:5]}"


def test_every_constraint_is_a_locked_version():
    extra = sorted({(name, version) for name, version, _ in _constraints()} - _locked_pairs())
    assert not extra, f"{RELOCK_FIX}; exported but not locked: {extra[:5]}"


def test_no_platform_gets_two_versions_of_a_package():
    """pip ANDs constraints: two pins of one package on one platform make it give up (README, Set up)."""
    lines = _constraints()
    for env in _platforms():
        active = [name for name, _, marker in lines if marker is None or marker.evaluate(env)]
        twice = sorted({name for name in active if active.count(name) > 1})
        where = f"{env['sys_platform']} {env['platform_machine']} Python {env['python_version']}"
        assert not twice, f"{twice} pinned twice on {where}: .ci/export_constraints.py should have narrowed them"


def test_marker_negation_of_the_export_script():
    from packaging.markers import Marker

    module = _export_script()
    markers = [
        'python_version >= "3.11" and python_version < "3.13"',
        'sys_platform == "linux" and (platform_machine == "aarch64" or platform_machine == "x86_64") or os_name == "nt"',
        'platform_system == "Linux" and platform_machine != "x86_64" or python_version == "3.13" and os_name == "posix"',
        'platform_machine not in "arm64 aarch64" and (python_version <= "3.11" or python_version > "3.12")',
        'platform_machine in "x86_64 AMD64" and python_version > "3.11"',
    ]
    for text in markers:
        marker, negated = Marker(text), Marker(module.negate(text))
        for env in _platforms():
            assert negated.evaluate(env) is not marker.evaluate(env), f"negate({text!r}) is wrong for {env}"


def test_tested_versions_shipped_in_the_package_are_the_locked_ones():
    tested = json.loads((ROOT / "cola_workshop" / "tested_versions.json").read_text())
    locked = {}
    for package in _lock()["package"]:
        locked.setdefault(canonicalize_name(package["name"]), set()).add(package["version"])
    assert tested["python"] == _lock()["metadata"]["python-versions"], RELOCK_FIX
    assert set(KEY_PACKAGES) <= set(tested["packages"])
    for name, versions in tested["packages"].items():
        assert set(versions) == locked[name], f"tested_versions.json: {name} {versions} is not locked: {RELOCK_FIX}"


def test_installed_versions_are_the_locked_ones():
    """README's setup command installs exactly the locked versions (checked in the environment running the tests)."""
    import os
    from importlib import metadata

    from packaging.version import Version

    if os.environ.get("WORKSHOP_NEWEST") == "1":
        pytest.skip("WORKSHOP_NEWEST=1: installed without .ci/constraints.txt, on purpose the newest allowed versions")
    installed = {canonicalize_name(d.metadata["Name"]): Version(d.version).public for d in metadata.distributions()}
    applicable = {name: version for name, version, marker in _constraints() if marker is None or marker.evaluate()}
    for name in KEY_PACKAGES:
        assert name in installed, f"{name} is not installed: run README's setup command"
    wrong = {name: (installed[name], version) for name, version in applicable.items()
             if name in installed and installed[name] != version}
    assert not wrong, (
        f"installed (found, locked) versions differ: {wrong}: run README's setup command "
        "(.venv/bin/python -m pip install -e . -c .ci/constraints.txt)"
    )


def test_readme_setup_installs_the_locked_versions_and_names_them():
    assert "-c .ci/constraints.txt" in _readme_block("Set up"), "README's setup must install with .ci/constraints.txt"
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"The committed notebooks were executed with (.*?)\.\n", readme, re.S)
    assert match, "README must say which versions the committed notebooks were executed with"
    stated = dict(re.findall(r"\b([a-z][\w-]*) (\d+(?:\.\d+)+)", match.group(1)))
    locked = {name: version for name, version in _locked_pairs()}
    for name in KEY_PACKAGES:
        assert stated.get(name) == locked[name], f"README states {name} {stated.get(name)}, the lock has {locked[name]}"
