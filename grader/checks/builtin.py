"""The grader's own checks, registered in the order reports list them (a dependency order too)."""

from __future__ import annotations

from typing import Any

from .framework_probe.check import ARCHITECTURE, FORWARD
from .layer_gradient.check import layer_check
from .layer_gradient.layers import LAYERS
from .model_backward.check import MODEL_BACKWARD
from .own_training_step.check import OWN_STEP
from .registry import CheckDef, Registry
from .softmax_stability.check import STABILITY
from .training.framework_check import FRAMEWORK_TRAIN
from .training.numpy_check import NUMPY_TRAIN

_CHECKS: tuple[CheckDef[Any, Any, Any], ...] = (
    *(layer_check(layer) for layer in LAYERS),
    STABILITY,
    MODEL_BACKWARD,
    NUMPY_TRAIN,
    FORWARD,
    ARCHITECTURE,
    FRAMEWORK_TRAIN,
    OWN_STEP,
)
BUILTIN = Registry(_CHECKS)
"""Every check of the grader's own; extend a copy, `Registry(BUILTIN)`, to add a course's."""
