"""The messages a cluster run writes into a student's report (catalog domain `cluster`), kept together.

Each says why the submission was not graded; what Dask or the worker said is quoted verbatim.
"""

from __future__ import annotations

from ..text import Message, msg, verbatim

__all__ = ["bad_reply", "not_sent", "worker_died", "worker_failed"]


def worker_died(detail: str) -> Message:
    """Dask gave up on the task (KilledWorker, after `distributed.scheduler.allowed-failures` lost workers)."""
    return msg("cluster.worker_died", detail=verbatim(detail))


def worker_failed(worker: str, detail: str) -> Message:
    """The task's `failure`: no plugin, another grader version, a rubric that does not match its hash, a grader bug."""
    return msg("cluster.worker_failed", worker=verbatim(worker), detail=verbatim(detail))


def bad_reply(worker: str, detail: str) -> Message:
    """The reply did not validate as a `TaskReply` carrying this student's `GradeReport`."""
    return msg("cluster.bad_reply", worker=verbatim(worker), detail=verbatim(detail))


def not_sent(detail: str) -> Message:
    """The submission is too big to send to a worker."""
    return msg("cluster.not_sent", detail=verbatim(detail))
