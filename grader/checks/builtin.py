"""The grader's own checks, registered in the order reports list them (a dependency order too)."""

from __future__ import annotations

from typing import Any

from . import registry
from .framework_model import ARCHITECTURE, FORWARD
from .gradients import layer_check
from .layers import LAYERS
from .model_gradient import MODEL_BACKWARD
from .stability import STABILITY
from .training import FRAMEWORK_TRAIN, NUMPY_TRAIN

for _layer in LAYERS:
    registry.register(layer_check(_layer))
_CHECKS: tuple[registry.CheckDef[Any, Any, Any], ...] = (STABILITY, MODEL_BACKWARD, NUMPY_TRAIN, FORWARD, ARCHITECTURE, FRAMEWORK_TRAIN)
for _check in _CHECKS:
    registry.register(_check)
