"""Worker tasks: what a stage asks its worker to run, found by reference so the sandbox imports no stage.

A stage (a check package, the intake, similarity) defines each of its worker functions as a
`WorkerTask` at module level:

    SOFTMAX_STABILITY = WorkerTask("softmax_stability", SoftmaxStabilityParams, SoftmaxStabilityResult,
                                   softmax_stability, phase="forward", module=__name__)

and hands `task.ref` (module and attribute name) to the runner inside the job.  The worker
imports that module and runs the task: the host wrote the reference, so no student input
chooses what is imported.  The sandbox itself names no stage.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, create_model

from ..records import SourceUnit
from ..vocabulary import Phase
from .wire import TaskParams, TaskResult

if TYPE_CHECKING:
    from .protocol import Job
    from .workspace import Workspace

P = TypeVar("P", bound=TaskParams)
R = TypeVar("R", bound=TaskResult)

MAX_REPORT_BYTES = 2_000_000
"""The largest report a worker may send, unless its task allows more."""


class TaskRef(BaseModel):
    """Where a worker finds its task: `getattr(import_module(module), name)` is a WorkerTask."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    module: str
    name: str


@dataclass(frozen=True)
class WorkerTask(Generic[P, R]):
    """One worker function with its typed parameters and result."""

    name: str
    """The module attribute that holds this task (its `ref.name`)."""
    params: type[P]
    result: type[R]
    run: Callable[[Workspace, P], R]
    """Computes the result from the student's loaded code."""
    phase: Phase
    """The phase a failure outside any student call is labelled with (a crash in the probe is 'forward')."""
    module: str
    max_report_bytes: int = MAX_REPORT_BYTES

    @property
    def ref(self) -> TaskRef:
        """This task's reference, for the job."""
        return TaskRef(module=self.module, name=self.name)

    def job(self, units: tuple[SourceUnit, ...], params: P, supplied_imports: tuple[str, ...] = ()) -> Job:
        """A job that runs this task on `units`."""
        from .protocol import Job

        return Job(units=units, supplied_imports=supplied_imports, task=self.ref, params=params)

    def job_model(self) -> type[Job]:
        """The Job model whose params are this task's: the worker validates job.json with it."""
        return _job_model(self.params)


_JOB_MODELS: dict[type[TaskParams], type[Job]] = {}


def _job_model(params: type[TaskParams]) -> type[Job]:
    from .protocol import Job

    if params not in _JOB_MODELS:
        _JOB_MODELS[params] = create_model(f"Job[{params.__name__}]", __base__=Job, params=(params, ...))
    return _JOB_MODELS[params]


def find(ref: TaskRef) -> WorkerTask[TaskParams, TaskResult]:
    """The task `ref` names; a reference to anything else is a grader bug (the host wrote it)."""
    task = getattr(importlib.import_module(ref.module), ref.name, None)
    if not isinstance(task, WorkerTask):
        raise LookupError(f"{ref.module}.{ref.name} is not a WorkerTask: define it there with WorkerTask(...)")
    return task
