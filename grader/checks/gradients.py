"""Layer gradient checks: each student backward against PyTorch autograd and finite differences.

The worker returns, per input point, the student's forward output, the
gradients their backward returned, their forward at every input entry moved by
+/- h, and the results of the state passes (a stale cache, a repeated
backward).  Here, in the grader's process, we build the exact reference with
autograd and the central-difference quotient of the student's own forward, and
judge.  A float32 result is a finding judged with float32 tolerances, never a
failure for its dtype alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from ..models import CheckOutcome, CodePart, RunResult
from ..rubric import GradientCheck, Limits, Tolerance
from ..sandbox import Job, Runner
from .compare import Comparison, compare, diagnose, error_map, excerpt, locate
from .layers import LayerSpec
from .outcome import CheckFailed, array, error_outcome, evaluate, expect, value

POINTS = ("unit", "typical")
_STEP_FLOOR = 0.1  # h_j = eps * max(|x_j|, 0.1): relative steps for large entries, absolute near 0
_KINK_FACTOR = 10.0


def autograd_grads(forward: Callable[..., torch.Tensor], args: list[np.ndarray], grad_y: np.ndarray) -> list[np.ndarray]:
    """d(sum(grad_y * forward(args)))/d(args) by PyTorch autograd, in float64."""
    tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in args]
    out = forward(*tensors)
    grads = torch.autograd.grad(out, tensors, grad_outputs=torch.tensor(grad_y, dtype=torch.float64))
    return [g.detach().numpy() for g in grads]


def numerical_grad(plus: np.ndarray, minus: np.ndarray, grad_y: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Central difference of L = sum(grad_y * f): (L(x + h_j e_j) - L(x - h_j e_j)) / (2 h_j) for every entry j."""
    axes = tuple(range(1, plus.ndim))
    diff = np.sum((plus - minus) * grad_y, axis=axes).reshape(steps.shape)
    return np.asarray(diff / (2 * steps))


def kinks(plus: np.ndarray, out: np.ndarray, minus: np.ndarray, grad_y: np.ndarray, steps: np.ndarray, rtol: float) -> np.ndarray:
    """Entries whose step crossed a kink: the forward and backward one-sided quotients disagree.

    On a smooth function they differ by about h * f'' (tiny); across a ReLU's kink
    at 0 one side sees slope 0 and the other slope 1.
    """
    axes = tuple(range(1, plus.ndim))
    ahead = np.sum((plus - out) * grad_y, axis=axes).reshape(steps.shape) / steps
    behind = np.sum((out - minus) * grad_y, axis=axes).reshape(steps.shape) / steps
    scale = max(float(np.max(np.abs(ahead), initial=0.0)), 1e-300)
    return np.asarray(np.abs(ahead - behind) > _KINK_FACTOR * rtol * np.maximum(np.maximum(np.abs(ahead), np.abs(behind)), scale * 1e-3))


