"""Worker task `intake`: decode, extract and parse a submission's files, inside the sandbox.

The host copies each file's bytes into the job (inputs `f0`, `f1`, ... for the
names in `IntakeParams.files`) and reads back `IntakeResult`: one `FileAnalysis` per
file, the kept source included, in the JSON report (up to MAX_INTAKE_REPORT_BYTES).
Student text is never executed here, only decoded, `json.loads`-ed (notebooks)
and `ast.parse`-d, under the worker's memory, CPU and wall-clock limits.

After the parser has run out of stack or memory on a file, CPython's AST state
is not trusted for the next one: the task stops after that file and the host
sends the remaining files to a fresh worker.
"""

from __future__ import annotations

import traceback

from ...records import Finding
from ...sandbox.tasks import WorkerTask
from ...sandbox.wire import TaskParams, TaskResult
from ...sandbox.workspace import Workspace
from ...text import Message, msg, verbatim
from ..records import FileAnalysis
from .candidates import analyse_file
from .extract import extract_file

MAX_INTAKE_REPORT_BYTES = 64_000_000
"""An intake report carries the kept source of a whole submission (each file is at most 16 MiB)."""


class IntakeParams(TaskParams):
    """Analyse these files (their bytes are the job's inputs f0, f1, ...)."""

    files: tuple[str, ...]


class IntakeResult(TaskResult):
    """One analysis per file, in the job's order: all of them, or a prefix when the parser ran out of stack or memory."""

    files: tuple[FileAnalysis, ...]


def intake(ws: Workspace, params: IntakeParams) -> IntakeResult:
    """Analyse the job's files in order, stopping after a file that exhausted the parser."""
    done: list[FileAnalysis] = []
    for index, file in enumerate(params.files):
        analysis, exhausted = _analyse(file, ws.inputs[f"f{index}"].tobytes())
        done.append(analysis)
        if exhausted:
            break
    return IntakeResult(files=tuple(done))


def _analyse(file: str, data: bytes) -> tuple[FileAnalysis, bool]:
    """The file's analysis, and whether the parser ran out of stack or memory on it."""
    try:
        code = extract_file(file, data)
        return analyse_file(code), code.exhausted
    except (RecursionError, MemoryError) as exc:
        return _finding(file, msg("intake.too_deep", kind=type(exc).__name__)), True
    except Exception as exc:  # noqa: BLE001 - our bug on odd input: this file is left out, the others are read
        detail = traceback.format_exc(limit=-3).strip().splitlines()[-1]
        error = verbatim(f"{type(exc).__name__}: {exc}; {detail}")
        return _finding(file, msg("intake.internal_error", error=error)), False


def _finding(file: str, message: Message) -> FileAnalysis:
    return FileAnalysis(file=file, findings=(Finding(severity="error", file=file, message=message),))


TASK = WorkerTask("TASK", IntakeParams, IntakeResult, intake, phase="intake", module=__name__, max_report_bytes=MAX_INTAKE_REPORT_BYTES)
