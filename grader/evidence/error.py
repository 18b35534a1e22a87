"""Evidence of a check that ended without a usable answer: the worker's failure, or a missing definition."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..vocabulary import FailureKind, Location, Phase
from .base import EvidenceBase


class ErrorEvidence(EvidenceBase):
    """Why the student's run gave nothing to judge, and where in their code it went wrong."""

    kind: Literal["error"] = "error"
    failure: FailureKind
    phase: Phase | None = None
    detail: str = Field("", description="Traceback or the tail of the worker's stderr (quoted, never translated).")
    location: Location | None = Field(None, description="Where in the student's files the error was raised.")


class NoEvidence(EvidenceBase):
    """A check that passed or was skipped with nothing further to show."""

    kind: Literal["none"] = "none"


