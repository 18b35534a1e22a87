"""framework.model.forward and framework.model.architecture: the student's framework `myModel`, probed once.

One worker run (task `framework_probe`) calls a fresh, seeded `myModel` on the
grader's batch as (N, 28, 28) images and as (N, 784) rows, and returns both
outputs and every trainable parameter as float64 arrays.  Both checks judge
that one result here (ARCHITECTURE shares FORWARD's run):

- forward: both shapes accepted, (N, 10) for each, finite, the same for both,
  and not softmax probabilities (logits and log-probabilities both pass).
- architecture: W1 (784 x H, or H x 784 as nn.Linear stores it), b1 (H),
  W2 (H x 10 or 10 x H) and b2 (10) are found by shape, and the output is
  recomputed in float64 numpy as relu(x W1 + b1) W2 + b2 and as the usual
  mistakes (no ReLU, no b1, no b2), each also followed by log_softmax or
  softmax (a softmax output is the forward check's failure, not this one's).
  The simplest candidate the model matches names the mistake.

The worker gives every parameter fresh random values before the calls, so a
bias that is all zeros at initialisation (the TensorFlow template's tf.zeros)
cannot hide whether the forward adds it; if a part still has no effect on the
output, the check passes and says that part could not be verified.

Messages are catalog domain `framework` (grader/text/locale/*/LC_MESSAGES/framework.po).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any, Literal

import numpy as np
from pydantic import JsonValue

from ..evidence.probe import ProbeEvidence, ProbeParameter
from ..models import CheckOutcome
from ..rubric import FrameworkCheck
from ..sandbox.protocol import ChildError, FrameworkForwardResult, FrameworkProbeParams, FrameworkProbeResult
from ..text import Arg, Message, msg, verbatim
from .outcome import CheckFailed, array, expect, skipped
from .registry import CheckContext, CheckDef, Planned, Reply
from .training import tensorflow_installed

FORWARD_ID = "framework.model.forward"
ARCHITECTURE_ID = "framework.model.architecture"

_PIXELS = 784
_CLASSES = 10
_MAX_READINGS = 64  # ways to read the parameters as W1, b1, W2, b2; more only with many look-alike extras

# Probability rows sum to 1 up to float32 rounding of 10 terms (~1e-6); 1e-3 also
# accepts a softmax with the template's epsilon = 1e-12 in the partition.
_SUM_TOL = 1e-3
# The (N, 28, 28) and (N, 784) calls run the same float32 arithmetic; only BLAS
# blocking may differ, which moves outputs by ~1e-7 of their scale.
_AGREE_RTOL = 1e-4

FULL = "relu(x W1 + b1) W2 + b2"
"""The homework's forward; the catalog's templates spell it out too (it is a formula, the same in every language)."""

_Call = Literal["3d", "2d"]
"""The probe's two calls: the batch as (N, 28, 28) images and as (N, 784) rows."""


# --------------------------------------------------------------------------- plan (both checks)


@dataclass(frozen=True)
class ProbeBatch:
    """The judges' state: the batch the worker was sent (the architecture judge recomputes the forward on it)."""

    x: np.ndarray
    seed: int


def plan_probe(ctx: CheckContext[FrameworkCheck]) -> Planned[ProbeBatch] | CheckOutcome:
    """The probe job, with framework.model.forward's seeded spec for both checks: the same batch and seed, one run.

    Without TensorFlow installed, a TensorFlow part is not run and the check is skipped.
    """
    framework = ctx.part.framework
    if framework is None:  # intake gives every framework part its framework: a grader bug, costing this check
        raise ValueError(f"{ctx.check_id}: the framework part has no framework")
    if framework == "tensorflow" and not tensorflow_installed():
        # The catalog text holds TF_INSTALL_HINT's command (tests/test_framework_model.py keeps them equal).
        return skipped(ctx.check_id, msg("framework.tensorflow_missing"))
    spec = ctx.specs(FORWARD_ID)
    assert isinstance(spec, FrameworkCheck), f"{FORWARD_ID} has spec {type(spec).__name__}"  # the registry's own entry
    x = np.random.default_rng(spec.run_seed).random((spec.batch, 28, 28), dtype=np.float32)  # pixels in [0, 1)
    params = FrameworkProbeParams(framework=framework, seed=spec.run_seed, threads=ctx.limits.threads)
    return Planned(params=params, arrays={"x": x}, phase="forward", state=ProbeBatch(x, spec.run_seed))


