"""Intake: find a student's code and decide what will be graded.

    load_submission(path) -> Submission

A submission is a folder (any mix of .py, .ipynb and .md files, searched
recursively) or one such file.  Only top-level imports, classes, functions and
constants are kept (`extract`); per part, the file that fits this homework is
chosen (`select`).  Anything the student got wrong becomes a `Finding`; only a
path that does not exist or holds no code at all raises `UsageError`.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import UsageError
from ..models import Submission
from .extract import CODE_SUFFIXES, extract_file, find_code_files
from .select import select_parts

__all__ = ["load_submission"]

# "2151131_report.md", "2151131-朱沙桐-作业.md": the student number leads the name.
_NUMBERED_STEM = re.compile(r"^(\d{5,})(?:[_\-\s.]|$)")
_SUFFIXES_TEXT = ", ".join(CODE_SUFFIXES)


def load_submission(path: Path, *, student: str | None = None) -> Submission:
    """Read a submission and choose the code to grade for each part.

    Args:
        path: the submission folder, or a single .py, .ipynb or .md file.
        student: the name to report; defaults to the folder name, or for a single
            file to its stem (its leading student number when it has one).

    Raises:
        UsageError: `path` does not exist or holds no .py, .ipynb or .md file.
    """
    path = Path(path)
    files = _code_files(path)
    root = path if path.is_dir() else path.parent
    codes = [extract_file(file, root) for file in files]
    selection = select_parts(codes, where=_name_of(path))
    return Submission(
        student=student or _default_student(path),
        path=str(path),
        files=tuple(code.file for code in codes),
        numpy_part=selection.numpy_part,
        framework_part=selection.framework_part,
        findings=(*(f for code in codes for f in code.findings), *selection.findings),
    )


def _code_files(path: Path) -> list[Path]:
    """The submission's code files; raises UsageError when there are none."""
    if not path.exists():
        fix = f"pass a student's submission folder or one {_SUFFIXES_TEXT} file"
        raise UsageError(f"{path}: no such file or folder; {fix}")
    files = find_code_files(path)
    if files:
        return files
    if path.is_file():
        fix = "pass the student's notebook, script or report (unpack archives first)"
        raise UsageError(f"{path}: not a {_SUFFIXES_TEXT} file; {fix}")
    fix = "pass the folder that holds the student's code"
    raise UsageError(f"{path}: no {_SUFFIXES_TEXT} file in this folder or below; {fix}")


def _default_student(path: Path) -> str:
    if path.is_dir():
        return _name_of(path)
    match = _NUMBERED_STEM.match(path.stem)
    return match.group(1) if match else path.stem


def _name_of(path: Path) -> str:
    # resolve() so that "." still names the folder.
    return path.name or path.resolve().name
