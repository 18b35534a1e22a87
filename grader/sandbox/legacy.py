"""Worker tasks not yet moved beside the stage that owns them: their untyped `values` travel as before.

Each entry names the function of a sandbox/tasks_*.py module that fills `Workspace.values` and
`Workspace.arrays`; child.py runs it when a job's task is one of these.  A stage that moves its
task into its own package with a typed result (sandbox/tasks.py) deletes its line here.
"""

from __future__ import annotations

from .protocol import (FrameworkProbeParams, FrameworkTrainParams, LayerGradientParams, ModelBackwardParams, NumpyTrainParams,
                       SoftmaxStabilityParams)
from .tasks import WorkerTask
from .wire import TaskResult

_M = __name__
layer_gradient = WorkerTask("layer_gradient", LayerGradientParams, TaskResult, None, "backward", _M)
softmax_stability = WorkerTask("softmax_stability", SoftmaxStabilityParams, TaskResult, None, "backward", _M)
model_backward = WorkerTask("model_backward", ModelBackwardParams, TaskResult, None, "backward", _M)
numpy_train = WorkerTask("numpy_train", NumpyTrainParams, TaskResult, None, "train", _M)
framework_train = WorkerTask("framework_train", FrameworkTrainParams, TaskResult, None, "train", _M)
framework_probe = WorkerTask("framework_probe", FrameworkProbeParams, TaskResult, None, "backward", _M)
