"""Gradient checks: each student backward against PyTorch autograd and finite differences.

The worker returns the student's forward output, the gradients their backward
returned, and their forward evaluated at every input entry moved by +/- eps.
Here, in the grader's process, we build the exact reference with autograd, the
finite-difference quotient of the student's own forward, and judge both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..models import CheckOutcome, CodePart, RunResult
from ..rubric import GradientCheck, Limits
from ..sandbox import Job, Runner
from .compare import Comparison, compare, diagnose, excerpt
from .outcome import CheckFailed, error_outcome, evaluate

EPS = 1e-12  # the template's epsilon in Softmax and Log


@dataclass(frozen=True)
class LayerSpec:
    """How to exercise one layer: its inputs and its exact reference function."""

    check_id: str
    name: str
    make_inputs: Callable[[np.random.Generator], list[np.ndarray]]
    forward: Callable[..., torch.Tensor]
    """The correct forward in torch (float64), differentiated by autograd."""
    mistakes: Callable[[list[np.ndarray], np.ndarray], list[dict[str, np.ndarray]]]
    """Per input: what known wrong formulas give, for the diagnosis."""


# Shapes have every dimension different, so a transposed gradient cannot hide.
def _matmul_inputs(rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.normal(size=(3, 4)), rng.normal(size=(4, 5))]


def _relu_inputs(rng: np.random.Generator) -> list[np.ndarray]:
    # |x| >= 0.1 keeps every entry far from the kink at 0 compared with eps.
    return [rng.uniform(0.1, 1.0, size=(3, 4)) * rng.choice([-1.0, 1.0], size=(3, 4))]


def _softmax_inputs(rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.normal(scale=2.0, size=(3, 5))]


def _log_inputs(rng: np.random.Generator) -> list[np.ndarray]:
    # Away from 0, where log is steep and the finite difference loses precision.
    return [rng.uniform(0.2, 1.0, size=(3, 4))]


def softmax_np(x: np.ndarray) -> np.ndarray:
    """A numerically stable softmax over the last axis."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def _matmul_mistakes(args: list[np.ndarray], g: np.ndarray) -> list[dict[str, np.ndarray]]:
    # Matmul's usual mistakes (a missing transpose, swapped outputs) change the shape,
    # which `diagnose` names on its own.
    return [{}, {}]


def _relu_mistakes(args: list[np.ndarray], g: np.ndarray) -> list[dict[str, np.ndarray]]:
    x = args[0]
    return [
        {
            "the ReLU mask is missing: the upstream gradient is passed through unchanged": g,
            "the ReLU mask is inverted: the gradient flows where x <= 0 instead of x > 0": g * (x <= 0),
            "the gradient is masked by the input values instead of by (x > 0)": g * np.maximum(x, 0),
        }
    ]


def _softmax_mistakes(args: list[np.ndarray], g: np.ndarray) -> list[dict[str, np.ndarray]]:
    s = softmax_np(args[0])
    return [
        {
            "only the diagonal of the softmax Jacobian is used (grad_y * s * (1 - s)); "
            "the off-diagonal terms -s_i * s_j are missing": g * s * (1 - s),
            "the upstream gradient is passed through unchanged": g,
        }
    ]


def _log_mistakes(args: list[np.ndarray], g: np.ndarray) -> list[dict[str, np.ndarray]]:
    x = args[0] + EPS
    return [
        {
            "the derivative of log(x) is 1/x, not -1/x^2": -g / x**2,
            "the derivative of log(x) is 1/x, not 1/x^2": g / x**2,
            "the derivative of log(x) is 1/x, not -1/x": -g / x,
            "the upstream gradient is multiplied by x instead of divided by x": g * x,
            "the upstream gradient is passed through unchanged": g,
        }
    ]


LAYERS: tuple[LayerSpec, ...] = (
    LayerSpec("numpy.matmul.backward", "Matmul", _matmul_inputs, lambda x, w: x @ w, _matmul_mistakes),
    LayerSpec("numpy.relu.backward", "Relu", _relu_inputs, torch.relu, _relu_mistakes),
    LayerSpec(
        "numpy.softmax.backward",
        "Softmax",
        _softmax_inputs,
        lambda x: torch.exp(x) / (torch.exp(x).sum(-1, keepdim=True) + EPS),
        _softmax_mistakes,
    ),
    LayerSpec("numpy.log.backward", "Log", _log_inputs, lambda x: torch.log(x + EPS), _log_mistakes),
)


def autograd_grads(forward: Callable[..., torch.Tensor], args: list[np.ndarray], grad_y: np.ndarray) -> list[np.ndarray]:
    """d(sum(grad_y * forward(args)))/d(args) by PyTorch autograd, in float64."""
    tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in args]
    out = forward(*tensors)
    grads = torch.autograd.grad(out, tensors, grad_outputs=torch.tensor(grad_y, dtype=torch.float64))
    return [g.detach().numpy() for g in grads]


