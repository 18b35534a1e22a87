"""The records passed between the grader's stages.

    Submission -> RunResult -> CheckOutcome -> CheckResult -> GradeReport
    (intake)      (sandbox)    (checks)        (scoring)      (reports)

Every record is immutable.  Reporters read a `GradeReport` and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .evidence import ErrorEvidence, Evidence, NoEvidence
from .text import Message
from .vocabulary import FailureKind, Framework, Location, Phase, Status, Visibility

__all__ = ["ErrorEvidence", "Evidence", "FailureKind", "Framework", "Location", "Message", "NoEvidence", "Phase", "Status",
           "Visibility"]


INTERNAL_ERROR_IDS = frozenset({"grader.internal_error", "sandbox.internal_error", "intake.internal_error"})
"""Messages that say the grader failed (in the grader's process, the worker, or the intake worker)."""


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="strings")


# --------------------------------------------------------------------------- intake


class LibraryUse(_Record):
    """Code that computes with a tensor or autodiff library (torch, tensorflow, keras, jax, autograd), as the
    intake worker read it: the numpy part must compute with numpy only."""

    library: str = Field(description="The library's module: 'torch', 'tensorflow', 'keras', 'jax' or 'autograd'.")
    expression: str = Field(description="The most telling use, as written: 'torch.autograd.grad', 'tf.GradientTape'.")
    line: int = Field(description="1-based line of that use in the unit's source.")


class MethodOutline(_Record):
    """One method of a kept class, as the intake worker's parse saw it (the grader never parses student code)."""

    name: str
    params: tuple[str, ...] = Field(description="Positional parameter names, `self` first.")
    statements: tuple[int, ...] = Field(description="1-based lines of the unit's source holding the method's statements.")
    uses: tuple[str, ...] = Field(default=(), description="Names the method loads but does not bind, in order of first use.")
    libraries: tuple[LibraryUse, ...] = Field(default=(), description="Libraries the method computes with, one use each.")


class ClassOutline(_Record):
    """What reports need of a kept class's structure: its statement lines and methods."""

    statements: tuple[int, ...] = Field(description="1-based lines of the unit's source holding the class's statements.")
    methods: tuple[MethodOutline, ...] = ()
    libraries: tuple[LibraryUse, ...] = Field(
        default=(), description="Libraries its bases, decorators and class-body statements (outside methods) use.")


class SourceUnit(_Record):
    """One top-level statement kept from a student's file."""

    kind: Literal["import", "constant", "class", "function"]
    name: str | None = Field(description="Name the statement binds; None for imports.")
    source: str = Field(description="The statement's text exactly as the student wrote it.")
    file: str = Field(description="File it came from, relative to the submission.")
    line: int = Field(description="1-based line of the statement in `file` (in its cell for notebooks).")
    cell: int | None = Field(default=None, description="1-based code cell index for notebooks.")
    uses: tuple[str, ...] = Field(default=(), description="Names the statement loads but does not bind, in order of first use.")
    outline: ClassOutline | None = Field(default=None, description="For a class: its statement lines and methods.")
    binds: tuple[str, ...] | None = Field(
        default=None, description="For an import: the names it binds (None: unknown, e.g. a star import), so that a "
                                  "part narrowed to some classes can leave out imports only the others use.")

    @property
    def file_label(self) -> str:
        """The file, and for a notebook its cell: 'hw.py' or 'hw.ipynb [cell 3]' (traceback and report style)."""
        return self.file if self.cell is None else f"{self.file} [cell {self.cell}]"

    @property
    def origin(self) -> str:
        """Where a student finds this code, e.g. 'hw.ipynb, cell 3, line 2'."""
        where = f"{self.file}, cell {self.cell}" if self.cell is not None else self.file
        return f"{where}, line {self.line}"


class Finding(_Record):
    """Something intake noticed: a file it could not read, a block it could not parse."""

    severity: Literal["error", "warning", "info"]
    file: str
    line: int | None = None
    message: Message


