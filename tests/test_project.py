"""Project hygiene: the lock matches pyproject.toml, no committed file names a registry host, CI runs README's commands."""

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
    for title in ("Set up", "Test"):
        command = _readme_block(title)
        assert command in ci, f"`.ci/run` must run README's {title.lower()} command: {command}"
