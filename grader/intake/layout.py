"""How a path on disk is laid out: one submission, or a class folder of submissions."""

from __future__ import annotations

from pathlib import Path

from .files import CODE_SUFFIXES

__all__ = ["class_members", "is_class_folder"]


def is_class_folder(path: Path) -> bool:
    """A folder with sub-folders and no code files of its own is a class of submissions.

    A README beside the students' folders (staff notes) does not make it one submission.
    """
    if not path.is_dir():
        return False
    entries = [p for p in path.iterdir() if not p.name.startswith(".")]
    has_code = any(p.is_file() and p.suffix in CODE_SUFFIXES and not p.name.upper().startswith("README") for p in entries)
    return not has_code and any(p.is_dir() for p in entries)


NOT_SUBMISSIONS = frozenset({".git", ".hg", ".svn", ".ipynb_checkpoints", ".idea", ".vscode", ".venv", "__MACOSX", "__pycache__"})
"""Folders of a class folder that tools make, never a student's (a student named `.unpacked` is graded)."""


def class_members(folder: Path) -> list[Path]:
    """The submissions of a class folder: its sub-folders but tools' own (`NOT_SUBMISSIONS`), sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name not in NOT_SUBMISSIONS)
