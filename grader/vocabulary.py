"""The small shared types of every stage: statuses, phases, failure kinds, a place in a student's file."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Framework = Literal["pytorch", "tensorflow"]
Status = Literal["passed", "failed", "error", "skipped"]
Visibility = Literal["public", "hidden"]
Phase = Literal["intake", "import", "forward", "backward", "train"]
FailureKind = Literal["timeout", "memory", "crash", "exit", "exception", "forbidden", "tampered", "missing", "internal"]
"""Why a worker gave no usable answer: killed at the wall-clock limit, out of
memory, died on a signal or non-zero status, the student called sys.exit /
os._exit, student code raised, student code tried what the sandbox denies
(PermissionError), the worker's answer was forged or malformed, or a class the
check needs was not in the submission."""


class Location(BaseModel):
    """A place in a student's submission: file, notebook cell (1-based) and line (in the cell for notebooks)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str
    line: int | None = None
    cell: int | None = None

    @property
    def label(self) -> str:
        """'hw.py, line 12' or 'hw.ipynb, cell 3, line 2' (the words are language-neutral enough for code)."""
        where = self.file if self.cell is None else f"{self.file}, cell {self.cell}"
        return where if self.line is None else f"{where}, line {self.line}"
