"""The client's `Runner` in a cluster run, importable without Dask.

In a cluster run every student's code runs on the Dask workers' pools; the
grader's own machine starts no sandbox templates at all.  `GradeSettings` still
wants a runner, so the client holds this one, which refuses any job.
"""

from __future__ import annotations

import numpy as np

from ..records import Phase, RunResult
from ..sandbox.limits import Limits
from ..sandbox.isolation import Isolation
from ..sandbox.protocol import Job

__all__ = ["NoLocalRunner"]


class NoLocalRunner:
    """A `Runner` that runs nothing: reaching `run` is a grader bug (a cluster client graded locally)."""

    isolation = Isolation(layers=())

    def run(self, job: Job, arrays: dict[str, np.ndarray], limits: Limits, *, phase: Phase) -> RunResult:
        """Refuse: with --scheduler, student code runs on the Dask workers only."""
        raise RuntimeError(f"grader bug: job {job.task_name!r} reached the client of a cluster run; "
                           "grader/cluster/client.py sends every student to the workers")
