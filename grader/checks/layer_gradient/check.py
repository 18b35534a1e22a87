"""Layer gradient checks: each student backward against PyTorch autograd and finite differences.

One registry entry per layer, made by `layer_check(spec)`: checks/builtin.py
registers one for each template layer of `layers.LAYERS`; a new layer is a
`LayerSpec` and one more `layer_check(spec, default=...)` in a Registry.

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
from typing import Callable, TypeVar

import numpy as np
import torch

from ...evidence import GradientComparison, GradientEvidence
from ...records import CheckOutcome
from ...rubric import GradientCheck, Tolerance
from ...text import Message, msg, verbatim
from ..compare import Comparison, compare, diagnose, error_map, excerpt, locate
from ..outcome import CheckFailed, expect
from ..registry import CheckContext, CheckDef, Planned, Reply
from .layers import LayerSpec
from .library import library_outcome
from .worker import TASK, GradType, LayerGradientParams, LayerGradientResult, LayerPoint

POINTS = ("unit", "typical")
_POINT_NAMES = {"unit": msg("layers.point.unit"), "typical": msg("layers.point.typical")}
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


@dataclass(frozen=True)
class LayerState:
    """What planning hands the judge: the input points with their references, and the stale forward's inputs."""

    points: list[_Point]
    stale: list[np.ndarray]


LayerCheck = CheckDef[GradientCheck, LayerState, LayerGradientResult]


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


def plan_layer(spec: LayerSpec, ctx: CheckContext[GradientCheck]) -> Planned[LayerState]:
    """The worker job of one layer: two input points, their finite-difference steps, and a stale forward's inputs."""
    rng = np.random.default_rng(ctx.spec.run_seed)
    points = _make_points(spec, rng)
    stale = spec.make_inputs(rng, False)
    params = LayerGradientParams(layer=spec.name, n_args=len(spec.arg_names), n_points=len(points))
    return Planned(params=params, arrays=_job_arrays(points, stale, ctx.spec), phase="backward", state=LayerState(points, stale))


def judge_layer(spec: LayerSpec, ctx: CheckContext[GradientCheck], state: LayerState, reply: Reply[LayerGradientResult]) -> CheckOutcome:
    """The verdict on one layer's worker reply: its gradients and its state handling."""
    return _LayerJudge(spec, state.points, state.stale, reply, ctx.spec).judge()


def layer_check(spec: LayerSpec, default: GradientCheck | None = None) -> LayerCheck:
    """The registry entry of `spec`'s gradient check.

    `default` is its rubric spec when a rubric has no [checks."<id>"] table: None
    makes the table required (the four template layers); a layer added later
    gives one, so that existing rubrics keep working.
    """

    def plan(ctx: CheckContext[GradientCheck]) -> Planned[LayerState] | CheckOutcome:
        return library_outcome(spec, ctx) or plan_layer(spec, ctx)

    def judge(ctx: CheckContext[GradientCheck], state: LayerState, reply: Reply[LayerGradientResult]) -> CheckOutcome:
        return judge_layer(spec, ctx, state, reply)

    return CheckDef(id=spec.check_id, part="numpy", needs=(spec.name,), spec=GradientCheck, default=default, plan=plan,
                    result=LayerGradientResult, judge=judge, task=TASK, module=__name__)


Problem = tuple[Message, Message | None]
"""A failed judgement: the message, and the diagnosis when the grader can name the cause."""


