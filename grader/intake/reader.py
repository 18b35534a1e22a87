"""Reading a submission's files through the sandboxed intake worker.

The grader's process only looks at a file's size and kind (`os.lstat`) and
copies its bytes into a worker job; decoding, notebook JSON and `ast.parse` run
in the worker (sandbox/tasks_intake.py) under `INTAKE_LIMITS`, and what comes
back is validated as `FileAnalysis` records.  One job reads the whole
submission; when it fails (a parser bomb that crashed or hung the worker), each
file is read again in a job of its own, so the file that caused it becomes one
finding and the others are graded.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import TypeAdapter, ValidationError

from ..models import Finding, RunError, display_path
from ..rubric import Limits
from ..sandbox.protocol import Job
from ..sandbox.runner import Runner
from .records import FileAnalysis, suffix_of

INTAKE_LIMITS = Limits(timeout_s=30.0, cpu_s=30, memory_mb=3072, file_size_mb=64)
"""Bounds of one intake worker run: what a parser bomb can cost."""
MAX_FILE_BYTES = {".ipynb": 256 << 20, ".py": 16 << 20, ".md": 16 << 20}
"""Larger files are not read at all (a notebook may carry big outputs; source files never need 16 MiB)."""
_ANALYSES = TypeAdapter(list[FileAnalysis])
_MIB = 1 << 20


@dataclass(frozen=True)
class _File:
    name: str
    """Path relative to the submission, as reports show it."""
    path: Path


def read_files(paths: list[Path], root: Path, runner: Runner) -> list[FileAnalysis]:
    """One analysis per file, in order: what it offers for grading, or why it was left out.

    Args:
        paths: the submission's code files.
        root: the submission folder; names are relative to it.
        runner: the sandbox runner the intake worker runs in.
    """
    analyses: dict[str, FileAnalysis] = {}
    todo: list[_File] = []
    for path in paths:
        file = _File(display_path(path, root), path)
        refusal = _refusal(file, root)
        if refusal is None:
            todo.append(file)
        else:
            analyses[file.name] = _left_out(_printable(file.name), refusal)
    analyses.update(_read_all(todo, runner))
    return [analyses[display_path(p, root)] for p in paths]


def _printable(name: str) -> str:
    """`name` with undecodable bytes (kept by Python as surrogates) shown as U+FFFD, so reports can encode it."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _refusal(file: _File, root: Path) -> str | None:
    """Why the file is not even handed to the worker, or None."""
    if file.name != _printable(file.name):
        return "its name is not valid UTF-8; rename it (letters, digits, '_' and '.') and hand it in again"
    try:
        if os.path.islink(file.path) and not _inside(file.path, root):
            return "it is a link to a file outside the submission, which the grader does not follow; hand in the file itself"
        info = os.stat(file.path)
    except OSError as exc:
        return f"could not read the file ({exc.strerror}); check that it is readable and hand it in again"
    if not stat.S_ISREG(info.st_mode):
        return "it is not a regular file; hand in the notebook or script itself"
    limit = MAX_FILE_BYTES.get(suffix_of(file.name), MAX_FILE_BYTES[".py"])
    if info.st_size > limit:
        size = info.st_size / _MIB
        return (f"it is {size:.1f} MiB, over the {limit // _MIB} MiB the grader reads for a {suffix_of(file.name)} file; "
                "clear the notebook's outputs or remove pasted data, and hand it in again")
    return None


def _inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a link loop
        return False


def _read_all(files: list[_File], runner: Runner) -> dict[str, FileAnalysis]:
    """Analyses of `files`: one job for all, again per file where that job failed."""
    done: dict[str, FileAnalysis] = {}
    todo = list(files)
    while todo:
        reply = _run(todo, runner)
        if isinstance(reply, RunError):
            failed = [_failed(todo[0].name, reply)] if len(todo) == 1 else [_read_alone(f, runner) for f in todo]
            return done | {k: v for d in failed for k, v in d.items()}
        done.update((a.file, a) for a in reply)
        todo = todo[len(reply):]  # the worker stops early after a parser bomb: the rest go to a fresh one
    return done


def _read_alone(file: _File, runner: Runner) -> dict[str, FileAnalysis]:
    reply = _run([file], runner)
    return _failed(file.name, reply) if isinstance(reply, RunError) else {a.file: a for a in reply}


def _run(files: list[_File], runner: Runner) -> list[FileAnalysis] | RunError:
    """Read `files` in one intake worker: the analyses of a non-empty prefix of them, or why none came back."""
    job = Job(task="intake", units=(), params={"files": [f.name for f in files]})
    arrays = {f"f{i}": _bytes_of(f.path) for i, f in enumerate(files)}
    result = runner.run(job, arrays, INTAKE_LIMITS, phase="intake")
    if result.error is not None:
        return result.error
    try:
        analyses = _ANALYSES.validate_python(result.values.get("files"))
    except ValidationError:
        analyses = []
    if not analyses or [a.file for a in analyses] != [f.name for f in files[: len(analyses)]]:
        return RunError("tampered", "intake", "tampered: the intake worker's answer was malformed")
    return analyses


def _bytes_of(path: Path) -> np.ndarray:
    """The file's bytes as a uint8 array, mapped rather than read: savez streams it into the job."""
    if os.stat(path).st_size == 0:
        return np.zeros(0, dtype=np.uint8)
    return np.memmap(path, dtype=np.uint8, mode="r")


def _failed(file: str, error: RunError) -> dict[str, FileAnalysis]:
    what = {
        "timeout": f"reading it took longer than {INTAKE_LIMITS.timeout_s:g} s",
        "memory": f"reading it needed more than {INTAKE_LIMITS.memory_mb} MiB of memory",
        "tampered": "the grader's reader returned malformed data about it",
    }.get(error.kind, f"the process reading it stopped ({_how_it_stopped(error)})")
    reason = f"{what}: it is far too big or too deeply nested; clear its outputs or split long expressions"
    return {file: _left_out(file, reason)}


def _how_it_stopped(error: RunError) -> str:
    """'SIGSEGV', 'exit status 1', ...: the worker's own wording talks about running student code, which intake never does."""
    found = re.search(r"\bSIG[A-Z]+\b|status -?\d+", error.message)
    return found.group(0) if found else error.kind


def _left_out(file: str, reason: str) -> FileAnalysis:
    message = f"{file} was left out: {reason}; the other files are still graded"
    return FileAnalysis(file=file, findings=(Finding(severity="error", file=file, message=message),))
