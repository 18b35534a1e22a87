"""numpy.model.backward: the student's myModel gradients against autograd of the template's loss."""

from __future__ import annotations

import numpy as np
import torch

from ..models import CheckOutcome, CodePart, RunResult
from ..rubric import GradientCheck, Limits
from ..sandbox import Job, Runner
from .compare import compare, diagnose, excerpt
from .gradients import EPS
from .outcome import CheckFailed, error_outcome, evaluate

CHECK_ID = "numpy.model.backward"
BATCH, HIDDEN = 7, 100


def model_inputs(seed: int) -> dict[str, np.ndarray]:
    """A small batch and weights at a typical, unsaturated scale (0.1 * normal)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=BATCH)
    return {
        "x": rng.uniform(0.0, 1.0, size=(BATCH, 784)),
        "label": np.eye(10)[labels],
        "W1": 0.1 * rng.normal(size=(785, HIDDEN)),
        "W2": 0.1 * rng.normal(size=(HIDDEN, 10)),
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


def check_model_backward(part: CodePart, rc: GradientCheck, limits: Limits, runner: Runner) -> CheckOutcome:
    """Set the grader's weights on a fresh myModel, run forward(x) and backward(label), judge W1_grad/W2_grad."""
    inputs = model_inputs(rc.seed)
    job = Job(task="model_backward", units=part.units, supplied_imports=part.supplied_imports, params={"seed": rc.seed})
    result = runner.run(job, inputs, limits, phase="backward")
    if result.error:
        return error_outcome(CHECK_ID, result)
    return evaluate(CHECK_ID, result, lambda: _judge(inputs, result, rc))


def _judge(inputs: dict[str, np.ndarray], result: RunResult, rc: GradientCheck) -> CheckOutcome:
    want = reference_grads(inputs)
    tol = rc.tolerance
    evidence: dict[str, object] = {"seed": rc.seed, "batch": BATCH, "W1_shape_in_your_model": result.values.get("W1_shape")}
    forward = _compare_named(result, want, "h2_log", tol.autograd_rtol, tol.floor)
    evidence["h2_log"] = forward.evidence() if forward else None
    for name in ("W2_grad", "W1_grad"):
        got = result.arrays[name]
        if got.shape != want[name].shape:
            raise CheckFailed(f"myModel.backward: {name} has shape {got.shape}, expected {want[name].shape}",
                              diagnose(got, want[name], {}, rtol=tol.autograd_rtol, floor=tol.floor), evidence)
        cmp = compare(got, want[name], rtol=tol.autograd_rtol, floor=tol.floor)
        evidence[name] = cmp.evidence() | {"expected_excerpt": excerpt(want[name]), "got_excerpt": excerpt(got)}
        if not cmp.ok:
            hint = _model_diagnosis(got, want[name], forward is not None and not forward.ok, tol.autograd_rtol, tol.floor)
            raise CheckFailed(f"myModel.backward: {name} is wrong: {cmp.summary(tol.autograd_rtol)}", hint, evidence)
    return CheckOutcome(id=CHECK_ID, status="passed", evidence=evidence,
                        message="myModel's W1_grad and W2_grad match autograd of -sum(label * log(softmax(relu([x,1] W1) W2)))")


def _compare_named(result: RunResult, want: dict[str, np.ndarray], name: str, rtol: float, floor: float):  # type: ignore[no-untyped-def]
    got = result.arrays.get(name)
    if got is None or got.shape != want[name].shape:
        return None
    return compare(got, want[name], rtol=rtol, floor=floor)


def _model_diagnosis(got: np.ndarray, want: np.ndarray, forward_wrong: bool, rtol: float, floor: float) -> str | None:
    if forward_wrong:
        return ("myModel.forward computes something else than log(softmax(relu([x, 1] W1) W2)): "
                "check the bias column of ones, the layer order, and that h2_log is the last output")
    return diagnose(got, want, {}, rtol=rtol, floor=floor) or (
        "the forward is right but the backward chain is not: check that backward starts from "
        "log.backward(-label) and passes each layer's gradient to the layer before it")
