"""Worker tasks not yet moved beside the stage that owns them: their untyped `values` travel as before.

Each entry names the function of a sandbox/tasks_*.py module that fills `Workspace.values` and
`Workspace.arrays`; child.py runs it when a job's task is one of these.  A stage that moves its
task into its own package with a typed result (sandbox/tasks.py) deletes its line here.
"""

from __future__ import annotations

from .protocol import MAX_INTAKE_REPORT_BYTES, IntakeParams, SimilarityParams
from .tasks import WorkerTask
from .wire import TaskResult

_M = __name__
intake = WorkerTask("intake", IntakeParams, TaskResult, None, "backward", _M, MAX_INTAKE_REPORT_BYTES)
similarity_fingerprint = WorkerTask("similarity_fingerprint", SimilarityParams, TaskResult, None, "backward", _M)
