"""What the intake worker returns for one file, validated on the grader's side before use.

The worker decodes, extracts and parses (sandbox/tasks_intake.py); these records
are all that crosses back: plain strings, numbers and line spans.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, Field

from ..models import CodePart, Finding
from .files import is_checkpoint

_SUFFIX_RANK = {".ipynb": 0, ".py": 1, ".md": 2}
# The MNIST shapes count as two defined names: a fitting notebook's Matmul, Relu, myModel (3)
# loses to an MNIST file's Relu, myModel and shapes (4).
_SHAPE_POINTS = 2


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Candidate(_Record):
    """One file's offer for one part of the homework."""

    part: CodePart
    defines: tuple[str, ...] = Field(description="Homework names it defines, e.g. ('Matmul', 'Relu', 'myModel').")
    mnist_shapes: bool = Field(description="Whether its myModel mentions 784 (or 785) and 10.")

    @property
    def score(self) -> int:
        """How well it fits the MNIST homework: names defined, plus the shapes."""
        return len(self.defines) + (_SHAPE_POINTS if self.mnist_shapes else 0)

    @property
    def rank(self) -> tuple[int, bool, int, str]:
        """Sort key, best first: score, then not a checkpoint copy, then .ipynb > .py > .md, then path."""
        file = self.part.file
        return (-self.score, is_checkpoint(file), _SUFFIX_RANK.get(suffix_of(file), 3), file)


class FileAnalysis(_Record):
    """One file as the intake worker read it: its findings and what it offers per part."""

    file: str = Field(description="Path relative to the submission, with forward slashes.")
    findings: tuple[Finding, ...] = ()
    numpy: Candidate | None = None
    framework: Candidate | None = None


def suffix_of(file: str) -> str:
    """The lower-case suffix of a submission-relative path, e.g. '.ipynb'."""
    return PurePosixPath(file).suffix.lower()
