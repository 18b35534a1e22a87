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

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..models import FailureKind, Phase, SourceUnit

Task = Literal["intake", "layer_gradient", "softmax_stability", "model_backward", "numpy_train", "framework_train", "framework_probe",
               "similarity_fingerprint"]

JOB_FILE = "job.json"
INPUTS_FILE = "inputs.npz"
OUT_DIR = "out"
REPORT_FILE = "report.json"
ARRAYS_FILE = "arrays.npz"
MAX_REPORT_BYTES = 2_000_000
MAX_INTAKE_REPORT_BYTES = 64_000_000
"""An intake report carries the kept source of a whole submission (each file is at most 16 MiB)."""


def max_report_bytes(task: str) -> int:
    """The largest report.json the host reads for a job of `task`."""
    return MAX_INTAKE_REPORT_BYTES if task == "intake" else MAX_REPORT_BYTES


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Job(_Msg):
    """One unit of work for a worker: which student code to load and what to run."""

    task: Task
    units: tuple[SourceUnit, ...] = Field(description="Student (or reference) definitions, executed in order.")
    supplied_imports: tuple[str, ...] = ()
    params: dict[str, Any] = Field(default_factory=dict, description="Task parameters: JSON numbers and strings.")
    token: str = Field("", description="Random per run; a report without it is not accepted.")


class ChildError(_Msg):
    """A failure the worker caught and described."""

    kind: FailureKind
    phase: Phase
    message: str
    traceback: str = ""


class ChildReport(_Msg):
    """What the worker says about its run (arrays travel separately)."""

    token: str
    values: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    error: ChildError | None = None
