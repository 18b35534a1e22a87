"""The texts a cluster run writes into a student's report, kept together for review and translation.

Each has a Chinese pattern in grader/reports/i18n.py (`PATTERNS`).
"""

from __future__ import annotations

__all__ = ["BAD_REPLY", "NOT_SENT", "WORKER_DIED", "WORKER_FAILED"]

WORKER_DIED = ("not graded: the Dask workers that took this submission died while grading it ({detail}); "
               "the next run grades it again")
"""Dask gave up on the task (KilledWorker, after `distributed.scheduler.allowed-failures` lost workers)."""
WORKER_FAILED = "not graded: Dask worker {worker} could not grade it ({detail}); fix that worker, and the next run grades it again"
"""The task's `failure`: no plugin, another grader version, a rubric that does not match its hash, a grader bug."""
BAD_REPLY = "not graded: the answer of Dask worker {worker} was not a valid report ({detail}); the next run grades it again"
"""The reply did not validate as a `TaskReply` carrying this student's `GradeReport`."""
NOT_SENT = "not sent to the cluster: {detail}; grade this submission without --scheduler"
"""The submission is too big to send to a worker."""