# --------------------------------------------------------------------------- evidence


@dataclass
class _Gathered:
    """Evidence gathered while judging: whatever step fails raises with what is known so far."""

    fields: dict[str, Any]
    details: dict[str, JsonValue] = field(default_factory=dict)

    def evidence(self) -> ProbeEvidence:
        return ProbeEvidence(**self.fields, details=dict(self.details))

    def fail(self, message: Message, diagnosis: Message | None) -> CheckFailed:
        return CheckFailed(message, diagnosis, self.evidence())


def _clauses(items: Sequence[Arg]) -> Arg:
    """'a; b; c' (Chinese '；'): clauses said one after the other."""
    return _fold(items, lambda first, rest: msg("framework.clauses", first=first, rest=rest))


def _and(items: Sequence[Arg]) -> Arg:
    """'a and b and c'."""
    return _fold(items, lambda first, rest: msg("framework.list_and", first=first, rest=rest))


def _or(items: Sequence[Arg]) -> Arg:
    """'a or b or c'."""
    return _fold(items, lambda first, rest: msg("framework.list_or", first=first, rest=rest))


def _fold(items: Sequence[Arg], join: Callable[[Arg, Arg], Message]) -> Arg:
    assert items, "nothing to join"  # callers pass at least one item
    return items[0] if len(items) == 1 else join(items[0], _fold(items[1:], join))


def _as_message(arg: Arg) -> Message:
    assert isinstance(arg, Message), arg  # the folds above are given messages when their result is a message
    return arg


# --------------------------------------------------------------------------- forward


def _judge_forward(ctx: CheckContext[FrameworkCheck], probe: ProbeBatch, reply: Reply[FrameworkForwardResult]) -> CheckOutcome:
    """framework.model.forward: both input shapes give the same finite (N, 10) logits or log-probabilities."""
    values = reply.values
    n = values.batch
    expect(n == len(probe.x), "value 'batch'")
    shapes: dict[_Call, tuple[int, ...]] = {"3d": (n, 28, 28), "2d": (n, _PIXELS)}
    found = {"3d": values.shape_3d, "2d": values.shape_2d}
    ev = _Gathered({"batch": n, "seed": probe.seed, "output_shapes": {_shape_text(shapes[k]): found[k] for k in shapes}})
    _check_accepted(values, shapes, ev)
    outs = {k: array(reply.result, f"out_{k}") for k in shapes}
    types = {"3d": values.type_3d, "2d": values.type_2d}
    for k, out in outs.items():
        _check_output(out, shapes[k], types[k] or "", ev)
    diff = _rel_diff(outs["3d"], outs["2d"])
    ev.details["relative_difference_between_shapes"] = _number(diff)
    if not diff <= _AGREE_RTOL:  # also when outputs near the float64 limit make the difference inf
        raise ev.fail(msg("framework.forward.differs", a=_shape_text(shapes["3d"]), b=_shape_text(shapes["2d"]), diff=_number(diff),
                          rtol=_AGREE_RTOL), msg("framework.forward.differs_hint"))
    kind = _output_kind(outs["2d"], ev)
    ev.fields["output_kind"] = kind
    kind_msg = msg("framework.forward.kind_logits") if kind == "logits" else msg("framework.forward.kind_log_probabilities")
    return CheckOutcome(id=FORWARD_ID, status="passed", evidence=ev.evidence(),
                        message=msg("framework.forward.passed", a=_shape_text(shapes["3d"]), b=_shape_text(shapes["2d"]), n=n,
                                    kind=kind_msg))


def _check_accepted(values: FrameworkForwardResult, shapes: dict[_Call, tuple[int, ...]], ev: _Gathered) -> None:
    """Fail when a call raised: the message quotes the worker's description of the error."""
    calls: tuple[tuple[_Call, ChildError | None], ...] = (("3d", values.error_3d), ("2d", values.error_2d))
    errors = {k: e for k, e in calls if e is not None}
    if not errors:
        return
    first = next(iter(errors.values()))
    ev.fields |= {"rejected": tuple(_shape_text(shapes[k]) for k in errors), "location": first.location, "detail": first.traceback}
    a, b = _shape_text(shapes["3d"]), _shape_text(shapes["2d"])
    if len(errors) == len(shapes):
        hint = msg("framework.forward.rejects_both_hint", reshape=msg("framework.forward.reshape_hint"))
        raise ev.fail(msg("framework.forward.rejects_both", a=a, b=b, error=errors["3d"].message), hint)
    if "3d" in errors:
        message = msg("framework.forward.rejects_images", shape=a, accepted=b, error=errors["3d"].message)
    else:
        message = msg("framework.forward.rejects_flat", shape=b, accepted=a, error=errors["2d"].message)
    raise ev.fail(message, msg("framework.forward.reshape_hint"))


