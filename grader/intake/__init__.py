"""Intake: find a student's code and decide what will be graded.

    load_submission(path, runner=...) -> Submission

A submission is a folder (any mix of .py, .ipynb and .md files, searched
recursively) or one such file.  The files are read, decoded and parsed in a
sandboxed intake worker (reader.py -> worker/task.py), which keeps only
top-level imports, classes, functions and constants (`extract`) and says what
each file offers (`candidates`); per part, the file that fits this homework is
chosen here (`select`).  Anything the student got wrong, including a file that
cannot be read or parsed at all, becomes a `Finding`; only a path that does not
exist or holds no code file at all raises `UsageError`.
"""

from __future__ import annotations

import atexit
import re
import threading
from pathlib import Path

from ..errors import UsageError
from ..records import Submission
from ..sandbox.runner import Runner
from .files import CODE_SUFFIXES, find_code_files
from .reader import read_files
from .select import select_parts

__all__ = ["load_submission"]

# "2151131_report.md", "2151131-朱沙桐-作业.md": the student number leads the name.
_NUMBERED_STEM = re.compile(r"^(\d{5,})(?:[_\-\s.]|$)")
_SUFFIXES_TEXT = ", ".join(CODE_SUFFIXES)
_DEFAULT_RUNNER: list[Runner] = []
_DEFAULT_LOCK = threading.Lock()


def load_submission(path: Path, *, student: str | None = None, runner: Runner | None = None) -> Submission:
    """Read a submission and choose the code to grade for each part.

    Args:
        path: the submission folder, or a single .py, .ipynb or .md file.
        student: the name to report; defaults to the folder name, or for a single
            file to its stem (its leading student number when it has one).
        runner: where the intake worker runs; by default one warm sandboxed worker
            shared by this process (scripts and tests that read a submission).

    Raises:
        UsageError: `path` does not exist or holds no .py, .ipynb or .md file.
    """
    path = Path(path)
    files = _code_files(path)
    root = path if path.is_dir() else path.parent
    analyses = read_files(files, root, runner or _default_runner())
    selection = select_parts(analyses, where=_name_of(path))
    return Submission(
        student=student or _default_student(path),
        path=str(path),
        files=tuple(a.file for a in analyses),
        numpy_part=selection.numpy_part,
        framework_part=selection.framework_part,
        findings=(*(f for a in analyses for f in a.findings), *selection.findings),
        framework_absence=selection.framework_absence,
    )


def _default_runner() -> Runner:
    """One warm template for the process, started on first use and stopped at exit."""
    with _DEFAULT_LOCK:
        if not _DEFAULT_RUNNER:
            from ..sandbox.pool import WarmRunner

            runner = WarmRunner(1)
            atexit.register(runner.close)
            _DEFAULT_RUNNER.append(runner)
        return _DEFAULT_RUNNER[0]


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
