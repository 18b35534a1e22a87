"""framework.model.forward: a layout gives finite (N, 10) logits or log-probabilities, the same on every call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NoReturn

import numpy as np

from ...records import CheckOutcome
from .spec import FrameworkCheck
from ...sandbox.protocol import ChildError
from ...text import Message, msg
from ..framework_layouts import LAYOUT_TEXT, LAYOUTS, CallRaised, Layout, accepted, detail, in_shape, reason, same_error
from ..outcome import array, expect
from ..registry import CheckContext, Reply
from .results import FrameworkForwardResult, InferenceMode, ProbeCall
from .common import (FORWARD_ID, ProbeBatch, _AGREE_RTOL, _CLASSES, _Gathered, _PIXELS, _SUM_TOL, _calls_differ, _inference_mode,
                     _number, _rel_diff, _shape_text)


# --------------------------------------------------------------------------- forward


@dataclass(frozen=True)
class _Call:
    """How one layout's call went: raised (`raised`), or returned `out` (accepted when it is one (N, 10) output)."""

    layout: Layout
    shape: tuple[int, ...]
    probed: ProbeCall
    n: int

    @property
    def raised(self) -> CallRaised | None:
        return self.probed.call.raised

    @property
    def out(self) -> np.ndarray | None:
        return self.probed.out if self.raised is None else None

    @property
    def type_name(self) -> str:
        returned = self.probed.call.returned
        return returned.type if returned is not None else ""

    @property
    def accepted(self) -> bool:
        return accepted(self.probed.call, self.n)


def _judge_forward(ctx: CheckContext[FrameworkCheck], probe: ProbeBatch, reply: Reply[FrameworkForwardResult]) -> CheckOutcome:
    """framework.model.forward: a layout gives finite (N, 10) logits or log-probabilities, the same on every call."""
    values = reply.values
    n = values.batch
    expect(n == len(probe.x), "value 'batch'")
    calls = {k: _Call(k, in_shape(k, n), values.of(k), n) for k in LAYOUTS}
    for c in calls.values():
        returned = c.probed.call.returned
        expect(c.raised is not None or (returned is not None and c.probed.out is not None
                                        and returned.shape == tuple(c.probed.out.shape)), f"value 'calls' ({c.layout})")
    shapes = {k: c.shape for k, c in calls.items()}
    found = {k: (c.probed.call.returned.shape if c.probed.call.returned else None) for k, c in calls.items()}
    ev = _Gathered({"batch": n, "seed": probe.seed, "output_shapes": {_shape_text(shapes[k]): found[k] for k in shapes},
                    "inference_mode": _inference_mode(values.inference)})
    raised = [(c, c.raised) for c in calls.values() if c.raised is not None]
    if raised:
        first = raised[0][1]
        text = "\n".join(f"x.shape == {c.shape}:\n{detail(e)}" for c, e in raised)
        ev.fields |= {"rejected": tuple(_shape_text(c.shape) for c, _ in raised), "location": first.location, "detail": text}
    accepted = [c for c in calls.values() if c.accepted]
    ev.fields["accepted_layouts"] = tuple(LAYOUT_TEXT[c.layout] for c in accepted)
    if not accepted:
        _fail_no_layout(calls, ev)
    template = calls["3d"]
    if ctx.spec.require_template_layout and not template.accepted:
        _fail_layout(template, calls["2d"], ev)
    for c in accepted:
        assert c.out is not None  # accepted
        bad = int(np.sum(~np.isfinite(c.out)))
        if bad:
            raise ev.fail(msg("framework.forward.non_finite", a=_shape_text(c.shape), bad=bad, size=int(c.out.size)),
                          msg("framework.forward.non_finite_hint"))
    for c in accepted:
        assert c.out is not None  # accepted
        again = _calls_differ(c.probed)
        ev.details[f"relative_difference_between_calls_{_shape_text(c.shape)}"] = _number(again)
        if not again <= _AGREE_RTOL:
            raise ev.fail(msg("framework.forward.random", a=_shape_text(c.shape), mode=_mode_msg(values.inference, probe.framework),
                              diff=_number(again), rtol=_AGREE_RTOL), _random_hint(probe.framework))
    images, rows = calls["3d"].out, calls["2d"].out
    if len(accepted) == len(calls) and images is not None and rows is not None:
        diff = _rel_diff(images, rows)
        ev.details["relative_difference_between_shapes"] = _number(diff)
        if not diff <= _AGREE_RTOL:  # also when outputs near the float64 limit make the difference inf
            raise ev.fail(msg("framework.forward.differs", a=_shape_text(shapes["3d"]), b=_shape_text(shapes["2d"]), diff=_number(diff),
                              rtol=_AGREE_RTOL), msg("framework.forward.differs_hint"))
    judged = calls["2d"] if calls["2d"].accepted else accepted[0]
    assert judged.out is not None  # accepted
    kind = _output_kind(judged.out, ev)
    ev.fields["output_kind"] = kind
    kind_msg = msg("framework.forward.kind_logits") if kind == "logits" else msg("framework.forward.kind_log_probabilities")
    a, b = _shape_text(shapes["3d"]), _shape_text(shapes["2d"])
    if len(accepted) == len(calls):
        message = msg("framework.forward.passed", a=a, b=b, n=n, kind=kind_msg)
    elif judged.layout == "2d":
        message = msg("framework.forward.passed_flat_only", a=a, b=b, n=n, kind=kind_msg, why=_why_not(template))
    else:
        message = msg("framework.forward.passed_images_only", a=a, b=b, n=n, kind=kind_msg, why=_why_not(calls["2d"]))
    return CheckOutcome(id=FORWARD_ID, status="passed", evidence=ev.evidence(), message=message)


