"""Worker tasks not yet moved beside the stage that owns them: their untyped `values` travel as before.

Each entry names the function of a sandbox/tasks_*.py module that fills `Workspace.values` and
`Workspace.arrays`; child.py runs it when a job's task is one of these.  A stage that moves its
task into its own package with a typed result (sandbox/tasks.py) deletes its line here.
"""

from __future__ import annotations

from .protocol import (MAX_INTAKE_REPORT_BYTES, FrameworkProbeParams, FrameworkTrainParams, IntakeParams, SimilarityParams,
                       SoftmaxStabilityParams)
from .tasks import WorkerTask
from .wire import TaskResult

_M = __name__
softmax_stability = WorkerTask("softmax_stability", SoftmaxStabilityParams, TaskResult, None, "backward", _M)
framework_train = WorkerTask("framework_train", FrameworkTrainParams, TaskResult, None, "train", _M)
framework_probe = WorkerTask("framework_probe", FrameworkProbeParams, TaskResult, None, "backward", _M)
intake = WorkerTask("intake", IntakeParams, TaskResult, None, "backward", _M, MAX_INTAKE_REPORT_BYTES)
similarity_fingerprint = WorkerTask("similarity_fingerprint", SimilarityParams, TaskResult, None, "backward", _M)
