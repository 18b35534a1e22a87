"""Running student code: a separate, resource-limited worker process per check.

The host writes a job and reads back plain data: a JSON report validated by
pydantic and an `.npz` of numeric arrays loaded with `allow_pickle=False`.
Nothing from the worker is ever unpickled or evaluated.  Workers are forked
from warm templates (`pool.WarmRunner`, the default) or started as a fresh
`python -I -m grader.sandbox.child` (`SubprocessRunner`); both sit behind the
same `Runner` protocol and the same isolation (isolation.py).  `FakeRunner`
(fake.py) runs a job's task in the calling process instead, with no isolation
at all: for pipeline and judge tests on trusted code.
"""

from typing import TYPE_CHECKING, Any

from .pool import WarmRunner
from .protocol import Job
from .runner import Runner, SubprocessRunner

if TYPE_CHECKING:
    from .fake import FakeRunner

__all__ = ["FakeRunner", "Job", "Runner", "SubprocessRunner", "WarmRunner"]


def __getattr__(name: str) -> Any:
    # FakeRunner imports the worker's own module (child.py); importing it with the package would make
    # `python -m grader.sandbox.child` run a second copy of an already imported module in every worker.
    if name == "FakeRunner":
        from .fake import FakeRunner

        return FakeRunner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
