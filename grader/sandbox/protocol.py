"""The data-only protocol between the grader and its worker process.

Files in the job folder:
    job.json      Job, written by the host
    inputs.npz    arrays the host generated (float64 inputs, MNIST images; for `intake`, the files' bytes)
    out/report.json   ChildReport: the worker sends it as one line through its report pipe
                      (runner.wait_for_report); the template or host writes this file from that
                      line once every student process is dead, so student code cannot rewrite it
    out/arrays.npz    arrays the worker computed (numeric dtypes only; its sha256 is in the report)
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, model_validator as _model_validator

from ..records import FailureKind, Location, Phase, SourceUnit
from .limits import Limits
from ..text import Message
from .tasks import MAX_REPORT_BYTES, TaskRef
from .wire import TaskParams, TaskResult

JOB_FILE = "job.json"
INPUTS_FILE = "inputs.npz"
OUT_DIR = "out"
REPORT_FILE = "report.json"
ARRAYS_FILE = "arrays.npz"


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)




ParamsT = TypeVar("ParamsT", bound=TaskParams)


class Job(_Msg):
    """One unit of work for a worker: which student code to load and what to run (`task`, with `params`)."""

    units: tuple[SourceUnit, ...] = Field(description="Student (or reference) definitions, executed in order.")
    supplied_imports: tuple[str, ...] = ()
    task: TaskRef = Field(description="The worker task to run (sandbox/tasks.py); the host chose it.")
    params: SerializeAsAny[TaskParams] = Field(description="The task's parameters (the worker validates them with its model).")
    token: str = Field("", description="Random per run; a report without it is not accepted.")

    @property
    def task_name(self) -> str:
        """The task's name, for labels and results."""
        return self.task.name

    def params_as(self, kind: type[ParamsT]) -> ParamsT:
        """The parameters as `kind`; a task called with another task's parameters is a grader bug."""
        assert isinstance(self.params, kind), f"task {self.task_name} got {type(self.params).__name__}"
        return self.params


# --------------------------------------------------------------------------- worker -> host


class ChildError(_Msg):
    """A failure the worker caught and described."""

    kind: FailureKind
    phase: Phase
    message: Message
    traceback: str = ""
    location: Location | None = None


class ChildReport(_Msg):
    """What the worker says about its run (arrays travel separately, in arrays.npz)."""

    token: str
    result: str = Field("", description="The task result's JSON (wire.encode_result); the host validates it with the task's model.")
    arrays_sha256: str = Field("", description="Digest of arrays.npz, checked before the arrays are read.")
    worker_seconds: float | None = Field(None, description="The worker's own run time.")
    warnings: list[str] = Field(default_factory=list)
    error: ChildError | None = None


# --------------------------------------------------------------------------- host <-> warm template (pool.py <-> forkserver.py)
# One JSON line each way; the host validates every reply, and one it cannot read counts as a dead template.


class PreloadRequest(_Msg):
    """Import these modules now (in the template, before any child forks)."""

    op: Literal["preload"] = "preload"
    modules: tuple[str, ...]


class RunRequest(_Msg):
    """Fork a child for the job in `jobdir` under `limits`."""

    op: Literal["run"] = "run"
    jobdir: str
    limits: Limits


TemplateRequest = Annotated[Union[PreloadRequest, RunRequest], Field(discriminator="op")]


class PreloadReply(_Msg):
    """Whether the preload worked (a broken install: each child then reports its own import error)."""

    ok: bool
    error: str = ""


class RunReply(_Msg):
    """How the child ended: subprocess's return code (negative for a signal) and whether it was killed at the timeout."""

    returncode: int
    timed_out: bool
    filled: tuple[str, str] | None = None
    """(bound, place) when the job left no room in its slot's tmpfs (scratch.filled), seen before the wipe."""