class CodePart(_Record):
    """The code graded for one part of the homework (numpy or framework)."""

    kind: Literal["numpy", "framework"]
    file: str = Field(description="The file this part's definitions were taken from.")
    framework: Framework | None = None
    units: tuple[SourceUnit, ...]
    supplied_imports: tuple[str, ...] = Field(
        default=(), description="Template imports the grader added because the code used them without importing."
    )

    @property
    def definitions(self) -> tuple[str, ...]:
        """Names of the classes and functions graded in this part."""
        return tuple(u.name for u in self.units if u.kind in ("class", "function") and u.name)

    def unit(self, name: str) -> SourceUnit | None:
        """The definition of `name` in this part, if any."""
        return next((u for u in self.units if u.name == name and u.kind != "import"), None)


class Submission(_Record):
    """A student's hand-in after intake: what was found and what will be graded."""

    student: str
    path: str
    files: tuple[str, ...] = Field(description="Code files found, relative to `path`.")
    numpy_part: CodePart | None = None
    framework_part: CodePart | None = None
    findings: tuple[Finding, ...] = ()
    framework_absence: Message | None = Field(
        default=None, description="Why no framework part was taken, when intake can say more than 'none found' "
                                  "(a function-fitting model, a numpy rewrite); the framework checks' skip message.")


# --------------------------------------------------------------------------- sandbox


@dataclass(frozen=True)
class RunError:
    """Why a worker run produced no usable result."""

    kind: FailureKind
    phase: Phase
    message: Message
    detail: str = ""
    """Traceback or the tail of the worker's stderr, for the report (quoted, never translated)."""
    location: Location | None = None
    """Where in the student's files the error was raised, when the traceback says."""


@dataclass(frozen=True)
class RunResult:
    """What came back from one worker run: plain numbers and arrays, or an error."""

    task: str
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    error: RunError | None = None
    duration_s: float = 0.0
    report: str = ""
    """A typed task's result as JSON (sandbox/wire.py); the check validates it with its result model."""
    warnings: tuple[str, ...] = ()
    """Imports of the student's that failed (evidence, quoted as is)."""
    worker_seconds: float | None = None
    """The worker's own run time, as it measured it."""


# --------------------------------------------------------------------------- checks


class CheckOutcome(_Record):
    """A check's verdict before points are attached."""

    id: str
    status: Status
    message: Message = Field(description="One line: what happened, in words a student understands.")
    diagnosis: Message | None = Field(default=None, description="Most likely cause, when the check failed.")
    evidence: Evidence = Field(default_factory=NoEvidence, description="Typed numbers and excerpts.")
    duration_s: float = 0.0

    @property
    def errored(self) -> bool:
        """The student's run gave nothing to judge (a worker failure or missing code), or the grader failed."""
        return self.status == "error"


class CheckResult(_Record):
    """A scored check, as written to result.json."""

    id: str
    status: Status
    score: float
    max_score: float
    message: Message
    visibility: Visibility = "public"
    released: bool = False
    """For a hidden check: whether reports may show its message, diagnosis and evidence (rubric `release`)."""
    advisory: bool = False
    diagnosis: Message | None = None
    evidence: Evidence = Field(default_factory=NoEvidence)
    duration_s: float = 0.0

    @property
    def errored(self) -> bool:
        """The check ended in an error: the one definition of "errored" (reports, gradebook, summary)."""
        return self.status == "error"

    @property
    def internal(self) -> bool:
        """The grader itself failed on this check (a bug of ours, never something the student did)."""
        return self.status == "error" and self.message.id in INTERNAL_ERROR_IDS


class GradedPart(_Record):
    """Which file and definitions were graded for one part, for the report."""

    kind: Literal["numpy", "framework"]
    file: str
    framework: Framework | None = None
    definitions: tuple[str, ...] = ()
    supplied_imports: tuple[str, ...] = ()


