"""numpy.model.backward: the student's myModel gradients against autograd of the template's loss,
plus a directional finite difference of that loss through the student's own forward."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..models import CheckOutcome, CodePart, RunResult
from ..rubric import GradientCheck, Limits, Tolerance
from ..sandbox import Job, Runner
from .compare import compare, diagnose, error_map, excerpt
from .layers import EPS
from .outcome import CheckFailed, array, error_outcome, evaluate

CHECK_ID = "numpy.model.backward"
BATCH, HIDDEN = 7, 100
LOSS = "-sum(label * log(softmax(relu([x,1] W1) W2)))"
CHAIN_HINT = ("the forward is right but the backward chain is not: check that backward starts from "
              "log.backward(-label) and passes each layer's gradient to the layer before it")


def model_inputs(seed: int) -> dict[str, np.ndarray]:
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


def reference_grads(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Autograd of -sum(label * log(softmax(relu([x, 1] W1) W2) + 1e-12)) w.r.t. W1 and W2."""
    t = {k: torch.tensor(v, dtype=torch.float64) for k, v in inputs.items()}
    w1, w2 = t["W1"].requires_grad_(), t["W2"].requires_grad_()
    x1 = torch.cat([t["x"], torch.ones(BATCH, 1, dtype=torch.float64)], dim=1)
    h2_log = torch.log(torch.softmax(torch.relu(x1 @ w1) @ w2, dim=-1) + EPS)
    loss = -(t["label"] * h2_log).sum()
    g1, g2 = torch.autograd.grad(loss, [w1, w2])
    return {"W1_grad": g1.numpy(), "W2_grad": g2.numpy(), "h2_log": h2_log.detach().numpy()}


def directional_step(inputs: dict[str, np.ndarray], eps: float) -> float:
    """The largest step up to `eps` along D for which no hidden ReLU changes side.

    A step that moved a pre-activation across 0 would put a kink between
    L(W - hD) and L(W + hD) and fail a correct student; half the smallest
    margin keeps every unit on its side.
    """
    x1 = np.concatenate([inputs["x"], np.ones((len(inputs["x"]), 1))], axis=1)
    margin = float(np.min(np.abs(x1 @ inputs["W1"])))
    speed = float(np.max(np.abs(x1 @ inputs["D1"])))
    return min(eps, 0.5 * margin / max(speed, 1e-300))


def check_model_backward(part: CodePart, rc: GradientCheck, limits: Limits, runner: Runner) -> CheckOutcome:
    """Set the grader's weights on a fresh myModel, run forward(x) and backward(label), judge W1_grad/W2_grad."""
    inputs = model_inputs(rc.run_seed)
    steps = {f"fd_step{k}": directional_step(inputs, t.fd_eps) for k, t in (("64", rc.tolerance.float64), ("32", rc.tolerance.float32))}
    job = Job(task="model_backward", units=part.units, supplied_imports=part.supplied_imports, params={"seed": rc.run_seed, **steps})
    result = runner.run(job, inputs, limits, phase="backward")
    if result.error:
        return error_outcome(CHECK_ID, result)
    return evaluate(CHECK_ID, result, lambda: _judge(inputs, result, rc))


