"""Reading a submission's files through the sandboxed intake worker.

The grader's process only looks at a file's size and kind (`os.lstat`) and
copies its bytes into a worker job; decoding, notebook JSON and `ast.parse` run
in the worker (worker/task.py) under `INTAKE_LIMITS`, and what comes back is
validated as its typed result (`IntakeResult`: `FileAnalysis` records).  One job reads the whole
submission; when it fails (a parser bomb that crashed or hung the worker), each
file is read again in a job of its own, so the file that caused it becomes one
finding and the others are graded.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from ..records import Finding, RunError, display_path
from ..sandbox.limits import Limits
from ..sandbox.runner import Runner
from ..sandbox.wire import decode_result
from ..text import Message, msg, verbatim
from .records import FileAnalysis, suffix_of
from .worker.task import TASK, IntakeParams, IntakeResult

INTAKE_LIMITS = Limits(timeout_s=30.0, cpu_s=30, memory_mb=3072, file_size_mb=64)
"""Bounds of one intake worker run: what a parser bomb can cost."""
MAX_FILE_BYTES = {".ipynb": 256 << 20, ".py": 16 << 20, ".md": 16 << 20}
"""Larger files are not read at all (a notebook may carry big outputs; source files never need 16 MiB)."""
MAX_CODE_FILES = 200
"""Code files read per submission, the shallowest first; the rest are left out with one finding (a hand-in has a
handful: 20,000 files would otherwise be opened at once and cost a worker each time)."""
_MAPPED_BYTES = 1 << 20
"""Files at least this large are mapped into the job rather than read; each mapping holds a descriptor open."""
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
    paths, left_out = _bounded(paths, root)
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
    return [analyses[display_path(p, root)] for p in paths] + _too_many(left_out, root)


def _bounded(paths: list[Path], root: Path) -> tuple[list[Path], list[Path]]:
    """The first `MAX_CODE_FILES` of `paths` by depth then name (in their order), and the ones left out."""
    if len(paths) <= MAX_CODE_FILES:
        return paths, []
    kept = set(sorted(paths, key=lambda p: (len(p.relative_to(root).parts) if p.is_relative_to(root) else 0, str(p)))[:MAX_CODE_FILES])
    return [p for p in paths if p in kept], [p for p in paths if p not in kept]


def _too_many(left_out: list[Path], root: Path) -> list[FileAnalysis]:
    """One finding for every code file left out by `_bounded`, on the first of them."""
    if not left_out:
        return []
    first = _printable(display_path(left_out[0], root))
    reason = msg("intake.too_many_files", count=len(left_out) - 1, limit=MAX_CODE_FILES)
    return [_left_out(first, reason)]

def _printable(name: str) -> str:
    """`name` with undecodable bytes (kept by Python as surrogates) shown as U+FFFD, so reports can encode it."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _refusal(file: _File, root: Path) -> Message | None:
    """Why the file is not even handed to the worker, or None."""
    if file.name != _printable(file.name):
        return msg("intake.name_not_utf8")
    try:
        if os.path.islink(file.path) and not _inside(file.path, root):
            return msg("intake.link_outside")
        info = os.stat(file.path)
    except OSError as exc:
        return msg("intake.cannot_read", error=verbatim(exc.strerror or type(exc).__name__))
    if not stat.S_ISREG(info.st_mode):
        return msg("intake.not_regular")
    limit = MAX_FILE_BYTES.get(suffix_of(file.name), MAX_FILE_BYTES[".py"])
    if info.st_size > limit:
        return msg("intake.too_big", size=info.st_size / _MIB, limit=limit // _MIB, suffix=suffix_of(file.name))
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
    job = TASK.job((), IntakeParams(files=tuple(f.name for f in files)))
    arrays = {f"f{i}": _bytes_of(f.path) for i, f in enumerate(files)}
    result = runner.run(job, arrays, INTAKE_LIMITS, phase="intake")
    if result.error is not None:
        return result.error
    try:
        analyses = list(decode_result(IntakeResult, result.report, result.arrays).files)
    except ValidationError:
        analyses = []
    if not analyses or [a.file for a in analyses] != [f.name for f in files[: len(analyses)]]:
        return RunError("tampered", "intake", msg("intake.tampered_reply"))
    return analyses


def _bytes_of(path: Path) -> np.ndarray:
    """The file's bytes as a uint8 array, mapped rather than read: savez streams it into the job."""
    size = os.stat(path).st_size
    if size == 0:
        return np.zeros(0, dtype=np.uint8)
    if size < _MAPPED_BYTES:  # read now: a mapping would keep a descriptor open until the job is written
        with open(path, "rb") as fh:
            return np.frombuffer(fh.read(MAX_FILE_BYTES[".ipynb"]), dtype=np.uint8)
    return np.memmap(path, dtype=np.uint8, mode="r")


def _failed(file: str, error: RunError) -> dict[str, FileAnalysis]:
    if error.kind == "timeout":
        what = msg("intake.read_timeout", seconds=INTAKE_LIMITS.timeout_s)
    elif error.kind == "memory":
        what = msg("intake.read_memory", mib=INTAKE_LIMITS.memory_mb)
    elif error.kind == "tampered":
        what = msg("intake.read_malformed")
    else:
        what = msg("intake.read_stopped", how=_how_it_stopped(error))
    return {file: _left_out(file, msg("intake.read_failed", what=what))}


def _how_it_stopped(error: RunError) -> str | Message:
    """'SIGSEGV', 'status 1', ...: the worker's own wording talks about running student code, which intake never does."""
    args = error.message.args
    if isinstance(args.get("signal"), str):
        return str(args["signal"])
    if isinstance(args.get("status"), int):
        return msg("intake.exit_status", status=args["status"])
    return error.kind


def _left_out(file: str, reason: Message) -> FileAnalysis:
    message = msg("intake.left_out", file=file, reason=reason)
    return FileAnalysis(file=file, findings=(Finding(severity="error", file=file, message=message),))