class GradedSource(_Record):
    """One graded definition as the report shows it: its text, where it came from, its outline."""

    name: str = Field(description="The definition's name; the framework model is `framework:myModel`.")
    source: str
    file_label: str = Field(description="'hw.py' or 'hw.ipynb [cell 3]'.")
    line: int = Field(description="First line of `source` in that file (or cell).")
    outline: ClassOutline | None = None


class StaffAdjustment(_Record):
    """A check's points as staff set them (`grade review`, `grade override`), as the student may see it."""

    check_id: str
    autograder_score: float = Field(description="The points the autograder gave the check.")
    reason: str | None = Field(default=None, description="Why, when the TA let the student see it; None: staff-only.")


class StaffComment(_Record):
    """A TA's comment the student may see: on a line of their code, or on a check."""

    text: str
    file: str | None = Field(default=None, description="File label of the code the comment is on, e.g. 'hw.ipynb [cell 3]'.")
    line: int | None = Field(default=None, description="1-based line in that file (or cell).")
    check_id: str | None = Field(default=None, description="The check the comment is on, for a comment on a check.")
    author: str = ""


class GradeReport(_Record):
    """Everything a reporter needs about one graded submission.

    The score, the maximum and the framework are derived (properties), never stored
    beside what they come from.
    """

    student: str
    submission: str
    checks: tuple[CheckResult, ...]
    parts: tuple[GradedPart, ...] = ()
    findings: tuple[Finding, ...] = ()
    sources: tuple[GradedSource, ...] = Field(default=(), description="The graded definitions, for the report's code views.")
    rubric_name: str = ""
    rubric_hash: str = ""
    grader_version: str = ""
    mnist_source: str = ""
    created: str = ""
    self_check: bool = False
    seed: int | None = Field(default=None, description="Base seed of this run's generated inputs; `grade --seed` reproduces it.")
    isolation: tuple[str, ...] = Field(default=(), description="Isolation layers that held the student's code, e.g. bwrap, seccomp, rlimits.")
    versions: dict[str, str] = Field(default_factory=dict, description="Python and library versions of the grading run, e.g. numpy, torch.")
    display_name: str | None = Field(default=None, description="The student's name from the roster or the course site's download, shown beside `student`.")
    late: bool = Field(default=False, description="The course site marked the submission late (Canvas LATE_, Moodle's status).")
    adjustments: tuple[StaffAdjustment, ...] = Field(
        default=(), description="Checks whose points staff changed (their scores above are the final ones); set by "
                                "grader/decisions/final.py from the gradebook, never stored with the autograder's result.")
    comments: tuple[StaffComment, ...] = Field(default=(), description="The TAs' student-visible comments.")

    def adjustment(self, check_id: str) -> StaffAdjustment | None:
        """Staff's change to the points of `check_id`, if any."""
        return next((a for a in self.adjustments if a.check_id == check_id), None)

    @property
    def score(self) -> float:
        """Points earned over every check."""
        return sum(c.score for c in self.checks)

    @property
    def max_score(self) -> float:
        """Points available over every check."""
        return sum(c.max_score for c in self.checks)

    @property
    def framework(self) -> Framework | None:
        """The framework of the graded framework part, if one was found."""
        return next((p.framework for p in self.parts if p.kind == "framework"), None)

    @property
    def errored(self) -> tuple[CheckResult, ...]:
        """The checks that ended in an error (see CheckResult.errored)."""
        return tuple(c for c in self.checks if c.errored)

    def source(self, name: str) -> GradedSource | None:
        """The graded definition `name` (`framework:myModel` for the framework model), if kept."""
        return next((s for s in self.sources if s.name == name), None)

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        """Checks that count and did not pass (advisories excluded)."""
        return tuple(c for c in self.checks if not c.advisory and c.status in ("failed", "error"))


def display_path(path: Path, root: Path) -> str:
    """`path` relative to `root` with forward slashes, or its name when outside."""
    try:
        return path.relative_to(root).as_posix() or path.name
    except ValueError:
        return path.name