def _check_output(out: np.ndarray, in_shape: tuple[int, ...], type_name: str, ev: _Gathered) -> None:
    n, a = in_shape[0], _shape_text(in_shape)
    if type_name in ("tuple", "list"):
        raise ev.fail(msg("framework.forward.returns_several", type=type_name, shape=str(out.shape), a=a, n=n),
                      msg("framework.forward.returns_several_hint"))
    if out.shape != (n, _CLASSES):
        raise ev.fail(msg("framework.forward.wrong_shape", shape=str(out.shape), a=a, n=n), _shape_diagnosis(out.shape, n))
    bad = int(np.sum(~np.isfinite(out)))
    if bad:
        raise ev.fail(msg("framework.forward.non_finite", a=a, bad=bad, size=int(out.size)), msg("framework.forward.non_finite_hint"))


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


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


def _rel_diff(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| relative to the largest |entry| of either (0 when both are all zeros)."""
    scale = max(float(np.max(np.abs(got), initial=0.0)), float(np.max(np.abs(want), initial=0.0)), 1e-300)
    return float(np.max(np.abs(got - want), initial=0.0)) / scale


# --------------------------------------------------------------------------- architecture


@dataclass(frozen=True)
class _Param:
    """One trainable parameter as the worker returned it."""

    name: str
    value: np.ndarray

    @property
    def label(self) -> str:
        """"'fc1.weight' (100, 784)"."""
        return f"'{self.name}' {tuple(self.value.shape)}"


@dataclass(frozen=True)
class _Reading:
    """The parameters read as W1, b1, W2, b2; `w1` (784 x H) and `w2` (H x 10) are already in x @ W layout."""

    W1: _Param
    w1: np.ndarray
    b1: _Param | None
    W2: _Param
    w2: np.ndarray
    b2: _Param | None
    layout: Literal["torch", "tf"]

    @property
    def hidden(self) -> int:
        return int(self.w1.shape[1])

    def used(self) -> list[_Param]:
        return [p for p in (self.W1, self.b1, self.W2, self.b2) if p is not None]


_Part = Literal["relu", "b1", "b2"]
_Head = Literal["", "log_softmax", "softmax"]
_PARTS: tuple[_Part, ...] = ("relu", "b1", "b2")
_HEADS: tuple[_Head, ...] = ("", "log_softmax", "softmax")


@dataclass(frozen=True)
class _Variant:
    """relu(x W1 + b1) W2 + b2, or it without some of its parts, optionally followed by log_softmax or softmax.

    What is missing is what differs from the homework's layers.  A softmax on the
    output is not a mistake here: the layers are right, and framework.model.forward
    already fails it (one bug, one failed check).
    """

    relu: bool
    b1: bool
    b2: bool
    head: _Head

    @property
    def formula(self) -> str:
        inner = "x W1 + b1" if self.b1 else "x W1"
        out = f"{'relu' if self.relu else ''}({inner}) W2" + (" + b2" if self.b2 else "")
        return f"{self.head}({out})" if self.head else out

    @property
    def missing(self) -> list[_Part]:
        return [p for p, present in zip(_PARTS, (self.relu, self.b1, self.b2)) if not present]

    def without(self, part: _Part) -> _Variant:
        """This variant with `part` left out."""
        return _Variant(self.relu and part != "relu", self.b1 and part != "b1", self.b2 and part != "b2", self.head)

    def apply(self, r: _Reading, x: np.ndarray) -> np.ndarray | None:
        """This formula in float64 on the reading's arrays; None when it needs a bias the model lacks."""
        if (self.b1 and r.b1 is None) or (self.b2 and r.b2 is None):
            return None
        h = x @ r.w1 + (_vector(r.b1) if self.b1 and r.b1 else 0.0)
        h = np.maximum(h, 0.0) if self.relu else h
        out = h @ r.w2 + (_vector(r.b2) if self.b2 and r.b2 else 0.0)
        if self.head == "softmax":
            return np.asarray(np.exp(_log_softmax(out)))
        return _log_softmax(out) if self.head == "log_softmax" else np.asarray(out)


# Fewest mistakes first, so a model is named by the smallest change that explains it.
_VARIANTS = sorted((_Variant(relu, b1, b2, head) for relu, b1, b2 in product((True, False), repeat=3) for head in _HEADS),
                   key=lambda v: (len(v.missing), _HEADS.index(v.head)))


def _judge_architecture(ctx: CheckContext[FrameworkCheck], probe: ProbeBatch, reply: Reply[FrameworkProbeResult]) -> CheckOutcome:
    """framework.model.architecture: the output is relu(x W1 + b1) W2 + b2 of the model's own parameters.

    Reads the parameters by shape and finds the simplest formula the output matches
    within this check's own rtol.
    """
    rtol = ctx.spec.rtol
    expect(reply.values.batch == len(probe.x), "value 'batch'")
    params = _get_params(reply)
    ev = _Gathered({"seed": probe.seed, "rtol": rtol,
                    "parameters": tuple(ProbeParameter(name=p.name, shape=tuple(p.value.shape)) for p in params)})
    out = _get_output(reply, len(probe.x), ev)
    if not params and reply.values.params_error is not None:
        raise ev.fail(reply.values.params_error.message, msg("framework.arch.no_w1_hint"))
    readings = _get_readings(params, ev)
    x = probe.x.reshape(len(probe.x), -1).astype(np.float64)
    diffs = [{v: _rel_diff(out, want) for v in _VARIANTS if (want := v.apply(r, x)) is not None} for r in readings]
    reading, diff = _best_reading(readings, diffs, rtol)
    ev.fields |= _reading_evidence(reading, diff, params)
    match = _first_match(diff, rtol)
    if match is None:
        raise ev.fail(_matches_none_msg(diff, rtol), _matches_none_diagnosis(reading, params))
    variant = _VARIANTS[match]
    if variant.missing:
        raise ev.fail(_mistake_msg(variant), _mistake_diagnosis(variant, reading))
    return CheckOutcome(id=ARCHITECTURE_ID, status="passed", evidence=ev.evidence(),
                        message=_passed_msg(variant, reading, diff, params, rtol))


def _get_params(reply: Reply[FrameworkProbeResult]) -> list[_Param]:
    return [_Param(name, array(reply.result, f"param{i}")) for i, name in enumerate(reply.values.param_names)]


def _get_output(reply: Reply[FrameworkProbeResult], n: int, ev: _Gathered) -> np.ndarray:
    """The (N, 784) output, else the (N, 28, 28) one: the first that is a finite (N, 10) array."""
    for key, of in (("out_2d", "(N, 784)"), ("out_3d", "(N, 28, 28)")):
        out = reply.arrays.get(key)
        if isinstance(out, np.ndarray) and out.shape == (n, _CLASSES) and np.all(np.isfinite(out)):
            ev.fields["output_of"] = of
            return out
    raise ev.fail(msg("framework.arch.no_output", n=n), None)


def _vector(p: _Param) -> np.ndarray:
    return p.value.reshape(-1)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=1, keepdims=True)
    return np.asarray(shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)))


