"""A Tanh layer check, added to the grader from outside it: this module is the whole change.

    import tests.tanh_check          # registers numpy.tanh.backward and reads tanh_locale/

It defines the layer the way the grader knows its own four (checks/layer_gradient/layers.py):
inputs, the exact reference in torch and the known wrong formulas with their
diagnoses; `layer_check` turns that into a registry entry (plan, worker task,
result model, judge are the layer checks' own).  The entry has a default rubric
spec, so rubrics without a [checks."numpy.tanh.backward"] table keep working.
Its words are in tests/tanh_locale/<lang>/LC_MESSAGES/tanh.po: the hint of the
check and its own diagnoses (the generic ones, a flipped sign or a passed-through
gradient, are the grader's).

Importing changes nothing global: a run that grades Tanh uses `REGISTRY`, the grader's
own checks and this one (`grade`'s `main(argv, registry=REGISTRY)`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from grader.checks.builtin import BUILTIN
from grader.checks.registry import Registry
from grader.checks.compare import Mistake
from grader.checks.layer_gradient.check import layer_check
from grader.checks.layer_gradient.layers import LayerSpec
from grader.rubric import GradientCheck
from grader.text import add_locale_dir, msg

CHECK_ID = "numpy.tanh.backward"
LOCALE = Path(__file__).resolve().parent / "tanh_locale"


def _inputs(rng: np.random.Generator, typical: bool) -> list[np.ndarray]:
    # (3, 4): dimensions that differ, so a transposed gradient cannot hide; scale 3 saturates some entries.
    return [rng.normal(scale=3.0 if typical else 1.0, size=(3, 4))]


def _mistakes(args: list[np.ndarray], g: np.ndarray) -> list[list[Mistake]]:
    x = args[0]
    y = np.tanh(x)
    return [
        [
            (msg("tanh.diag.one_minus_y"), g * (1 - y)),
            (msg("tanh.diag.input_not_output"), g * (1 - x**2)),
            (msg("tanh.diag.output_not_derivative"), g * y),
            (msg("layers.diag.passthrough"), g),
        ]
    ]


TANH = LayerSpec(CHECK_ID, "Tanh", ("x",), _inputs, torch.tanh, _mistakes)
CHECK = layer_check(TANH, default=GradientCheck(points=5))

add_locale_dir(LOCALE)
REGISTRY = Registry([*BUILTIN, CHECK])
"""The grader's own checks first, so reports list Tanh after them."""
