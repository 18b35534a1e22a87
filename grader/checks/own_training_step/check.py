"""framework.model.own_step: the plan and the judge (the grader's side); the worker's side is worker.py.

The student's own training step (`train_one_step(model, optimizer, x, y)` or a method of
myModel) is run `steps` times on the first `batch` training images; the judge reads what the
worker measured and reports, with the numbers as evidence:

    own_step.updates_none   no parameter the loss reaches changed (gradients computed, never applied)
    own_step.loss_up        the grader's cross-entropy on the batch did not go down (a flipped sign)
    own_step.accumulates    PyTorch: .grad after a step is the previous .grad plus this step's gradient
                            (no optimizer.zero_grad()), read against the gradient the same step computes
                            from a cleared .grad
    own_step.updates_some   some parameters the loss reaches keep their initial values

The first of these that holds is the message, the others are notes.  Advisory by default
(0 points, public): the rubric's [checks."framework.model.own_step"] table may give it points.
"""

from __future__ import annotations


import numpy as np
from pydantic import Field, JsonValue

from ...evidence import ErrorEvidence, TrainingEvidence
from ...records import CheckOutcome
from ...rubric import AdvisoryCheck
from ...text import Message, msg, verbatim
from ..outcome import CheckFailed, expect, skipped
from ..registry import CheckContext, CheckDef, Planned, Reply
from ..training.judge import tensorflow_installed, tensorflow_missing
from .worker import TASK, OwnStepParams, OwnStepResult

CHECK_ID = "framework.model.own_step"


class OwnStepCheck(AdvisoryCheck):
    """The student's own training step, run on a small batch (framework.model.own_step)."""

    steps: int = Field(5, ge=2, le=50, description="Calls of the student's step, each on the same batch.")
    batch: int = Field(64, ge=2, le=1000, description="Training images in the batch (the first n of the training split).")
    lr: float = Field(1e-2, gt=0, description="Learning rate of the grader's Adam, used when the student's model holds no optimizer.")
    rtol: float = Field(1e-3, gt=0, description="A step accumulates when |.grad after - .grad before - fresh gradient| is at most "
                                                "this times |.grad after|, and |.grad after - fresh gradient| is more.")


DEFAULT = OwnStepCheck(seed=0)
"""Seed 0, as the training checks: the model's initial weights, hence the numbers, are the same every run."""


def plan(ctx: CheckContext[OwnStepCheck]) -> Planned[None] | CheckOutcome:
    """The first `batch` training images and labels; the worker finds the step and runs it."""
    framework = ctx.part.framework
    if framework is None:  # intake gives every framework part its framework: a grader bug, costing this check
        raise ValueError(f"{ctx.check_id}: the framework part has no framework")
    if framework == "tensorflow" and not tensorflow_installed():
        return skipped(ctx.check_id, tensorflow_missing())
    mnist = ctx.mnist()
    n = min(ctx.spec.batch, len(mnist.train_images))
    params = OwnStepParams(framework=framework, seed=ctx.spec.run_seed, steps=ctx.spec.steps, lr=ctx.spec.lr, threads=ctx.limits.threads)
    return Planned(params=params, arrays={"train_x": mnist.train_images[:n], "train_y": mnist.train_labels[:n]}, phase="train",
                   state=None)


def judge(ctx: CheckContext[OwnStepCheck], state: None, reply: Reply[OwnStepResult]) -> CheckOutcome:
    """What the step did to the parameters, the gradients and the loss; the first finding fails the (advisory) check."""
    v, n = reply.values, ctx.spec.batch
    if v.step is None:
        return skipped(ctx.check_id, msg("own_step.no_step"))
    step = verbatim(v.step)
    if v.no_layout:
        return skipped(ctx.check_id, msg("own_step.no_layout", step=step))
    if v.unbound:
        return skipped(ctx.check_id, msg("own_step.unbound", step=step, names=verbatim(", ".join(v.unbound))))
    if v.step_error is not None:
        error = v.step_error
        return CheckOutcome(id=ctx.check_id, status="skipped", message=msg("own_step.raised", step=step, call=verbatim(v.call or v.step),
                                                                               n=n, error=error.message),
                            evidence=ErrorEvidence(failure=error.kind, phase=error.phase, detail=error.traceback, location=error.location))
    losses, change, reachable = _checked(v)
    findings = _findings(ctx.spec, v, losses, change, reachable, n)
    evidence = _evidence(ctx.spec, v, losses, change, reachable, n)
    if findings:
        (message, diagnosis), *others = findings
        raise CheckFailed(message, diagnosis, evidence.model_copy(update={"notes": tuple(m for m, _ in others)}))
    return CheckOutcome(id=ctx.check_id, status="passed", evidence=evidence,
                        message=msg("own_step.passed", step=step, steps=v.steps_done, n=n, first=losses[0], last=losses[-1]))