def numerical_grad(plus: np.ndarray, minus: np.ndarray, grad_y: np.ndarray, eps: float, shape: tuple[int, ...]) -> np.ndarray:
    """Central difference of sum(grad_y * f): (L(x + eps e_j) - L(x - eps e_j)) / (2 eps) for every entry j."""
    axes = tuple(range(1, plus.ndim))
    return np.asarray(np.sum((plus - minus) * grad_y, axis=axes) / (2 * eps)).reshape(shape)


def check_layer(spec: LayerSpec, part: CodePart, rubric_check: GradientCheck, limits: Limits, runner: Runner) -> CheckOutcome:
    """Run one layer's forward/backward in the sandbox and judge its gradients."""
    rng = np.random.default_rng(rubric_check.seed)
    args = spec.make_inputs(rng)
    grad_y = rng.normal(size=spec.forward(*[torch.tensor(a) for a in args]).shape)
    arrays = {f"arg{i}": a for i, a in enumerate(args)} | {"grad_y": grad_y}
    job = Job(task="layer_gradient", units=part.units, supplied_imports=part.supplied_imports,
              params={"layer": spec.name, "n_args": len(args), "fd_eps": rubric_check.tolerance.fd_eps})
    result = runner.run(job, arrays, limits, phase="backward")
    if result.error:
        return error_outcome(spec.check_id, result)
    return evaluate(spec.check_id, result, lambda: _judge_layer(spec, args, grad_y, result, rubric_check))


def _judge_layer(spec: LayerSpec, args: list[np.ndarray], grad_y: np.ndarray, result: RunResult, rc: GradientCheck) -> CheckOutcome:
    tol = rc.tolerance
    want = autograd_grads(spec.forward, args, grad_y)
    mistakes = spec.mistakes(args, grad_y)
    evidence: dict[str, object] = {"seed": rc.seed, "input_shapes": [list(a.shape) for a in args], "grad_types": result.values.get("grad_types")}
    names = ["grad_x", "grad_W"][: len(args)]
    for i, name in enumerate(names):
        got = result.arrays[f"grad{i}"]
        _check_shape(spec, name, got, want[i], mistakes[i], tol.autograd_rtol, tol.floor)
        vs_autograd = compare(got, want[i], rtol=tol.autograd_rtol, floor=tol.floor)
        fd = numerical_grad(result.arrays[f"fd_plus{i}"], result.arrays[f"fd_minus{i}"], grad_y, tol.fd_eps, args[i].shape)
        vs_fd = compare(got, fd, rtol=tol.fd_rtol, floor=tol.floor)
        evidence[name] = {"vs_autograd": vs_autograd.evidence(), "vs_finite_difference": vs_fd.evidence(),
                          "expected_excerpt": excerpt(want[i]), "got_excerpt": excerpt(got)}
        if not (vs_autograd.ok and vs_fd.ok):
            raise CheckFailed(_layer_failure_msg(spec, name, vs_autograd, vs_fd, tol.autograd_rtol),
                              diagnose(got, want[i], mistakes[i], rtol=tol.autograd_rtol, floor=tol.floor)
                              or _forward_hint(vs_autograd, vs_fd), evidence)
    return CheckOutcome(id=spec.check_id, status="passed", evidence=evidence,
                        message=f"{spec.name}.backward matches autograd and finite differences of your forward")


def _check_shape(spec: LayerSpec, name: str, got: np.ndarray, want: np.ndarray, mistakes: dict[str, np.ndarray], rtol: float, floor: float) -> None:
    if got.shape != want.shape:
        msg = f"{spec.name}.backward: {name} has shape {got.shape}, expected {want.shape}"
        raise CheckFailed(msg, diagnose(got, want, mistakes, rtol=rtol, floor=floor), {"got_shape": list(got.shape), "expected_shape": list(want.shape)})


def _layer_failure_msg(spec: LayerSpec, name: str, vs_autograd: Comparison, vs_fd: Comparison, rtol: float) -> str:
    which = vs_autograd if not vs_autograd.ok else vs_fd
    return f"{spec.name}.backward: {name} is wrong: {which.summary(rtol)}"


def _forward_hint(vs_autograd: Comparison, vs_fd: Comparison) -> str | None:
    if vs_autograd.ok and not vs_fd.ok:
        return "your backward is correct, but your forward is not: its finite differences disagree with the correct gradient"
    if vs_fd.ok and not vs_autograd.ok:
        return "your backward agrees with your own forward, but the forward itself computes the wrong function"
    return None
