"""What the intake worker returns for one file, validated on the grader's side before use.

The worker decodes, extracts and parses (worker/task.py); these records
are all that crosses back: plain strings, numbers and line spans.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, Field

from ..records import CodePart, Finding, Framework
from .files import is_checkpoint

_SUFFIX_RANK = {".ipynb": 0, ".py": 1, ".md": 2}
# The MNIST shapes count as two defined names: a fitting notebook's Matmul, Relu, myModel (3)
# loses to an MNIST file's Relu, myModel and shapes (4).
_SHAPE_POINTS = 2
MODEL = "myModel"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Candidate(_Record):
    """One file's offer for one part of the homework."""

    part: CodePart
    defines: tuple[str, ...] = Field(description="Homework names it defines, e.g. ('Matmul', 'Relu', 'myModel').")
    mnist_shapes: bool = Field(description="Whether its myModel mentions 784 (or 785) and 10.")
    model: str = Field(MODEL, description="The framework model's class: myModel, or the class graded as it "
                                          "(`TinyModel`, `Net`) through the alias unit `myModel = Net` at the part's end.")

    @property
    def aliased(self) -> bool:
        """Whether the framework model is a class of another name, graded as myModel."""
        return self.model != MODEL

    @property
    def score(self) -> int:
        """How well it fits the MNIST homework: names defined, plus the shapes."""
        return len(self.defines) + (_SHAPE_POINTS if self.mnist_shapes else 0)

    @property
    def rank(self) -> tuple[bool, int, bool, int, str]:
        """Sort key, best first: a class named myModel before another name, then score, then not a
        checkpoint copy, then .ipynb > .py > .md, then path."""
        file = self.part.file
        return (self.aliased, -self.score, is_checkpoint(file), _SUFFIX_RANK.get(suffix_of(file), 3), file)


class OtherExercise(_Record):
    """A framework myModel that is not this homework's: its first layer takes `inputs` features, not 784."""

    model: str = Field(description="The class, myModel.")
    framework: Framework
    inputs: int = Field(description="Input features its first layer takes, e.g. 1 for nn.Linear(1, 64).")


class FileAnalysis(_Record):
    """One file as the intake worker read it: its findings and what it offers per part."""

    file: str = Field(description="Path relative to the submission, with forward slashes.")
    findings: tuple[Finding, ...] = ()
    numpy: Candidate | None = None
    framework: Candidate | None = None
    other_exercise: OtherExercise | None = Field(
        None, description="Its framework myModel, not offered: it is another exercise's (the function-fitting one).")
    numpy_rewrite: bool = Field(False, description="Its numpy myModel builds on none of the template's layers: "
                                                   "a framework part rewritten with numpy, when another file is the numpy part.")


def suffix_of(file: str) -> str:
    """The lower-case suffix of a submission-relative path, e.g. '.ipynb'."""
    return PurePosixPath(file).suffix.lower()
