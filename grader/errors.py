"""The grader's own errors.

Everything a *student's* code does wrong becomes data (a `CheckResult` or an
intake finding), never an exception.  The exceptions here are for the people
running the grader: a bad command line, an invalid rubric, missing data.

    GraderError            base; the CLI prints "Type: message" and exits
    +-- UsageError         bad command-line arguments or paths (exit 2)
    +-- RubricError        the rubric file is missing or invalid (exit 2)
    +-- DataError          MNIST could not be found, downloaded or read (exit 3)
"""

from __future__ import annotations


class GraderError(Exception):
    """Base class of errors the grader reports to its user and then stops."""

    exit_code: int = 1


class UsageError(GraderError):
    """The command line names something that does not exist or does not fit."""

    exit_code = 2


class RubricError(GraderError):
    """The rubric file cannot be read or does not validate."""

    exit_code = 2


class DataError(GraderError):
    """MNIST is missing, corrupt, or could not be downloaded."""

    exit_code = 3