def _judge(inputs: dict[str, np.ndarray], result: RunResult, rc: GradientCheck) -> CheckOutcome:
    want = reference_grads(inputs)
    evidence: dict[str, Any] = {"seed": rc.run_seed, "batch": BATCH, "W1_shape_in_your_model": result.values.get("W1_shape")}
    tol = rc.tolerance.for_dtype(str(array(result, "W1_grad").dtype))
    forward_ok = _forward_matches(result, want, tol, evidence)
    for name in ("W2_grad", "W1_grad"):
        got = array(result, name)
        if got.shape != want[name].shape:
            raise CheckFailed(f"myModel.backward: {name} has shape {got.shape}, expected {want[name].shape}",
                              diagnose(got, want[name], {}, rtol=tol.autograd_rtol, floor=tol.floor), evidence)
        cmp = compare(got, want[name], rtol=tol.autograd_rtol, floor=tol.floor)
        evidence[name] = cmp.evidence() | {"expected_excerpt": excerpt(want[name]), "got_excerpt": excerpt(got),
                                           "rel_err_map": error_map(got, want[name], floor=tol.floor), "rel_err_tol": tol.autograd_rtol}
        if not cmp.ok:
            hint = _model_diagnosis(got, want[name], forward_ok, tol)
            raise CheckFailed(f"myModel.backward: {name} is wrong: {cmp.summary(tol.autograd_rtol)}", hint, evidence)
    _check_directional(inputs, result, rc, evidence)
    return CheckOutcome(id=CHECK_ID, status="passed", evidence=evidence,
                        message=f"myModel's W1_grad and W2_grad match autograd of {LOSS} and a finite difference of your own loss")


def _forward_matches(result: RunResult, want: dict[str, np.ndarray], tol: Tolerance, evidence: dict[str, Any]) -> bool:
    got = array(result, "h2_log")
    if got.shape != want["h2_log"].shape:
        evidence["h2_log"] = {"got_shape": list(got.shape), "expected_shape": list(want["h2_log"].shape)}
        return False
    cmp = compare(got, want["h2_log"], rtol=tol.autograd_rtol, floor=tol.floor)
    evidence["h2_log"] = cmp.evidence()
    return cmp.ok


def _check_directional(inputs: dict[str, np.ndarray], result: RunResult, rc: GradientCheck, evidence: dict[str, Any]) -> None:
    """(L(W + hD) - L(W - hD)) / 2h through the student's forward must equal <grad, D>."""
    kind = "32" if array(result, "h2_log_plus32").dtype in (np.float32, np.float16) else "64"
    fd_tol = rc.tolerance.float32 if kind == "32" else rc.tolerance.float64
    step = directional_step(inputs, fd_tol.fd_eps)
    if step < fd_tol.fd_eps * 1e-3:
        evidence["directional_derivative"] = f"skipped: a kink-free step ({step:.2g}) is too small for your float{kind} forward"
        return
    moved = {k: array(result, f"h2_log_{k}{kind}") for k in ("plus", "minus")}
    if any(h.shape != inputs["label"].shape for h in moved.values()):
        shape = next(h.shape for h in moved.values() if h.shape != inputs["label"].shape)
        raise CheckFailed(f"myModel.forward set h2_log of shape {shape} for a batch of {BATCH} images; expected ({BATCH}, 10)",
                          "h2_log must hold the (N, 10) log-probabilities: the output of self.log.forward", evidence)
    loss = {k: -float(np.sum(inputs["label"] * h)) for k, h in moved.items()}
    numeric = (loss["plus"] - loss["minus"]) / (2 * step)
    analytic = float(np.sum(array(result, "W1_grad") * inputs["D1"]) + np.sum(array(result, "W2_grad") * inputs["D2"]))
    rel = abs(numeric - analytic) / max(abs(numeric), abs(analytic), 1e-12)
    evidence["directional_derivative"] = {"finite_difference": numeric, "from_your_gradients": analytic, "step": step,
                                          "rel_err": rel, "rtol": fd_tol.fd_rtol}
    if rel > fd_tol.fd_rtol:
        raise CheckFailed(f"myModel: your gradients predict a loss change of {analytic:.6g} along a random direction, "
                          f"your forward gives {numeric:.6g} (relative error {rel:.2g})",
                          "your backward and your forward disagree: the forward probably computes something else than the template", evidence)


def _model_diagnosis(got: np.ndarray, want: np.ndarray, forward_ok: bool, tol: Tolerance) -> str:
    if not forward_ok:
        return ("myModel.forward computes something else than log(softmax(relu([x, 1] W1) W2)): "
                "check the bias column of ones, the layer order, and that h2_log is the last output")
    return diagnose(got, want, {}, rtol=tol.autograd_rtol, floor=tol.floor) or CHAIN_HINT
