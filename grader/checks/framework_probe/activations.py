"""The hidden activations the architecture check recomputes (float64), their names and the rubric's."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from .spec import FrameworkCheck
from ...text import Arg, Message, msg
from .common import _or


# --------------------------------------------------------------------------- hidden activations

Act = Literal["relu", "tanh", "sigmoid", "leaky_relu", "elu", "gelu", "gelu_tanh", "none"]
_ACTS: tuple[Act, ...] = ("relu", "tanh", "sigmoid", "leaky_relu", "elu", "gelu", "gelu_tanh", "none")
_RUBRIC_NAME: dict[Act, str] = {"gelu_tanh": "gelu"}
"""The rubric's name of an activation (accepted_activations): its own, but GELU in either form is 'gelu'."""
_FITTED: dict[Act, float] = {"leaky_relu": 0.01, "elu": 1.0}
"""Activations with a parameter (the slope, alpha), fitted to the output; the default when it cannot be."""
_DEEP_PARAMS: dict[Act, tuple[float, ...]] = {"leaky_relu": (0.01, 0.1, 0.2, 0.3), "elu": (1.0,)}
"""A deeper model's output is not linear in the parameter: the frameworks' defaults are tried (torch 0.01,
tf.nn 0.2, Keras 0.3)."""
_MAX_SLOPE = 0.9
_MAX_ALPHA = 10.0
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_erf = np.frompyfunc(math.erf, 1, 1)


def _activate(act: Act, z: np.ndarray, param: float | None) -> np.ndarray:
    """The activation in float64."""
    if act == "relu":
        h = np.maximum(z, 0.0)
    elif act == "tanh":
        h = np.tanh(z)
    elif act == "sigmoid":
        h = 0.5 * (1.0 + np.tanh(0.5 * z))  # = 1 / (1 + exp(-z)), without overflow
    elif act == "leaky_relu":
        h = np.where(z > 0, z, (param if param is not None else 0.01) * z)
    elif act == "elu":
        h = np.where(z > 0, z, (param if param is not None else 1.0) * np.expm1(np.minimum(z, 0.0)))
    elif act == "gelu":
        h = 0.5 * z * (1.0 + np.asarray(_erf(z / math.sqrt(2.0)), dtype=np.float64))
    elif act == "gelu_tanh":
        h = 0.5 * z * (1.0 + np.tanh(_SQRT_2_OVER_PI * (z + 0.044715 * z**3)))
    else:
        h = z
    return np.asarray(h, dtype=np.float64)


def _fit_basis(act: Act, z: np.ndarray) -> np.ndarray:
    """act(z) = relu(z) + param * basis(z) for the activations with a parameter."""
    negative = np.minimum(z, 0.0)
    return np.asarray(negative if act == "leaky_relu" else np.expm1(negative))


def _act_label(act: Act, param: float | None) -> str:
    """'tanh', 'leaky_relu(0.01)', 'elu(1)': the evidence's name of the activation found."""
    if act in _FITTED and param is not None:
        return f"{act}({param:.3g})"
    return _RUBRIC_NAME.get(act, act) if act != "gelu_tanh" else "gelu (tanh approximation)"


def _act_name(act: Act, param: float | None) -> Message:
    """The activation found, in words: 'tanh', 'leaky ReLU (slope 0.01)'."""
    if act == "leaky_relu":
        return msg("framework.arch.act_leaky_relu_slope", slope=param if param is not None else 0.01)
    if act == "elu":
        return msg("framework.arch.act_elu_alpha", alpha=param if param is not None else 1.0)
    if act == "gelu_tanh":
        return msg("framework.arch.act_gelu_tanh")
    return _rubric_act_name(act)


def _rubric_act_name(name: str) -> Message:
    """A rubric activation name in words: 'ReLU', 'leaky ReLU'."""
    if name == "relu":
        return msg("framework.arch.act_relu")
    if name == "tanh":
        return msg("framework.arch.act_tanh")
    if name == "sigmoid":
        return msg("framework.arch.act_sigmoid")
    if name == "leaky_relu":
        return msg("framework.arch.act_leaky_relu")
    if name == "elu":
        return msg("framework.arch.act_elu")
    return msg("framework.arch.act_gelu")


def _accepted_msg(spec: FrameworkCheck) -> Arg:
    return _or([_rubric_act_name(a) for a in spec.accepted_activations])


