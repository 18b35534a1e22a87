"""numpy.model.backward: the student's myModel gradients against autograd of the template's loss,
plus a directional finite difference of that loss through the student's own forward."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from pydantic import JsonValue

from ...evidence import ArrayComparison, GradientComparison, GradientEvidence
from ...records import CheckOutcome
from ...rubric import GradientCheck, Tolerance
from ...text import Message, msg
from ..compare import Comparison, compare, diagnose, error_map, excerpt
from ..layer_gradient.layers import EPS
from ..outcome import CheckFailed
from ..registry import CheckContext, CheckDef, Planned, Reply
from ..training.judge import LAYER_CHECKS
from .worker import TASK, ModelBackwardParams, ModelBackwardResult

CHECK_ID = "numpy.model.backward"
BATCH, HIDDEN = 7, 100
LOSS = "-sum(label * log(softmax(relu([x,1] W1) W2)))"
CHAIN_HINT = msg("model.chain_hint")
"""The diagnosis when the forward is right and no generic mistake explains a wrong gradient."""
Inputs = dict[str, np.ndarray]
"""The job's arrays (x, label, W1, W2, D1, D2), kept as the judge's state: the references are computed from them."""


def model_inputs(seed: int) -> Inputs:
    """A small batch, weights at a typical unsaturated scale (0.1 * normal), and a random direction."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=BATCH)
    return {
        "x": rng.uniform(0.0, 1.0, size=(BATCH, 784)),
        "label": np.eye(10)[labels],
        "W1": 0.1 * rng.normal(size=(785, HIDDEN)),
        "W2": 0.1 * rng.normal(size=(HIDDEN, 10)),
        "D1": rng.normal(size=(785, HIDDEN)),
        "D2": rng.normal(size=(HIDDEN, 10)),
    }


def reference_grads(inputs: Inputs) -> dict[str, np.ndarray]:
    """Autograd of -sum(label * log(softmax(relu([x, 1] W1) W2) + 1e-12)) w.r.t. W1 and W2."""
    t = {k: torch.tensor(v, dtype=torch.float64) for k, v in inputs.items()}
    w1, w2 = t["W1"].requires_grad_(), t["W2"].requires_grad_()
    x1 = torch.cat([t["x"], torch.ones(BATCH, 1, dtype=torch.float64)], dim=1)
    h2_log = torch.log(torch.softmax(torch.relu(x1 @ w1) @ w2, dim=-1) + EPS)
    loss = -(t["label"] * h2_log).sum()
    g1, g2 = torch.autograd.grad(loss, [w1, w2])
    return {"W1_grad": g1.numpy(), "W2_grad": g2.numpy(), "h2_log": h2_log.detach().numpy()}


def directional_step(inputs: Inputs, eps: float) -> float:
    """The largest step up to `eps` along D for which no hidden ReLU changes side.

    A step that moved a pre-activation across 0 would put a kink between
    L(W - hD) and L(W + hD) and fail a correct student; half the smallest
    margin keeps every unit on its side.
    """
    x1 = np.concatenate([inputs["x"], np.ones((len(inputs["x"]), 1))], axis=1)
    margin = float(np.min(np.abs(x1 @ inputs["W1"])))
    speed = float(np.max(np.abs(x1 @ inputs["D1"])))
    return min(eps, 0.5 * margin / max(speed, 1e-300))


@dataclass
class _Findings:
    """The evidence gathered so far; each CheckFailed carries a snapshot of it (`evidence()`)."""

    seed: int
    details: dict[str, JsonValue] = field(default_factory=dict)
    gradients: list[GradientComparison] = field(default_factory=list)
    notes: list[Message] = field(default_factory=list)

    def evidence(self) -> GradientEvidence:
        """Gradient evidence at the one input point: a batch of BATCH images and their labels."""
        return GradientEvidence(seed=self.seed, input_shapes=((BATCH, 784), (BATCH, 10)), gradients=tuple(self.gradients),
                                notes=tuple(self.notes), details=dict(self.details))


def plan(ctx: CheckContext[GradientCheck]) -> Planned[Inputs]:
    """The grader's weights, batch and direction; the kink-free directional steps for float64 and float32 forwards."""
    rc = ctx.spec
    inputs = model_inputs(rc.run_seed)
    params = ModelBackwardParams(seed=rc.run_seed, fd_step64=directional_step(inputs, rc.tolerance.float64.fd_eps),
                                 fd_step32=directional_step(inputs, rc.tolerance.float32.fd_eps))
    return Planned(params=params, arrays=inputs, phase="backward", state=inputs)


