"""Worker side of the sandbox: `python -I -m grader.sandbox.child JOBDIR`.

Loads the student's definitions into a fresh namespace, runs one task, and
writes numeric arrays (.npz) into out/, then its report (JSON, with the arrays'
digest) as one line into the report pipe the host gave it (`GRADER_REPORT_FD`).
The report is sent last, so a report with the right token means the run
completed; the host reads only the pipe's first line, so nothing student code
writes afterwards (a thread still running, a child process) can change it.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import stat
import sys
import time
import traceback
from pathlib import Path
from typing import Callable

import numpy as np
from pydantic import BaseModel, ConfigDict

from ..records import Phase
from ..text import msg, verbatim
from .limits import drop_privileges
from .protocol import ARRAYS_FILE, INPUTS_FILE, JOB_FILE, OUT_DIR, REPORT_FILE, ChildError, ChildReport, Job
from .runner import REPORT_FD_ENV, open_dirs
from .tasks import TaskRef, find
from .wire import encode_result
from .workspace import StudentFailure, Workspace, load_code, place, safe_str, type_name

_SAVEZ: Callable[..., None] = np.savez
"""numpy's own savez, taken before any student code runs (student code may replace np.savez)."""


def _write_outputs(jobdir: Path, ws: Workspace, error: ChildError | None, report_fd: int) -> None:
    """The arrays into out/, then the report into the pipe `report_fd` (into out/ when run without one)."""
    out = jobdir / OUT_DIR
    arrays, error = encode_arrays(ws, error)
    try:
        _write_file(out, ARRAYS_FILE, arrays)
    except OSError as exc:  # student code replaced out/ or what is in it
        message = msg("sandbox.cannot_write_results", error=verbatim(safe_str(exc)))
        error = ChildError(kind="tampered", phase=_phase(ws.job), message=message)
    report = encode_report(ws, error, arrays)
    if report_fd < 0:
        _write_file(out, REPORT_FILE, report)
    else:
        _send(report_fd, report + b"\n")


def encode_arrays(ws: Workspace, error: ChildError | None) -> tuple[bytes, ChildError | None]:
    """The task's arrays as .npz bytes, and the run's error (the student's, when saving failed because of them)."""
    try:
        return _npz(ws.arrays), error
    except Exception as exc:  # noqa: BLE001 - say, student code replaced a numpy function that saving needs
        return b"", unexpected(ws, exc)


def encode_report(ws: Workspace, error: ChildError | None, arrays: bytes) -> bytes:
    """The report as the host reads it: JSON with the run's token and the digest of `arrays`.

    Raises whatever pydantic raises for a value the report cannot hold (a grader bug; see `main`).
    """
    return ChildReport(token=ws.job.token, result=ws.result, arrays_sha256=hashlib.sha256(arrays).hexdigest(),
                       worker_seconds=ws.worker_seconds, warnings=ws.warnings, error=error).model_dump_json().encode()


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    _SAVEZ(buffer, **arrays)
    return buffer.getvalue()


def _write_file(folder: Path, name: str, data: bytes) -> None:
    """folder/name replaced at once by a new file, never written through a link or FIFO student code left there
    (nor into a folder a link named `folder` points to)."""
    dir_fd = open_dirs(folder.parent, folder.name)
    try:
        tmp = f".{name}-{secrets.token_hex(8)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    finally:
        os.close(dir_fd)


def _send(fd: int, data: bytes) -> None:
    """All of `data` into the report pipe; nothing when student code closed or replaced that descriptor."""
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return
        os.set_blocking(fd, True)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError:  # the host is gone
        pass


def _report_fd() -> int:
    """The report pipe the host gave this worker; -1 when run by hand (the report then goes to out/)."""
    try:
        return int(os.environ.get(REPORT_FD_ENV, "-1"))
    except ValueError:
        return -1


def main(argv: list[str]) -> int:
    """Run the job in folder argv[1]; always try to leave a report behind."""
    jobdir = Path(argv[1])
    report_fd = _report_fd()  # read before student code can change the environment
    job = read_job((jobdir / JOB_FILE).read_text(encoding="utf-8"))
    with np.load(jobdir / INPUTS_FILE, allow_pickle=False) as data:
        inputs = {name: data[name] for name in data.files}
    ws, error = execute(job, inputs, before=drop_privileges)
    try:
        _write_outputs(jobdir, ws, error, report_fd)
    except Exception as exc:  # noqa: BLE001 - a value the report cannot hold: our bug, reported as ours
        ws.clear_result()
        _write_outputs(jobdir, ws, unexpected(ws, exc), report_fd)
    return 0


class _JobHead(BaseModel):
    """The one field of job.json read before the task's own Job model: which task it is."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    task: TaskRef


def read_job(text: str) -> Job:
    """job.json validated with the Job model of its task (whose params are that task's)."""
    return find(_JobHead.model_validate_json(text).task).job_model().model_validate_json(text)


def execute(job: Job, inputs: dict[str, np.ndarray], *, before: Callable[[], None] = lambda: None) -> tuple[Workspace, ChildError | None]:
    """Load the job's code into a fresh workspace and run its task: the workspace, and how the run failed (or None).

    `before` runs first, inside the same guard (the worker drops its privileges there); the in-process
    fake runner (fake.py) runs this very function without it.
    """
    ws = Workspace(job, inputs)
    error: ChildError | None = None
    start = time.monotonic()
    try:
        before()
        load_code(ws)
        ws.result, ws.arrays = encode_result(find(job.task).run(ws, job.params))
    except StudentFailure as failure:
        error = failure.error
    except Exception as exc:  # noqa: BLE001 - a grader bug must still leave a report, labelled as ours
        error = unexpected(ws, exc)
    ws.worker_seconds = round(time.monotonic() - start, 4)
    return ws, error


def _phase(job: Job) -> Phase:
    return find(job.task).phase


def unexpected(ws: Workspace, exc: Exception) -> ChildError:
    """An exception that escaped the task: the student's when it was raised in their code (say, a numpy
    function they replaced), else a grader bug, with its traceback for the report."""
    where = ws.student_location(exc)
    if where is not None:
        message = msg("sandbox.raised_while_used", type=verbatim(type_name(exc)), error=verbatim(safe_str(exc)), where=place(where))
        return ChildError(kind="exception", phase=_phase(ws.job), message=message, traceback=ws.student_traceback(exc),
                          location=where)
    message = msg("sandbox.internal_error", error=verbatim(f"{type_name(exc)}: {safe_str(exc)}"))
    return ChildError(kind="crash", phase=_phase(ws.job), message=message, traceback=traceback.format_exc()[-3000:])


def _exit(code: int) -> None:
    """End the worker now, as a forked one ends: no thread of student code runs on after the report (or keeps
    the process alive: interpreter shutdown would wait for every non-daemon thread)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - stderr may be over its file-size limit
            pass
    os._exit(code)


if __name__ == "__main__":
    _exit(main(sys.argv))