def _is_bias(p: _Param, size: int) -> bool:
    """Shape (size,) or a row (1, size)."""
    return p.value.shape in ((size,), (1, size))


def _get_readings(params: list[_Param], ev: _Gathered) -> list[_Reading]:
    """Every way to read the parameters as W1, b1, W2, b2 by shape; raises when W1 or W2 is missing."""
    firsts = [(p, w, layout) for p in params for w, layout in _first_layouts(p)]
    if not firsts:
        folded = any(785 in p.value.shape for p in params)
        raise ev.fail(msg("framework.arch.no_w1", labels=_labels(params)),
                      msg("framework.arch.folded_bias_hint") if folded else msg("framework.arch.no_w1_hint"))
    readings: list[_Reading] = []
    for W1, w1, layout in firsts:
        rest = [p for p in params if p is not W1]
        for W2, w2 in ((p, w) for p in rest for w in _second_layouts(p, int(w1.shape[1]))):
            left = [p for p in rest if p is not W2]
            b1s: list[_Param | None] = [p for p in left if _is_bias(p, int(w1.shape[1]))]
            for b1 in b1s or [None]:
                b2s: list[_Param | None] = [p for p in left if p is not b1 and _is_bias(p, _CLASSES)]
                readings.extend(_Reading(W1, w1, b1, W2, w2, b2, layout) for b2 in b2s or [None])
    if not readings:
        hidden = sorted({int(w.shape[1]) for _, w, _ in firsts})
        raise ev.fail(msg("framework.arch.no_w2", hidden=_or([str(h) for h in hidden]), labels=_labels(params)),
                      msg("framework.arch.no_w2_hint"))
    return readings[:_MAX_READINGS]