def rounding_noise(plus: np.ndarray, grad_y: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """How much rounding alone can move each central-difference quotient.

    f(x + h) - f(x - h) loses about eps * |f| to rounding, and the quotient divides
    that by 2h: on saturated softmax rows (gradients ~1e-9) this dominates.
    """
    unit = float(np.finfo(plus.dtype).eps) if plus.dtype.kind == "f" else 0.0
    axes = tuple(range(1, plus.ndim))
    return np.asarray(8 * unit * np.sum(np.abs(plus * grad_y), axis=axes).reshape(steps.shape) / (2 * steps))


@dataclass(frozen=True)
class _Point:
    """One set of inputs sent to the worker, with its references."""

    label: str
    args: list[np.ndarray]
    grad_y: np.ndarray
    want: list[np.ndarray]


def _steps(arg: np.ndarray, eps: float) -> np.ndarray:
    return np.asarray(eps * np.maximum(np.abs(arg), _STEP_FLOOR))


def _make_points(spec: LayerSpec, rng: np.random.Generator) -> list[_Point]:
    points = []
    for label in POINTS:
        args = spec.make_inputs(rng, label == "typical")
        out_shape = spec.forward(*[torch.tensor(a) for a in args]).shape
        grad_y = rng.normal(size=tuple(out_shape))  # random, never all ones: ones hide transposes and wrong axes
        points.append(_Point(label, args, grad_y, autograd_grads(spec.forward, args, grad_y)))
    return points


def _job_arrays(points: list[_Point], stale: list[np.ndarray], rc: GradientCheck) -> dict[str, np.ndarray]:
    arrays = {f"stale_arg{i}": a for i, a in enumerate(stale)}
    for k, p in enumerate(points):
        arrays[f"p{k}_gy"] = p.grad_y
        for i, a in enumerate(p.args):
            arrays[f"p{k}_arg{i}"] = a
            arrays[f"p{k}_step64_{i}"] = _steps(a, rc.tolerance.float64.fd_eps)
            arrays[f"p{k}_step32_{i}"] = _steps(a, rc.tolerance.float32.fd_eps)
    return arrays


def check_layer(spec: LayerSpec, part: CodePart, rc: GradientCheck, limits: Limits, runner: Runner) -> CheckOutcome:
    """Run one layer in the sandbox at two input points and judge its gradients and its state handling."""
    rng = np.random.default_rng(rc.run_seed)
    points = _make_points(spec, rng)
    stale = spec.make_inputs(rng, False)
    job = Job(task="layer_gradient", units=part.units, supplied_imports=part.supplied_imports,
              params={"layer": spec.name, "n_args": len(spec.arg_names), "n_points": len(points)})
    result = runner.run(job, _job_arrays(points, stale, rc), limits, phase="backward")
    if result.error:
        return error_outcome(spec.check_id, result)
    return evaluate(spec.check_id, result, lambda: _LayerJudge(spec, points, stale, result, rc).judge())


@dataclass
class _LayerJudge:
    """Judges one layer's worker result; collects every finding, fails on the first serious one."""

    spec: LayerSpec
    points: list[_Point]
    stale: list[np.ndarray]
    result: RunResult
    rc: GradientCheck
    evidence: dict[str, Any] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)

    def judge(self) -> CheckOutcome:
        self.evidence.update({"seed": self.rc.run_seed, "points": list(POINTS),
                              "input_shapes": [list(a.shape) for a in self.points[0].args]})
        problems = self._types() or self._forward_shapes() or self._values() or self._state()
        self.evidence["findings"] = self.findings
        if problems:
            raise CheckFailed(problems[0], problems[1], self.evidence)
        name = self.spec.name
        return CheckOutcome(id=self.spec.check_id, status="passed", evidence=self.evidence,
                            message=f"{name}.backward matches autograd and finite differences of your forward at "
                                    f"{len(self.points)} input points, and keeps no stale state")

    # ----------------------------------------------------------------- judges
    def _types(self) -> tuple[str, str | None] | None:
        """The returned object must be a plain ndarray of a float dtype: say exactly what came back."""
        for grad_name, info in zip(self._grad_names(), self._grad_types()):
            what = f"{self.spec.name}.backward returned {info['type']} for {grad_name}"
            if info["type"] in ("list", "tuple"):
                return f"{what}, not a numpy array", "backward returned a list, not a numpy array: return the numpy array itself (no .tolist())"
            if not info["ndarray"]:
                return f"{what}, not a plain np.ndarray", f"backward returned {info['type']}, which is not a plain np.ndarray; return np.asarray(...) of it"
            if not info["dtype"].startswith("float"):
                return f"{what} with dtype {info['dtype']}", f"backward returned an array of dtype {info['dtype']}; gradients must be float arrays"
            if info["dtype"] != "float64":
                self.findings.append(f"{grad_name} is {info['dtype']}: judged with {info['dtype'][:7]} tolerances")
        return None

    def _grad_types(self) -> list[dict[str, Any]]:
        """What the worker says backward returned, per gradient: {"type": str, "ndarray": bool, "dtype": str | None}."""
        infos = value(self.result, "p0_grad_types", list)
        expect(len(infos) == len(self.spec.arg_names), "value 'p0_grad_types' (one entry per gradient)")
        for info in infos:
            ok = (isinstance(info, dict) and isinstance(info.get("type"), str) and isinstance(info.get("ndarray"), bool)
                  and isinstance(info.get("dtype"), (str, type(None))))
            expect(ok, "value 'p0_grad_types' (type, ndarray, dtype)")
            if info["ndarray"]:
                expect(info["dtype"] is not None, "value 'p0_grad_types' (the dtype of an ndarray)")
        return infos

    def _forward_shapes(self) -> tuple[str, str | None] | None:
        """The forward must return the layer's output shape, the shape of grad_y (its finite differences need it)."""
        name = self.spec.name
        for k, point in enumerate(self.points):
            got, want = array(self.result, f"p{k}_out").shape, point.grad_y.shape
            if got != want:
                inputs = " and ".join(str(a.shape) for a in point.args)
                return (f"{name}.forward returned shape {got} for input of shape {inputs}; expected {want}",
                        "the forward must return the layer's output itself: no reshape, ravel, transpose or sum of it")
        return None

    def _values(self) -> tuple[str, str | None] | None:
        for k, point in enumerate(self.points):
            for i, grad_name in enumerate(self._grad_names()):
                problem = self._judge_grad(k, point, i, grad_name)
                if problem:
                    return problem
        return None

    def _judge_grad(self, k: int, point: _Point, i: int, grad_name: str) -> tuple[str, str | None] | None:
        got, want = array(self.result, f"p{k}_grad{i}"), point.want[i]
        where = f"{self.spec.name}.backward: {grad_name} at the {point.label} input point"
        mistakes = self.spec.mistakes(point.args, point.grad_y)[i]
        tol = self._tolerance(got)
        if got.shape != want.shape:
            return f"{where} has shape {got.shape}, expected {want.shape}", diagnose(got, want, mistakes, rtol=tol.autograd_rtol, floor=tol.floor)
        atol = self._atol(got, point)
        vs_autograd = compare(got, want, rtol=tol.autograd_rtol, floor=tol.floor, atol=atol)
        vs_fd, kinked = self._vs_finite_difference(k, point, i, got, tol, atol)
        self.evidence[f"{grad_name} ({point.label})"] = {
            "vs_autograd": vs_autograd.evidence(), "vs_finite_difference": vs_fd.evidence(), "kink_entries_skipped": kinked,
            "expected_excerpt": excerpt(want), "got_excerpt": excerpt(got),
            "rel_err_map": error_map(got, want, floor=tol.floor), "rel_err_tol": tol.autograd_rtol,
        }
        if vs_autograd.ok and vs_fd.ok:
            return None
        which, rtol = (vs_autograd, tol.autograd_rtol) if not vs_autograd.ok else (vs_fd, tol.fd_rtol)
        cause = (diagnose(got, want, mistakes, rtol=tol.autograd_rtol, floor=tol.floor)
                 or _forward_hint(vs_autograd, vs_fd) or locate(got, want, rtol=tol.autograd_rtol, floor=tol.floor))
        return f"{where} is wrong: {which.summary(rtol)}", cause

    def _atol(self, got: np.ndarray, point: _Point) -> float:
        """Absolute slack: the layer's own (template epsilon), or one rounding unit of the student's dtype."""
        unit = float(np.finfo(got.dtype).eps) if got.dtype.kind == "f" else 0.0
        return max(self.spec.atol_per_upstream, unit) * float(np.max(np.abs(point.grad_y)))

    def _vs_finite_difference(
        self, k: int, point: _Point, i: int, got: np.ndarray, tol: Tolerance, atol: float
    ) -> tuple[Comparison, int]:
        """Compare with central differences of the student's own forward, skipping entries that crossed a kink."""
        fd_tol = self.rc.tolerance.for_dtype(value(self.result, f"p{k}_fd_dtype", str))
        steps = _steps(point.args[i], fd_tol.fd_eps)
        out = array(self.result, f"p{k}_out", point.grad_y.shape)
        plus, minus = (array(self.result, f"p{k}_fd_{side}{i}", (steps.size, *out.shape)) for side in ("plus", "minus"))
        fd = numerical_grad(plus, minus, point.grad_y, steps)
        kinked = kinks(plus, out, minus, point.grad_y, steps, fd_tol.fd_rtol)
        fd = np.where(kinked, got, fd)
        rtol = max(tol.fd_rtol, fd_tol.fd_rtol)
        noise = atol + rounding_noise(plus, point.grad_y, steps)
        return compare(got, fd, rtol=rtol, floor=max(tol.fd_floor, fd_tol.fd_floor), atol=noise), int(kinked.sum())

    def _state(self) -> tuple[str, str | None] | None:
        """forward must not change its inputs; backward must use the latest forward, and give the same twice."""
        name, point = self.spec.name, self.points[0]
        for i, arg_name in enumerate(self.spec.arg_names):
            if not np.array_equal(array(self.result, f"p0_arg_after{i}"), point.args[i]):
                return (f"{name}.forward modified its input {arg_name} in place",
                        f"forward modified its input in place (e.g. {arg_name}[{arg_name} < 0] = 0): the caller's array changes "
                        "too; compute on a copy or with np.maximum / np.where")
        if not np.array_equal(array(self.result, "p0_gy_after"), point.grad_y):
            self.findings.append(f"{name}.backward modified grad_y in place: harmless here, but a caller may reuse it")
        for i, grad_name in enumerate(self._grad_names()):
            fresh, seq, again = (array(self.result, f"p0_{kind}{i}") for kind in ("grad", "seq_grad", "again_grad"))
            tol = self._tolerance(fresh)
            if seq.shape != fresh.shape or not compare(seq, fresh, rtol=tol.autograd_rtol, floor=tol.floor).ok:
                return (f"{name}.backward after forward(A), forward(B) did not give the gradient at B ({grad_name})",
                        "backward used the input of an earlier forward call: store the new input in self.mem on every forward")
            if again.shape != seq.shape or not compare(again, seq, rtol=tol.autograd_rtol, floor=tol.floor).ok:
                return (f"{name}.backward called twice gave different {grad_name}",
                        "calling backward twice gave different results: backward must not change self.mem or its inputs")
        return None

    # ----------------------------------------------------------------- helpers
    def _grad_names(self) -> list[str]:
        return [f"grad_{n}" for n in self.spec.arg_names]

    def _tolerance(self, got: np.ndarray) -> Tolerance:
        return self.rc.tolerance.for_dtype(str(got.dtype))


def _forward_hint(vs_autograd: Comparison, vs_fd: Comparison) -> str | None:
    if vs_autograd.ok and not vs_fd.ok:
        return "your backward is correct, but your forward is not: its finite differences disagree with the correct gradient"
    if vs_fd.ok and not vs_autograd.ok:
        return "your backward agrees with your own forward, but the forward itself computes the wrong function"
    return None
