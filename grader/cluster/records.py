"""The records that cross between the grading client and its Dask workers, each as a JSON string.

Dask pickles task arguments and results; passing only `str` and `bytes` keeps
anything shaped by a student from being unpickled on the client.  Each side
validates what it receives with pydantic (`model_validate_json`).
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..sandbox.limits import Limits

__all__ = ["OmittedFile", "PluginConfig", "TaskReply", "TaskRequest", "WorkerStatus"]

_MAX_STAND_IN_BYTES = 1 << 40


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OmittedFile(_Record):
    """A code file the client sends as a note, because local intake would refuse it unread."""

    name: str = Field(description="Path relative to the student's folder, with '/'.")
    kind: Literal["link_outside", "not_regular", "oversize", "unreadable", "undecodable"]
    size: int = Field(0, ge=0, le=_MAX_STAND_IN_BYTES, description="For `oversize`: the file's size in bytes.")


class PluginConfig(_Record):
    """What a worker's grader plugin is set up with; equal configs share one plugin (and its warm pool)."""

    grader_version: str
    limits: Limits = Field(description="The rubric's [limits]: the templates' environment (threads) follows them.")
    mnist_digest: str = Field(description="`payload.mnist_digest` of the client's MNIST.")
    mnist_key: tuple[str, ...] = Field(description="Scheduler metadata key of the client's MNIST `.npz`, for workers without it.")
    mnist_source: str = Field(description="Where the client loaded MNIST from, for reports of workers graded with its copy.")

    @property
    def name(self) -> str:
        """The Dask plugin name: the same config registers once, whichever client asks."""
        return f"nn-grader-{self.grader_version}-{hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]}"


class TaskRequest(_Record):
    """One student's task; the submission itself travels beside it as zip bytes."""

    student: str
    plugin: str = Field(description="Name of the worker plugin (`PluginConfig.name`) whose pool and MNIST grade it.")
    grader_version: str = Field(description="The client's version; a worker with another refuses the task.")
    rubric_toml: str = Field(description="The rubric file's text, validated on the worker as `grade --rubric` would.")
    rubric_sha256: str = Field(description="SHA-256 of the rubric file's bytes; the worker checks the text against it.")
    rubric_path: str = Field(description="The rubric's path on the client (`LoadedRubric.path`).")
    seed: int
    only: tuple[str, ...] = ()
    self_check: bool = False
    omitted: tuple[OmittedFile, ...] = ()


class TaskReply(_Record):
    """What a task returns: the report, or why the worker could not grade at all."""

    student: str
    worker: str = Field(description="The Dask worker's address.")
    report: str | None = Field(None, description="The GradeReport as the gradebook stores it (strict JSON).")
    failure: str | None = Field(None, description="Set instead of `report` when the worker itself could not grade.")
    seconds: float = Field(0.0, description="Wall time of the grading itself on the worker (`batch.grade_one`).")


class WorkerStatus(_Record):
    """One worker's grader plugin, as the client checks it before sending work."""

    worker: str
    grader_version: str
    isolation: tuple[str, ...]
    pool_size: int
    mnist_source: str
    mnist_sent: bool = Field(False, description="Whether it grades with the client's MNIST (its own copy was missing or differed).")
    problem: str = Field("", description="Why the plugin could not set up; empty when it is ready.")