def judge(ctx: CheckContext[GradientCheck], inputs: Inputs, reply: Reply[ModelBackwardResult]) -> CheckOutcome:
    """W2_grad and W1_grad against autograd of the template's loss, then the directional finite difference."""
    rc = ctx.spec
    want = reference_grads(inputs)
    found = _Findings(seed=rc.run_seed, details={"batch": BATCH, "W1_shape_in_your_model": list(reply.values.W1_shape)})
    tol = rc.tolerance.for_dtype(str(reply.values.W1_grad.dtype))
    forward_ok = _forward_matches(reply, want, tol, found)
    for name in ("W2_grad", "W1_grad"):
        got = reply.values.W1_grad if name == "W1_grad" else reply.values.W2_grad
        if got.shape != want[name].shape:
            raise CheckFailed(msg("model.grad_shape", name=name, got=str(got.shape), want=str(want[name].shape)),
                              diagnose(got, want[name], (), rtol=tol.autograd_rtol, floor=tol.floor), found.evidence())
        cmp = compare(got, want[name], rtol=tol.autograd_rtol, floor=tol.floor)
        found.gradients.append(GradientComparison(
            name=name, vs_autograd=_comparison(cmp), expected_excerpt=excerpt(want[name]), got_excerpt=excerpt(got),
            rel_err_map=error_map(got, want[name], floor=tol.floor), rel_err_tol=tol.autograd_rtol))
        if not cmp.ok:
            hint = _model_diagnosis(got, want[name], forward_ok, tol)
            raise CheckFailed(msg("model.grad_wrong", name=name, summary=cmp.summary(tol.autograd_rtol)), hint, found.evidence())
    _check_directional(inputs, reply, rc, found)
    return CheckOutcome(id=ctx.check_id, status="passed", evidence=found.evidence(), message=msg("model.passed", loss=LOSS))


def _comparison(cmp: Comparison) -> ArrayComparison:
    return ArrayComparison(max_rel_err=cmp.max_err, mismatched=cmp.mismatched, total=cmp.total, worst_index=cmp.worst,
                           expected_at_worst=cmp.want_at_worst, got_at_worst=cmp.got_at_worst)


def _forward_matches(reply: Reply[ModelBackwardResult], want: dict[str, np.ndarray], tol: Tolerance, found: _Findings) -> bool:
    """Whether the student's h2_log at the grader's weights is the template's (it decides which diagnosis fits)."""
    got = reply.values.h2_log
    if got.shape != want["h2_log"].shape:
        found.details["h2_log"] = {"got_shape": list(got.shape), "expected_shape": list(want["h2_log"].shape)}
        return False
    cmp = compare(got, want["h2_log"], rtol=tol.autograd_rtol, floor=tol.floor)
    found.details["h2_log"] = {"max_rel_err": cmp.max_err, "mismatched": cmp.mismatched, "total": cmp.total,
                               "worst_index": list(cmp.worst), "expected_at_worst": cmp.want_at_worst, "got_at_worst": cmp.got_at_worst}
    return cmp.ok


def _check_directional(inputs: Inputs, reply: Reply[ModelBackwardResult], rc: GradientCheck, found: _Findings) -> None:
    """(L(W + hD) - L(W - hD)) / 2h through the student's forward must equal <grad, D>."""
    kind = "32" if reply.values.step32.plus.dtype in (np.float32, np.float16) else "64"
    fd_tol = rc.tolerance.float32 if kind == "32" else rc.tolerance.float64
    step = directional_step(inputs, fd_tol.fd_eps)
    if step < fd_tol.fd_eps * 1e-3:
        found.notes.append(msg("model.directional_skipped", step=step, kind=kind))
        return
    directional = reply.values.step32 if kind == "32" else reply.values.step64
    moved = {"plus": directional.plus, "minus": directional.minus}
    if any(h.shape != inputs["label"].shape for h in moved.values()):
        shape = next(h.shape for h in moved.values() if h.shape != inputs["label"].shape)
        raise CheckFailed(msg("model.h2_log_shape", shape=str(shape), batch=BATCH), msg("model.h2_log_hint"), found.evidence())
    loss = {k: -float(np.sum(inputs["label"] * h)) for k, h in moved.items()}
    numeric = (loss["plus"] - loss["minus"]) / (2 * step)
    analytic = float(np.sum(reply.values.W1_grad * inputs["D1"]) + np.sum(reply.values.W2_grad * inputs["D2"]))
    rel = abs(numeric - analytic) / max(abs(numeric), abs(analytic), 1e-12)
    found.details["directional_derivative"] = {"finite_difference": numeric, "from_your_gradients": analytic, "step": step,
                                               "rel_err": rel, "rtol": fd_tol.fd_rtol}
    if rel > fd_tol.fd_rtol:
        raise CheckFailed(msg("model.directional_wrong", analytic=analytic, numeric=numeric, rel=rel),
                          msg("model.directional_hint"), found.evidence())


def _model_diagnosis(got: np.ndarray, want: np.ndarray, forward_ok: bool, tol: Tolerance) -> Message:
    if not forward_ok:
        return msg("model.forward_wrong")
    return diagnose(got, want, (), rtol=tol.autograd_rtol, floor=tol.floor) or CHAIN_HINT


MODEL_BACKWARD: CheckDef[GradientCheck, Inputs, ModelBackwardResult] = CheckDef(
    id=CHECK_ID, part="numpy", needs=("myModel",), spec=GradientCheck, default=None, plan=plan, result=ModelBackwardResult,
    judge=judge, after=LAYER_CHECKS, staff_layers=True, narrow=False, task=TASK, module=__name__)
"""Not narrowed: myModel builds the student's layers (or the staff's, for layers that failed their own check)."""