def _first_layouts(p: _Param) -> list[tuple[np.ndarray, Literal["torch", "tf"]]]:
    """W1 as 784 x H: stored so (x @ W1, TensorFlow's layout) or H x 784 (nn.Linear's (out, in), used as x @ W1.T)."""
    if p.value.ndim != 2:
        return []
    found: list[tuple[np.ndarray, Literal["torch", "tf"]]] = []
    if p.value.shape[0] == _PIXELS:
        found.append((p.value, "tf"))
    if p.value.shape[1] == _PIXELS:
        found.append((p.value.T, "torch"))
    return found


def _second_layouts(p: _Param, hidden: int) -> list[np.ndarray]:
    """W2 as H x 10, from H x 10 or 10 x H (both when H = 10)."""
    return [w for w, shape in ((p.value, (hidden, _CLASSES)), (p.value.T, (_CLASSES, hidden))) if p.value.shape == shape]


def _first_match(diff: dict[_Variant, float], rtol: float) -> int | None:
    """Index in _VARIANTS of the simplest variant within rtol.

    rtol (rubric, default 1e-4) is relative to the largest |output|.  The student
    computes in float32 (rounding 6e-8 per operation); a 784-term dot product
    piles up ~sqrt(784) * 6e-8 ~ 2e-6 of the scale, so a correct model lands
    near 1e-6 (2.6e-7 for nn.Linear(784, 100) on the probe batch).  A missing
    bias or ReLU moves the output by 5-100% of its scale: 0.13 for b1 = U(-1/28, 1/28).
    """
    return next((i for i, v in enumerate(_VARIANTS) if v in diff and diff[v] <= rtol), None)


def _best_reading(readings: list[_Reading], diffs: list[dict[_Variant, float]], rtol: float) -> tuple[_Reading, dict[_Variant, float]]:
    """The reading explained by the simplest variant; among those that match nothing, the closest one."""
    def rank(i: int) -> tuple[int, float]:
        match = _first_match(diffs[i], rtol)
        return (len(_VARIANTS) if match is None else match, min(diffs[i].values()))

    best = min(range(len(readings)), key=rank)
    return readings[best], diffs[best]


def _reading_evidence(r: _Reading, diff: dict[_Variant, float], params: list[_Param]) -> dict[str, Any]:
    return {
        "hidden": r.hidden,
        "layout": r.layout,
        "roles": {"W1": r.W1.label, "b1": r.b1.label if r.b1 else None, "W2": r.W2.label, "b2": r.b2.label if r.b2 else None},
        "extra_parameters": tuple(p.label for p in _extra(r, params)),
        "max_relative_difference": {v.formula: _number(d) for v, d in diff.items()},
    }


def _number(d: float) -> float | str:
    """`d`, or 'inf' / 'nan': JSON has no such numbers, and result.json must read back (the gradebook does)."""
    return d if np.isfinite(d) else str(d)


def _extra(r: _Reading, params: list[_Param]) -> list[_Param]:
    used = r.used()
    return [p for p in params if not any(p is u for u in used)]


# --------------------------------------------------------------------------- architecture messages


def _labels(params: list[_Param]) -> Arg:
    """"['fc1.weight' (100, 784), ...]": the student's parameter names, quoted as they are."""
    return verbatim("[" + ", ".join(p.label for p in params) + "]")