@dataclass
class _LayerJudge:
    """Judges one layer's worker reply; collects every finding, fails on the first serious one."""

    spec: LayerSpec
    points: list[_Point]
    stale: list[np.ndarray]
    reply: Reply[LayerGradientResult]
    rc: GradientCheck
    gradients: list[GradientComparison] = field(default_factory=list)
    notes: list[Message] = field(default_factory=list)

    def judge(self) -> CheckOutcome:
        got = len(self.reply.values.points)
        expect(got == len(self.points), f"value 'points' ({len(self.points)} records)")  # a point's values are missing
        problem = self._types() or self._forward_shapes() or self._values() or self._state()
        if problem:
            raise CheckFailed(problem[0], problem[1], self._evidence())
        return CheckOutcome(id=self.spec.check_id, status="passed", evidence=self._evidence(),
                            message=msg("layers.passed", name=self.spec.name, n=len(self.points)))

    def _evidence(self) -> GradientEvidence:
        return GradientEvidence(seed=self.rc.run_seed, points=POINTS, input_shapes=tuple(a.shape for a in self.points[0].args),
                                gradients=tuple(self.gradients), notes=tuple(self.notes))

    # ----------------------------------------------------------------- judges
    def _types(self) -> Problem | None:
        """The returned object must be a plain ndarray of a float dtype: say exactly what came back."""
        name = self.spec.name
        for grad_name, info in zip(self._grad_names(), self._grad_types()):
            if info.type in ("list", "tuple"):
                return msg("layers.returned_list", name=name, type=verbatim(info.type), grad=grad_name), msg("layers.diag.returned_list")
            if not info.ndarray:
                return (msg("layers.not_ndarray", name=name, type=verbatim(info.type), grad=grad_name),
                        msg("layers.diag.not_ndarray", type=verbatim(info.type)))
            dtype = info.dtype or ""
            if not dtype.startswith("float"):
                return (msg("layers.not_float", name=name, type=verbatim(info.type), grad=grad_name, dtype=dtype),
                        msg("layers.diag.not_float", dtype=dtype))
            if dtype != "float64":
                self.notes.append(msg("layers.note.low_precision", grad=grad_name, dtype=dtype, judged=dtype[:7]))
        return None

    def _grad_types(self) -> tuple[GradType, ...]:
        """What the worker says backward returned at the first point, one entry per gradient."""
        infos = self.reply.values.points[0].grad_types
        expect(len(infos) == len(self.spec.arg_names), "value 'points[0].grad_types'")  # one entry per gradient
        return infos

    def _forward_shapes(self) -> Problem | None:
        """The forward must return the layer's output shape, the shape of grad_y (its finite differences need it)."""
        name = self.spec.name
        for k, point in enumerate(self.points):
            got, want = self._point(k).out.shape, point.grad_y.shape
            if got != want:
                return (msg("layers.forward_shape", name=name, got=str(got), inputs=_shapes(point.args), want=str(want)),
                        msg("layers.diag.forward_shape"))
        return None

    def _values(self) -> Problem | None:
        for k, point in enumerate(self.points):
            for i, grad_name in enumerate(self._grad_names()):
                problem = self._judge_grad(k, point, i, grad_name)
                if problem:
                    return problem
        return None

    def _judge_grad(self, k: int, point: _Point, i: int, grad_name: str) -> Problem | None:
        got, want = _nth(self._point(k).grads, i, f"points[{k}].grads"), point.want[i]
        name, where = self.spec.name, _POINT_NAMES[point.label]
        mistakes = self.spec.mistakes(point.args, point.grad_y)[i]
        tol = self._tolerance(got)
        if got.shape != want.shape:
            return (msg("layers.grad_shape", name=name, grad=grad_name, point=where, got=str(got.shape), want=str(want.shape)),
                    diagnose(got, want, mistakes, rtol=tol.autograd_rtol, floor=tol.floor))
        atol = self._atol(got, point)
        vs_autograd = compare(got, want, rtol=tol.autograd_rtol, floor=tol.floor, atol=atol)
        vs_fd, kinked = self._vs_finite_difference(k, point, i, got, tol, atol)
        self.gradients.append(GradientComparison(
            name=f"{grad_name} ({point.label})", vs_autograd=vs_autograd.evidence(), vs_finite_difference=vs_fd.evidence(),
            kink_entries_skipped=kinked, expected_excerpt=excerpt(want), got_excerpt=excerpt(got),
            rel_err_map=error_map(got, want, floor=tol.floor), rel_err_tol=tol.autograd_rtol,
        ))
        if vs_autograd.ok and vs_fd.ok:
            return None
        which, rtol = (vs_autograd, tol.autograd_rtol) if not vs_autograd.ok else (vs_fd, tol.fd_rtol)
        cause = (diagnose(got, want, mistakes, rtol=tol.autograd_rtol, floor=tol.floor)
                 or _forward_hint(vs_autograd, vs_fd) or locate(got, want, rtol=tol.autograd_rtol, floor=tol.floor))
        return msg("layers.grad_wrong", name=name, grad=grad_name, point=where, summary=which.summary(rtol)), cause

    def _atol(self, got: np.ndarray, point: _Point) -> float:
        """Absolute slack: the layer's own (template epsilon), or one rounding unit of the student's dtype."""
        unit = float(np.finfo(got.dtype).eps) if got.dtype.kind == "f" else 0.0
        return max(self.spec.atol_per_upstream, unit) * float(np.max(np.abs(point.grad_y)))

    def _vs_finite_difference(
        self, k: int, point: _Point, i: int, got: np.ndarray, tol: Tolerance, atol: float
    ) -> tuple[Comparison, int]:
        """Compare with central differences of the student's own forward, skipping entries that crossed a kink."""
        got_point = self._point(k)
        fd_tol = self.rc.tolerance.for_dtype(got_point.fd_dtype)
        steps = _steps(point.args[i], fd_tol.fd_eps)
        out = got_point.out
        expect(out.shape == point.grad_y.shape, f"array 'points[{k}].out' of shape {point.grad_y.shape}")
        fd = _nth(got_point.fd, i, f"points[{k}].fd")
        plus, minus = fd.plus, fd.minus
        for side, moved in (("plus", plus), ("minus", minus)):
            expect(moved.shape == (steps.size, *out.shape), f"array 'points[{k}].fd[{i}].{side}' of shape {(steps.size, *out.shape)}")
        quotient = numerical_grad(plus, minus, point.grad_y, steps)
        kinked = kinks(plus, out, minus, point.grad_y, steps, fd_tol.fd_rtol)
        quotient = np.where(kinked, got, quotient)
        rtol = max(tol.fd_rtol, fd_tol.fd_rtol)
        noise = atol + rounding_noise(plus, point.grad_y, steps)
        return compare(got, quotient, rtol=rtol, floor=max(tol.fd_floor, fd_tol.fd_floor), atol=noise), int(kinked.sum())

    def _state(self) -> Problem | None:
        """forward must not change its inputs; backward must use the latest forward, and give the same twice."""
        name, point, got = self.spec.name, self.points[0], self._point(0)
        for i, arg_name in enumerate(self.spec.arg_names):
            if not np.array_equal(_nth(got.arg_after, i, "points[0].arg_after"), point.args[i]):
                return msg("layers.modified_input", name=name, arg=arg_name), msg("layers.diag.modified_input", arg=arg_name)
        if not np.array_equal(got.gy_after, point.grad_y):
            self.notes.append(msg("layers.note.modified_grad_y", name=name))
        expect(got.state is not None, "value 'points[0].state'")  # the worker runs the state passes at the first point
        assert got.state is not None
        for i, grad_name in enumerate(self._grad_names()):
            fresh, seq, again = (_nth(grads, i, f"points[0].{what}") for what, grads in
                                 (("grads", got.grads), ("state.seq_grads", got.state.seq_grads), ("state.again_grads", got.state.again_grads)))
            tol = self._tolerance(fresh)
            if seq.shape != fresh.shape or not compare(seq, fresh, rtol=tol.autograd_rtol, floor=tol.floor).ok:
                return msg("layers.stale_input", name=name, grad=grad_name), msg("layers.diag.stale_input")
            if again.shape != seq.shape or not compare(again, seq, rtol=tol.autograd_rtol, floor=tol.floor).ok:
                return msg("layers.backward_twice", name=name, grad=grad_name), msg("layers.diag.backward_twice")
        return None

    # ----------------------------------------------------------------- helpers
    def _point(self, k: int) -> LayerPoint:
        return self.reply.values.points[k]

    def _grad_names(self) -> list[str]:
        return [f"grad_{n}" for n in self.spec.arg_names]

    def _tolerance(self, got: np.ndarray) -> Tolerance:
        return self.rc.tolerance.for_dtype(str(got.dtype))


T = TypeVar("T")


def _nth(items: tuple[T, ...], i: int, what: str) -> T:
    """Item `i` of a per-argument field of the reply; a missing one is a reply the worker never writes."""
    expect(i < len(items), f"value '{what}[{i}]'")
    return items[i]


def _shapes(args: list[np.ndarray]) -> Message | str:
    """'(3, 4)', or '(3, 4) and (4, 5)' as nested clauses (each language joins them its own way)."""
    joined: Message | str = str(args[-1].shape)
    for arg in reversed(args[:-1]):
        joined = msg("layers.shapes_and", first=str(arg.shape), rest=joined)
    return joined


def _forward_hint(vs_autograd: Comparison, vs_fd: Comparison) -> Message | None:
    if vs_autograd.ok and not vs_fd.ok:
        return msg("layers.diag.forward_wrong")
    if vs_fd.ok and not vs_autograd.ok:
        return msg("layers.diag.forward_wrong_function")
    return None