def _fail_no_layout(calls: dict[Layout, _Call], ev: _Gathered) -> NoReturn:
    """Neither layout gave an (N, 10) output: both raised, or the first that returned says what is wrong."""
    a, b = _shape_text(calls["3d"].shape), _shape_text(calls["2d"].shape)
    first, second = calls["3d"].raised, calls["2d"].raised
    if first is not None and second is not None:
        hint = msg("framework.forward.rejects_both_hint", reshape=msg("framework.forward.reshape_hint"))
        if same_error(first, second):  # the same error at the same place: a bug of the forward, whatever the input
            raise ev.fail(msg("framework.forward.same_error", a=a, b=b, reason=reason(first, "forward")),
                          msg("framework.forward.same_error_hint"))
        raise ev.fail(msg("framework.forward.rejects_both", a=a, b=b, on_a=reason(first, "forward"), on_b=reason(second, "forward")),
                      hint)
    returned = next(c for c in calls.values() if c.raised is None)
    _fail_output(returned, ev)


def _fail_layout(template: _Call, other: _Call, ev: _Gathered) -> NoReturn:
    """The rubric requires the template's (N, 28, 28) input, which the model does not take."""
    if template.raised is not None:
        message = msg("framework.forward.rejects_images", shape=_shape_text(template.shape), accepted=_shape_text(other.shape),
                      reason=reason(template.raised, "forward"))
        raise ev.fail(message, msg("framework.forward.reshape_hint"))
    _fail_output(template, ev)


def _fail_output(c: _Call, ev: _Gathered) -> NoReturn:
    """A call returned something that is not one (N, 10) tensor."""
    assert c.out is not None  # it returned
    n, a, out = c.shape[0], _shape_text(c.shape), c.out
    if c.type_name in ("tuple", "list"):
        raise ev.fail(msg("framework.forward.returns_several", type=c.type_name, shape=str(out.shape), a=a, n=n),
                      msg("framework.forward.returns_several_hint"))
    raise ev.fail(msg("framework.forward.wrong_shape", shape=str(out.shape), a=a, n=n), _shape_diagnosis(out.shape, n))


def _why_not(c: _Call) -> Message:
    """What the call of a layout the model does not take did: raised, or returned the wrong thing."""
    if c.raised is not None or c.out is None:
        return msg("framework.forward.layout_raises")
    if c.type_name in ("tuple", "list"):
        return msg("framework.forward.layout_returns_several", type=c.type_name)
    return msg("framework.forward.layout_returns_shape", shape=str(c.out.shape))


def _mode_msg(mode: InferenceMode, framework: str) -> Message:
    if mode.eval and mode.training_false:
        return msg("framework.forward.mode_eval_training")
    if mode.eval:
        return msg("framework.forward.mode_eval")
    if mode.training_false:
        return msg("framework.forward.mode_training")
    return msg("framework.forward.mode_plain_torch") if framework == "pytorch" else msg("framework.forward.mode_plain_tf")


def _random_hint(framework: str) -> Message:
    return msg("framework.forward.random_hint_torch") if framework == "pytorch" else msg("framework.forward.random_hint_tf")


def _shape_diagnosis(shape: tuple[int, ...], n: int) -> Message:
    if shape == (n * 28, _CLASSES):
        return msg("framework.forward.not_flat", reshape=msg("framework.forward.reshape_hint"))
    if shape == (_CLASSES, n):
        return msg("framework.forward.transposed")
    if len(shape) <= 1 or shape == (n, 1):
        return msg("framework.forward.one_number")
    if len(shape) == 2 and shape[0] == n:
        return msg("framework.forward.last_layer_outputs", k=int(shape[1]))
    return msg("framework.forward.one_row_hint")


def _output_kind(out: np.ndarray, ev: _Gathered) -> Literal["logits", "log-probabilities"]:
    """Logits or log-probabilities; softmax probabilities fail (the loss would apply softmax twice)."""
    sums = out.sum(axis=1)
    ev.details["row_sums"] = [float(s) for s in np.round(sums, 6)]
    if np.all(np.abs(sums - 1) <= _SUM_TOL) and np.all((out >= 0) & (out <= 1)):
        raise ev.fail(msg("framework.forward.probabilities"), msg("framework.forward.probabilities_hint"))
    with np.errstate(over="ignore"):  # large logits overflow exp to inf: not log-probabilities, as intended
        exp_sums = np.exp(out).sum(axis=1)
    return "log-probabilities" if np.all(np.abs(exp_sums - 1) <= _SUM_TOL) else "logits"


