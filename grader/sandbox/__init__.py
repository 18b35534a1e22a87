"""Running student code: a separate, resource-limited worker process per check.

The host writes a job and reads back plain data: a JSON report validated by
pydantic and an `.npz` of numeric arrays loaded with `allow_pickle=False`.
Nothing from the worker is ever unpickled or evaluated.  Workers are forked
from warm templates (`pool.WarmRunner`, the default) or started as a fresh
`python -I -m grader.sandbox.child` (`SubprocessRunner`); both sit behind the
same `Runner` protocol and the same isolation (isolation.py).
"""

from .pool import WarmRunner
from .protocol import Job
from .runner import Runner, SubprocessRunner

__all__ = ["Job", "Runner", "SubprocessRunner", "WarmRunner"]
