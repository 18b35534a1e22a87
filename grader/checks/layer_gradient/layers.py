"""The four numpy layers as the grader knows them: inputs, exact reference, known mistakes.

A new layer is one more `LayerSpec` registered through `gradients.layer_check`
(tests/tanh_check.py adds one from outside the grader).

Inputs avoid false failures by construction: float64, shapes whose dimensions all
differ (a transposed gradient cannot hide), ReLU inputs far from the kink at 0,
Log inputs far from 0.  Each layer is checked at two points: a unit-scale one
and a "typical" one at a larger scale (for Softmax, nearly saturated logits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ...text import msg
from ..compare import Mistake

EPS = 1e-12  # the template's epsilon in Softmax and Log

Inputs = Callable[[np.random.Generator, bool], list[np.ndarray]]
Mistakes = Callable[[list[np.ndarray], np.ndarray], list[list[Mistake]]]
"""(args, grad_y) -> per argument, each known wrong formula's diagnosis and what it gives on these inputs."""


@dataclass(frozen=True)
class LayerSpec:
    """How to exercise one layer: its inputs and its exact reference function."""

    check_id: str
    name: str
    arg_names: tuple[str, ...]
    make_inputs: Inputs
    """(rng, typical) -> the forward's arguments; typical=True gives the larger-scale point."""
    forward: Callable[..., torch.Tensor]
    """The correct forward in torch (float64), differentiated by autograd."""
    mistakes: Mistakes
    """Per argument: known wrong formulas, each a diagnosis (a Message) and what it gives on the same inputs."""
    atol_per_upstream: float = 0.0
    """Absolute slack per unit of max|grad_y| that correct formulas may differ by."""


def softmax_np(x: np.ndarray) -> np.ndarray:
    """A numerically stable softmax over the last axis."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def _signed(rng: np.random.Generator, low: float, high: float, shape: tuple[int, ...]) -> np.ndarray:
    return np.asarray(rng.uniform(low, high, size=shape) * rng.choice([-1.0, 1.0], size=shape))


def _matmul_inputs(rng: np.random.Generator, typical: bool) -> list[np.ndarray]:
    scale = 5.0 if typical else 1.0
    return [rng.normal(scale=scale, size=(3, 4)), rng.normal(scale=scale, size=(4, 5))]


def _relu_inputs(rng: np.random.Generator, typical: bool) -> list[np.ndarray]:
    # |x| >= 0.1 keeps every entry many finite-difference steps away from the kink at 0.
    return [_signed(rng, 0.5, 20.0, (3, 4)) if typical else _signed(rng, 0.1, 1.0, (3, 4))]


def _softmax_inputs(rng: np.random.Generator, typical: bool) -> list[np.ndarray]:
    # scale 10: the largest logit of a row dominates, as in a trained network.
    return [rng.normal(scale=10.0 if typical else 2.0, size=(3, 5))]


def _log_inputs(rng: np.random.Generator, typical: bool) -> list[np.ndarray]:
    # Away from 0, where log is steep and a finite difference loses precision.
    return [rng.uniform(0.02 if typical else 0.2, 1.0, size=(3, 4))]


def _matmul_mistakes(args: list[np.ndarray], g: np.ndarray) -> list[list[Mistake]]:
    # Matmul's usual mistakes (a missing transpose, swapped outputs) change the shape,
    # which `diagnose` names on its own.
    return [[], []]


def _relu_mistakes(args: list[np.ndarray], g: np.ndarray) -> list[list[Mistake]]:
    x = args[0]
    return [
        [
            (msg("layers.diag.relu_mask_missing"), g),
            (msg("layers.diag.relu_mask_inverted"), g * (x <= 0)),
            (msg("layers.diag.relu_masked_by_values"), g * np.maximum(x, 0)),
        ]
    ]


def _softmax_mistakes(args: list[np.ndarray], g: np.ndarray) -> list[list[Mistake]]:
    s = softmax_np(args[0])
    return [
        [
            (msg("layers.diag.softmax_diagonal_only"), g * s * (1 - s)),
            (msg("layers.diag.softmax_batch_axis"), s * (g - np.sum(g * s, axis=0, keepdims=True))),
            # s * g + s * sum(s * g): the Jacobian's -s_i * s_j term added instead of subtracted.
            (msg("layers.diag.softmax_correction_sign"), s * (g + np.sum(g * s, axis=-1, keepdims=True))),
            (msg("layers.diag.passthrough"), g),
        ]
    ]


def _log_mistakes(args: list[np.ndarray], g: np.ndarray) -> list[list[Mistake]]:
    x = args[0] + EPS
    return [
        [
            (msg("layers.diag.log_derivative_neg_sq"), -g / x**2),
            (msg("layers.diag.log_derivative_sq"), g / x**2),
            (msg("layers.diag.log_times_x"), g * x),
            (msg("layers.diag.passthrough"), g),
        ]
    ]


def _softmax_torch(x: torch.Tensor) -> torch.Tensor:
    # The template's formula, epsilon included, so a faithful student matches to rounding.
    e = torch.exp(x - x.max(dim=-1, keepdim=True).values)
    return e / (e.sum(-1, keepdim=True) + EPS)


LAYERS: tuple[LayerSpec, ...] = (
    LayerSpec("numpy.matmul.backward", "Matmul", ("x", "W"), _matmul_inputs, lambda x, w: x @ w, _matmul_mistakes),
    LayerSpec("numpy.relu.backward", "Relu", ("x",), _relu_inputs, torch.relu, _relu_mistakes),
    # The template's backward s * (g - sum(g s)) assumes sum(s) = 1, which its epsilon breaks by
    # ~1e-12: on saturated rows, whose gradients are ~1e-8, that is a relative 1e-4 (measured).
    LayerSpec("numpy.softmax.backward", "Softmax", ("x",), _softmax_inputs, _softmax_torch, _softmax_mistakes,
              atol_per_upstream=1e-10),
    LayerSpec("numpy.log.backward", "Log", ("x",), _log_inputs, lambda x: torch.log(x + EPS), _log_mistakes),
)