def _passed_msg(variant: _Variant, r: _Reading, diff: dict[_Variant, float], params: list[_Param], rtol: float) -> Message:
    layout = msg("framework.arch.layout_torch", hidden=r.hidden) if r.layout == "torch" else msg("framework.arch.layout_tf", hidden=r.hidden)
    clauses: list[Arg] = [msg("framework.arch.passed", formula=variant.formula, hidden=r.hidden, layout=layout)]
    unverified = [part for part in _PARTS if diff.get(variant.without(part), np.inf) <= rtol]
    if unverified:
        clauses.append(_unverified_msg(unverified, r))
    if variant.head == "softmax":
        clauses.append(msg("framework.arch.then_softmax"))
    extra = _extra(r, params)
    if extra:
        clauses.append(msg("framework.arch.extra_unused", labels=_labels(extra)))
    return _as_message(_clauses(clauses))


def _unverified_msg(parts: list[_Part], r: _Reading) -> Message:
    """'whether the forward uses b1 and b2 cannot be seen: they are all zeros at initialisation'."""
    biases = {"b1": r.b1, "b2": r.b2}
    zeros = all(p != "relu" and (b := biases[p]) is not None and not np.any(b.value) for p in parts)
    names: list[Arg] = [msg("framework.arch.the_relu") if p == "relu" else p for p in parts]
    one = len(parts) == 1
    if zeros:
        why = msg("framework.arch.zero_one") if one else msg("framework.arch.zero_many")
    else:
        why = msg("framework.arch.no_effect_one") if one else msg("framework.arch.no_effect_many")
    return msg("framework.arch.unverified", names=_and(names), why=why)


def _mistake_msg(variant: _Variant) -> Message:
    """'the model has no ReLU between the two layers; the first layer has no bias b1: it computes (x W1) W2 + b2'.

    The last mistake carries the formula; each earlier one is said before it.  b2 is
    the last of _PARTS, so only the ReLU and b1 can come before another mistake.
    """
    *earlier, last = variant.missing
    formula = variant.formula
    if last == "relu":
        message = msg("framework.arch.no_relu", formula=formula)
    elif last == "b1":
        message = msg("framework.arch.no_b1", formula=formula)
    else:
        message = msg("framework.arch.no_b2", formula=formula)
    for part in reversed(earlier):
        message = msg("framework.arch.no_relu_and", rest=message) if part == "relu" else msg("framework.arch.no_b1_and", rest=message)
    return message


def _mistake_diagnosis(variant: _Variant, r: _Reading) -> Message:
    fixes: list[Arg] = [msg("framework.forward.probabilities_hint")] if variant.head == "softmax" else []
    for part in variant.missing:
        if part == "relu":
            fixes.append(msg("framework.arch.no_relu_hint"))
            continue
        declared = r.b1 if part == "b1" else r.b2
        if declared is not None:
            fixes.append(msg("framework.arch.bias_unused", label=verbatim(declared.label), part=part))
        elif part == "b1":
            fixes.append(msg("framework.arch.declare_b1"))
        else:
            fixes.append(msg("framework.arch.declare_b2"))
    return _as_message(_clauses(fixes))


def _matches_none_msg(diff: dict[_Variant, float], rtol: float) -> Message:
    closest = min(diff, key=lambda v: diff[v] if np.isfinite(diff[v]) else np.inf)  # nan compares as nothing: last
    return msg("framework.arch.matches_none", formula=closest.formula, diff=_number(diff[closest]), rtol=rtol)


def _matches_none_diagnosis(r: _Reading, params: list[_Param]) -> Message:
    extra = _extra(r, params)
    hint = msg("framework.arch.matches_none_hint")
    return _as_message(_clauses([hint, msg("framework.arch.extra_used", labels=_labels(extra))])) if extra else hint


# --------------------------------------------------------------------------- registry entries

FORWARD: CheckDef[FrameworkCheck, ProbeBatch, FrameworkForwardResult] = CheckDef(
    id=FORWARD_ID, part="framework", needs=("myModel",), spec=FrameworkCheck, default=None,
    plan=plan_probe, result=FrameworkForwardResult, judge=_judge_forward, module=__name__,
)
"""framework.model.forward: runs the probe."""

ARCHITECTURE: CheckDef[FrameworkCheck, ProbeBatch, FrameworkProbeResult] = CheckDef(
    id=ARCHITECTURE_ID, part="framework", needs=("myModel",), spec=FrameworkCheck, default=None,
    plan=plan_probe, result=FrameworkProbeResult, judge=_judge_architecture,
    after=(FORWARD_ID,), share_run=FORWARD_ID, module=__name__,
)
"""framework.model.architecture: judges the forward check's probe again, with its own rtol."""
