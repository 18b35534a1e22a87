"""grader/atomic.py: a file is replaced whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.atomic import atomic_write


def test_a_clean_write_replaces_the_file_shared_readable(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old", encoding="utf-8")
    with atomic_write(target) as temp:
        temp.write_text("new", encoding="utf-8")
        assert target.read_text(encoding="utf-8") == "old"  # nobody sees the new content before the rename
    assert target.read_text(encoding="utf-8") == "new" and target.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_an_exception_keeps_the_old_file_and_leaves_no_temporary_one(tmp_path: Path) -> None:
    target = tmp_path / "gradebook.xlsx"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError), atomic_write(target) as temp:
        temp.write_text("half", encoding="utf-8")
        raise RuntimeError("disk full")
    assert target.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gradebook.xlsx"]
