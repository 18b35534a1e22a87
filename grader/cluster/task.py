"""The Dask task: grade one student on a worker and answer with the report as JSON.

    grade_remote(request_json, submission_zip) -> TaskReply JSON

It unpacks the submission into a fresh temporary folder (cluster/payload.py),
grades it with the worker plugin's warm pool and MNIST exactly as
`batch.grade_one` grades a local student (same rubric, seed and check
selection), and returns the report as the strict JSON the gradebook stores.  It
never raises: a worker that cannot grade (no plugin, another grader version, a
rubric that does not match its hash) answers with `failure`, so the client never
unpickles an exception from a worker either.  Student code only ever runs in
the pool's sandbox, under the rubric's timeouts: an endless loop costs a
timeout there, not a stuck Dask task.
"""

from __future__ import annotations

import json
import tempfile
import time
import traceback
from pathlib import Path

from distributed import get_worker

from .. import __version__
from ..batch import grade_one, unreadable_report
from ..checks.training.judge import tensorflow_installed
from ..errors import GraderError, UsageError
from ..records import GradeReport
from ..text import msg, verbatim
from ..reports.json_ import strict_jsonable
from ..sandbox.pool import FRAMEWORK_MODULES
from ..settings import GradeSettings, MnistCache
from .payload import unpack_student
from .records import TaskReply, TaskRequest
from .worker import GraderPlugin, WorkerState

__all__ = ["grade_remote", "report_json"]

_TRACEBACK_CHARS = 2_000


def grade_remote(request_json: str, submission: bytes) -> str:
    """Grade one student on this Dask worker; a `TaskReply` as JSON (see the module docstring)."""
    worker = get_worker()
    try:
        request = TaskRequest.model_validate_json(request_json)
    except ValueError as exc:
        return TaskReply(student="", worker=worker.address, failure=f"malformed task request: {exc}").model_dump_json()
    try:
        report, seconds = _grade(request, submission, _state(request, worker.plugins.get(request.plugin)))
    except GraderError as exc:
        return _failure(request, worker.address, f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # noqa: BLE001 - a grader bug on the worker: the client records it, the batch goes on
        return _failure(request, worker.address, "".join(traceback.format_exception(exc))[-_TRACEBACK_CHARS:])
    return TaskReply(student=request.student, worker=worker.address, report=report_json(report),
                     seconds=seconds).model_dump_json()


def report_json(report: GradeReport) -> str:
    """The report exactly as `Gradebook.save` stores it: strict JSON, non-finite floats as strings."""
    return json.dumps(strict_jsonable(report.model_dump()), ensure_ascii=False, allow_nan=False)


def _state(request: TaskRequest, plugin: object) -> WorkerState:
    """The set-up plugin the request names, on a worker of the client's grader version.

    Raises:
        UsageError: the plugin is missing or failed, or this worker runs another grader version.
    """
    if request.grader_version != __version__:
        raise UsageError(f"this worker runs nn-grader {__version__}, the client {request.grader_version}; "
                         "install the client's version on every worker")
    if not isinstance(plugin, GraderPlugin):
        raise UsageError(f"the grader plugin {request.plugin} is not registered on this worker; run `grade` again")
    if plugin.state is None:
        raise UsageError(f"the grader plugin could not set up on this worker: {plugin.problem or 'still starting'}")
    return plugin.state


def _grade(request: TaskRequest, submission: bytes, state: WorkerState) -> tuple[GradeReport, float]:
    """Unpack, grade with the local path's own function, and warm the pool for the next student.

    Returns the report and the seconds `grade_one` took (the grading a local run would do too).
    """
    settings = GradeSettings(rubric=state.rubric(request), mnist=MnistCache(lambda: state.mnist), runner=state.runner,
                             seed=request.seed, self_check=request.self_check, only=request.only)
    with tempfile.TemporaryDirectory(prefix="nn-grader-task-") as tmp:
        try:
            folder = unpack_student(submission, Path(tmp), request.student, request.omitted)
        except UsageError as exc:
            message = msg("intake.not_gradable", error=verbatim(str(exc)))
            return unreadable_report(request.student, Path(tmp) / request.student, message, settings, failure="missing"), 0.0
        started = time.monotonic()
        report = grade_one(folder, settings, out=None, student=request.student)
        seconds = time.monotonic() - started
    _preload(state, report)
    return report, seconds


def _preload(state: WorkerState, report: GradeReport) -> None:
    """Idle framework templates import this student's framework in the background: the next may use it too."""
    framework = report.framework
    if framework is not None and (framework != "tensorflow" or tensorflow_installed()):
        state.runner.preload({FRAMEWORK_MODULES[framework]})


def _failure(request: TaskRequest, worker: str, failure: str) -> str:
    return TaskReply(student=request.student, worker=worker, failure=failure).model_dump_json()
