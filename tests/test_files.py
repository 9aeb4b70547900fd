"""Tests for cola_workshop.files: a file or folder written whole or not at all, the previous one kept on failure."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from cola_workshop.files import atomic_file, atomic_folder, leftovers


def tree(folder: Path) -> dict:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_a_file_appears_only_when_written_whole(tmp_path):
    final = tmp_path / "new" / "result.json"
    with atomic_file(final) as partial:
        partial.write_text("{}")
        assert partial.parent == final.parent and partial.name.startswith(".result.json.partial-")
        assert not final.exists()
    assert final.read_text() == "{}"
    assert sorted(final.parent.iterdir()) == [final]


def test_a_failed_file_write_keeps_the_previous_file(tmp_path):
    final = tmp_path / "result.json"
    final.write_text("previous")
    with pytest.raises(OSError, match="No space"):
        with atomic_file(final) as partial:
            partial.write_text("half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert final.read_text() == "previous"
    assert leftovers(final) == []


def test_a_folder_replaces_the_previous_one_as_a_whole(tmp_path):
    final = tmp_path / "stage"
    final.mkdir()
    (final / "stale.txt").write_text("from before")
    with atomic_folder(final) as partial:
        assert partial.is_dir() and not any(partial.iterdir())
        (partial / "sub").mkdir()
        (partial / "sub" / "new.txt").write_text("new")
    assert tree(final) == {"sub/new.txt": b"new"}
    assert leftovers(final) == [] and sorted(tmp_path.iterdir()) == [final]


def test_a_failed_folder_write_keeps_the_previous_folder(tmp_path):
    final = tmp_path / "stage"
    final.mkdir()
    (final / "kept.txt").write_text("previous")
    with pytest.raises(RuntimeError):
        with atomic_folder(final) as partial:
            (partial / "kept.txt").write_text("half")
            raise RuntimeError("the writer failed")
    assert tree(final) == {"kept.txt": b"previous"}
    assert leftovers(final) == []


def test_a_failed_rename_puts_the_previous_folder_back(tmp_path, monkeypatch):
    final = tmp_path / "stage"
    final.mkdir()
    (final / "kept.txt").write_text("previous")
    real_rename = Path.rename

    def rename(self, target):
        if ".partial-" in self.name:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(OSError, match="cross-device"):
        with atomic_folder(final) as partial:
            (partial / "kept.txt").write_text("new")
    assert tree(final) == {"kept.txt": b"previous"}
    assert leftovers(final) == []


def test_leftovers_are_the_hidden_writes_of_that_name_only(tmp_path):
    final = tmp_path / "05_training"
    mine = [tmp_path / ".05_training.partial-12-abcdef01", tmp_path / ".05_training.old-12-cafebabe"]
    others = [tmp_path / ".05_training.checkpoints", tmp_path / ".05_training2.partial-1-abcdef01", tmp_path / "05_x"]
    for path in mine + others:
        path.mkdir()
    assert leftovers(final) == mine
    assert leftovers(tmp_path / "missing" / "stage") == []