def _checked(v: OwnStepResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The arrays every completed run sends, of the shapes its counts say (else the reply is tampered)."""
    p, done = len(v.names), v.steps_done
    losses, change, reachable = v.losses, v.change, v.reachable
    expect(losses is not None and losses.shape == (done + 1,), "array 'losses' of one loss per step and one before")
    expect(change is not None and change.shape == (p, done) and done >= 1, "array 'change' of one row per parameter")
    expect(reachable is not None and reachable.shape == (p,) and len(v.shapes) == p, "array 'reachable' of one entry per parameter")
    for name in ("grad_before", "grad_after", "fresh", "off_fresh", "off_sum"):
        found = getattr(v, name)
        expect(found is None or found.shape == (p, done), f"array {name!r} of one row per parameter")
    assert losses is not None and change is not None and reachable is not None  # for mypy: expect() checked it
    return losses, change, reachable


Finding = tuple[Message, Message]


def _findings(spec: OwnStepCheck, v: OwnStepResult, losses: np.ndarray, change: np.ndarray, reachable: np.ndarray,
              n: int) -> list[Finding]:
    """Every finding, the most telling first: nothing updated, the loss, accumulation, some parameters left out."""
    step, names = verbatim(v.step or ""), np.array(v.names, dtype=object)
    reached, updated = reachable > 0, change.sum(axis=1) > 0
    if not np.any(reached & updated):
        return [(msg("own_step.updates_none", step=step, steps=v.steps_done, n=n), msg("own_step.diag.updates_none"))]
    found: list[Finding] = []
    first, last = float(losses[0]), float(losses[-1])
    if not np.isfinite(last) or last >= first:
        found.append((msg("own_step.loss_up", step=step, steps=v.steps_done, n=n, first=first, last=last), msg("own_step.diag.loss_up")))
    accumulated = _accumulated(spec, v)
    if accumulated is not None:
        i = accumulated
        grads = v.grad_after
        assert grads is not None  # _accumulated read it
        found.append((msg("own_step.accumulates", step=step, name=verbatim(v.names[i]), steps=v.steps_done, first=float(grads[i, 0]),
                          last=float(grads[i, -1])), msg("own_step.diag.accumulates")))
    missing = reached & ~updated
    if np.any(missing):
        left = verbatim(", ".join(names[missing]))
        found.append((msg("own_step.updates_some", step=step, updated=verbatim(", ".join(names[updated])), missing=left,
                          steps=v.steps_done), msg("own_step.diag.updates_some", missing=left)))
    return found


def _accumulated(spec: OwnStepCheck, v: OwnStepResult) -> int | None:
    """The first parameter whose .grad after some step (but the first) is the .grad before plus the fresh gradient, not the
    fresh gradient alone; None when none is, or when there is no reading (TensorFlow, or a model that cannot be copied)."""
    after, before, off_fresh, off_sum = v.grad_after, v.grad_before, v.off_fresh, v.off_sum
    if after is None or before is None or off_fresh is None or off_sum is None:
        return None
    scale = np.maximum(after, 1e-30)
    adds = (before > spec.rtol * scale) & (off_sum <= spec.rtol * scale) & (off_fresh > spec.rtol * scale)
    rows = np.flatnonzero(adds[:, 1:].any(axis=1))
    return int(rows[0]) if rows.size else None


def _evidence(spec: OwnStepCheck, v: OwnStepResult, losses: np.ndarray, change: np.ndarray, reachable: np.ndarray,
              n: int) -> TrainingEvidence:
    """The protocol, the loss after each step, and per parameter what the step did to it."""
    parameters: dict[str, JsonValue] = {}
    for i, name in enumerate(v.names):
        row: dict[str, JsonValue] = {"shape": list(v.shapes[i]), "reached by the loss": bool(reachable[i] > 0),
                                     "change per step": _rounded(change[i])}
        for key, label in (("grad_before", "|grad| before each step"), ("grad_after", "|grad| after each step"),
                           ("fresh", "|grad| from a cleared .grad")):
            found = getattr(v, key)
            if found is not None:
                row[label] = _rounded(found[i])
        parameters[name] = row
    details: dict[str, JsonValue] = {"step": v.step, "where": _where(v), "call": v.call,
                                     "optimizer of": v.optimizer, "loss before the first step": round(float(losses[0]), 6),
                                     "parameters": parameters}
    if v.supplied:
        details["globals supplied"] = list(v.supplied)
    return TrainingEvidence(epochs=v.steps_done, batch_size=n, lr=spec.lr, optimizer=v.optimizer_type, seed=spec.seed, train_images=n,
                            losses=tuple(float(x) for x in losses[1:]), details=details)


def _where(v: OwnStepResult) -> str | None:
    """'hw.py, line 12' or 'hw.ipynb [cell 3], line 14', as tracebacks name places."""
    if v.where is None:
        return None
    cell = f" [cell {v.where.cell}]" if v.where.cell is not None else ""
    return f"{v.where.file}{cell}, line {v.where.line}"


def _rounded(values: np.ndarray) -> list[JsonValue]:
    return [float(f"{float(x):.4g}") if np.isfinite(x) else str(x) for x in values]


OWN_STEP: CheckDef[OwnStepCheck, None, OwnStepResult] = CheckDef(
    id=CHECK_ID, part="framework", needs=("myModel",), spec=OwnStepCheck, default=DEFAULT, plan=plan, result=OwnStepResult,
    judge=judge, narrow=False, task=TASK, module=__name__,
)
"""narrow=False: the job gets the whole framework part, so a top-level train_one_step and its helpers come with myModel."""
