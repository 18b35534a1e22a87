"""Running student code: a separate, resource-limited worker process.

The host (`runner`) writes a job, starts `python -I -m grader.sandbox.child`,
and reads back plain data: a JSON report validated by pydantic and an `.npz` of
numeric arrays loaded with `allow_pickle=False`.  Nothing from the worker is
ever unpickled or evaluated.
"""

from .protocol import Job
from .runner import Runner, SubprocessRunner

__all__ = ["Job", "Runner", "SubprocessRunner"]
