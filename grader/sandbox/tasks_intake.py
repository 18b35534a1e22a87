"""Worker task `intake`: decode, extract and parse a submission's files, inside the sandbox.

The host copies each file's bytes into the job (inputs `f0`, `f1`, ... for the
names in `IntakeParams.files`) and reads back one `FileAnalysis` per file, as JSON.
Student text is never executed here, only decoded, `json.loads`-ed (notebooks)
and `ast.parse`-d, under the worker's memory, CPU and wall-clock limits.

After the parser has run out of stack or memory on a file, CPython's AST state
is not trusted for the next one: the task stops after that file and the host
sends the remaining files to a fresh worker.
"""

from __future__ import annotations

import traceback

from ..intake.candidates import analyse_file
from ..intake.extract import extract_file
from ..intake.records import FileAnalysis
from ..records import Finding
from ..text import Message, msg, verbatim
from .protocol import IntakeParams
from .workspace import Workspace


def intake(ws: Workspace) -> None:
    """Analyse the job's files in order; values["files"] holds one FileAnalysis (as JSON) per file done."""
    done: list[object] = []
    for index, file in enumerate(ws.job.params_as(IntakeParams).files):
        analysis, exhausted = _analyse(file, ws.inputs[f"f{index}"].tobytes())
        done.append(analysis.model_dump(mode="json"))
        if exhausted:
            break
    ws.values["files"] = done


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
