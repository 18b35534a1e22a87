"""framework.model.forward and framework.model.architecture: the student's framework `myModel`, probed once.

One worker run (task `framework_probe`) probes a fresh, seeded `myModel` per input
layout, the template's (N, 28, 28) images first, then (N, 784) rows, in inference
mode (model.eval() for an nn.Module, training=False where its call takes it), calls
each instance twice, and returns the outputs, one instance's trainable parameters as
float64 arrays and the student's own training steps as the worker read them.  Both
checks judge that one result here (ARCHITECTURE shares FORWARD's run):

- forward: a layout is accepted when its call returns an (N, 10) array; either
  layout passes (the message says which one the model takes), unless the rubric's
  `require_template_layout` asks for the template's.  The outputs must be finite,
  the same for two calls (dropout or noise still on in inference mode is named),
  the same for both layouts when both are accepted, and not softmax probabilities
  (logits and log-probabilities both pass).
- architecture: W1 (784 x H, or H x 784 as nn.Linear stores it), b1 (H), W2 (H x 10
  or 10 x H) and b2 (10) are found by shape, and the output is recomputed in float64
  numpy as act(x W1 + b1) W2 + b2 for each hidden activation (relu, tanh, sigmoid,
  leaky ReLU of any slope 0 < a < 1, ELU, GELU in its erf and tanh forms) and as the
  usual mistakes (no activation, no b1, no b2), each also followed by log_softmax or
  softmax (a softmax output is the forward check's failure, not this one's).  The
  simplest candidate the model matches names the mistake; the rubric's
  `accepted_activations` decide whether the activation found passes.  A model of 3
  to 6 weight layers (784 -> a -> b -> ... -> 10 by shape) is recomputed layer by
  layer and fails with a description of its layers, and with what the student's own
  training step updates when the worker found one.

The worker gives every parameter fresh random values before the calls, so a
bias that is all zeros at initialisation (the TensorFlow template's tf.zeros)
cannot hide whether the forward adds it; if a part still has no effect on the
output, the check passes and says that part could not be verified.

Messages are catalog domain `framework` (grader/text/locale/*/LC_MESSAGES/framework.po).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice, product
from typing import Any, Literal, NoReturn

import numpy as np
from pydantic import JsonValue

from ..evidence.probe import ProbeEvidence, ProbeParameter
from ..records import CheckOutcome
from ..rubric import FrameworkCheck
from ..sandbox.protocol import (
    ChildError,
    FrameworkForwardResult,
    FrameworkProbeParams,
    FrameworkProbeResult,
    InferenceMode,
    ProbeLayout,
    TrainingStep,
)
from ..text import Arg, Message, msg, verbatim
from .outcome import CheckFailed, array, expect, skipped
from .registry import CheckContext, CheckDef, Planned, Reply
from .training.judge import tensorflow_installed

FORWARD_ID = "framework.model.forward"
ARCHITECTURE_ID = "framework.model.architecture"

_PIXELS = 784
_CLASSES = 10
_MAX_READINGS = 64  # ways to read the parameters as W1, b1, W2, b2; more only with many look-alike extras
_MAX_CHAINS = 8  # chains of weights 784 -> ... -> 10 tried for a deeper model
_MAX_BIAS_CHOICES = 8  # ways to give a deeper chain's layers their biases
_MAX_DEPTH = 6
_MAX_VISITS = 5000  # steps of the search for chains: many look-alike square weights cannot make it slow

# Probability rows sum to 1 up to float32 rounding of 10 terms (~1e-6); 1e-3 also
# accepts a softmax with the template's epsilon = 1e-12 in the partition.
_SUM_TOL = 1e-3
# The (N, 28, 28) and (N, 784) calls run the same float32 arithmetic on instances with the same
# parameter values; only BLAS blocking may differ, which moves outputs by ~1e-7 of their scale.
# Two calls of one instance on one batch are bit-identical unless something random runs.
_AGREE_RTOL = 1e-4

FULL = "relu(x W1 + b1) W2 + b2"
"""The homework's forward; the catalog's templates spell it out too (it is a formula, the same in every language)."""

_LAYOUTS: tuple[ProbeLayout, ...] = ("3d", "2d")
"""The probe's two layouts, in the order tried: the batch as (N, 28, 28) images, then as (N, 784) rows."""
_LAYOUT_TEXT: dict[ProbeLayout, Literal["(N, 28, 28)", "(N, 784)"]] = {"3d": "(N, 28, 28)", "2d": "(N, 784)"}


# --------------------------------------------------------------------------- plan (both checks)


@dataclass(frozen=True)
class ProbeBatch:
    """The judges' state: the batch the worker was sent (the architecture judge recomputes the forward on it)."""

    x: np.ndarray
    seed: int
    framework: Literal["pytorch", "tensorflow"] = "pytorch"


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
    return Planned(params=params, arrays={"x": x}, phase="forward", state=ProbeBatch(x, spec.run_seed, framework))


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


def _inference_mode(mode: InferenceMode) -> tuple[Literal["model.eval()", "training=False"], ...]:
    done: list[Literal["model.eval()", "training=False"]] = []
    if mode.eval:
        done.append("model.eval()")
    if mode.training_false:
        done.append("training=False")
    return tuple(done)


def _outputs_again(reply: Reply[Any], layout: ProbeLayout, out: np.ndarray) -> float:
    """The relative difference between the two calls of one instance on one batch."""
    again = array(reply.result, f"out_{layout}_again")
    expect(again.shape == out.shape, f"array 'out_{layout}_again' of shape {out.shape}")
    return _rel_diff(again, out)


# --------------------------------------------------------------------------- forward


@dataclass(frozen=True)
class _Call:
    """How one layout's call went: raised (`error`), or returned `out` (accepted when it is (N, 10))."""

    layout: ProbeLayout
    shape: tuple[int, ...]
    error: ChildError | None
    out: np.ndarray | None
    type_name: str

    @property
    def accepted(self) -> bool:
        return self.out is not None and self.type_name not in ("tuple", "list") and self.out.shape == (self.shape[0], _CLASSES)


def _judge_forward(ctx: CheckContext[FrameworkCheck], probe: ProbeBatch, reply: Reply[FrameworkForwardResult]) -> CheckOutcome:
    """framework.model.forward: a layout gives finite (N, 10) logits or log-probabilities, the same on every call."""
    values = reply.values
    n = values.batch
    expect(n == len(probe.x), "value 'batch'")
    shapes: dict[ProbeLayout, tuple[int, ...]] = {"3d": (n, 28, 28), "2d": (n, _PIXELS)}
    found = {"3d": values.shape_3d, "2d": values.shape_2d}
    ev = _Gathered({"batch": n, "seed": probe.seed, "output_shapes": {_shape_text(shapes[k]): found[k] for k in shapes},
                    "inference_mode": _inference_mode(values.inference)})
    errors = {"3d": values.error_3d, "2d": values.error_2d}
    types = {"3d": values.type_3d, "2d": values.type_2d}
    calls = {k: _Call(k, shapes[k], errors[k], None if errors[k] else array(reply.result, f"out_{k}"), types[k] or "")
             for k in _LAYOUTS}
    raised = [(c, c.error) for c in calls.values() if c.error is not None]
    if raised:
        first = raised[0][1]
        detail = "\n".join(f"x.shape == {c.shape}:\n{e.traceback or _error_text(e)}" for c, e in raised)
        ev.fields |= {"rejected": tuple(_shape_text(c.shape) for c, _ in raised), "location": first.location, "detail": detail}
    accepted = [c for c in calls.values() if c.accepted]
    ev.fields["accepted_layouts"] = tuple(_LAYOUT_TEXT[c.layout] for c in accepted)
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
        again = _outputs_again(reply, c.layout, c.out)
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


def _fail_no_layout(calls: dict[ProbeLayout, _Call], ev: _Gathered) -> NoReturn:
    """Neither layout gave an (N, 10) output: both raised, or the first that returned says what is wrong."""
    a, b = _shape_text(calls["3d"].shape), _shape_text(calls["2d"].shape)
    first, second = calls["3d"].error, calls["2d"].error
    if first is not None and second is not None:
        hint = msg("framework.forward.rejects_both_hint", reshape=msg("framework.forward.reshape_hint"))
        if _same_error(first, second):  # the same error at the same place: a bug of the forward, whatever the input
            raise ev.fail(msg("framework.forward.same_error", a=a, b=b, reason=_reason(first)), msg("framework.forward.same_error_hint"))
        raise ev.fail(msg("framework.forward.rejects_both", a=a, b=b, on_a=_reason(first), on_b=_reason(second)), hint)
    returned = next(c for c in calls.values() if c.error is None)
    _fail_output(returned, ev)


def _fail_layout(template: _Call, other: _Call, ev: _Gathered) -> NoReturn:
    """The rubric requires the template's (N, 28, 28) input, which the model does not take."""
    if template.error is not None:
        message = msg("framework.forward.rejects_images", shape=_shape_text(template.shape), accepted=_shape_text(other.shape),
                      reason=_reason(template.error))
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


def _reason(error: ChildError) -> Message:
    """What a call that failed did, in the student's terms: 'it raised RuntimeError (hw.py, line 12)'; the
    error's own text is evidence (`detail`).  A failure the worker already said in words is that sentence."""
    args = error.message.args
    if error.message.id == "sandbox.raised_at" and isinstance(args.get("where"), Message):
        return msg("framework.forward.raised_at", type=args.get("type"), where=args.get("where"))
    if error.message.id == "sandbox.raised":
        return msg("framework.forward.raised", type=args.get("type"))
    return error.message


def _same_error(first: ChildError, second: ChildError) -> bool:
    """The same exception with the same text at the same place (the calls' own descriptions name their shapes)."""
    def key(e: ChildError) -> tuple[Any, ...]:
        return (e.kind, e.message.id, str(e.message.args.get("type")), str(e.message.args.get("error")), e.location)

    return key(first) == key(second)


def _error_text(error: ChildError) -> str:
    """The text of the student's exception, for the evidence when the worker sent no traceback."""
    args = error.message.args
    return f"{args.get('type', '')}: {args.get('error', '')}" if "error" in args else ""


def _why_not(c: _Call) -> Message:
    """What the call of a layout the model does not take did: raised, or returned the wrong thing."""
    if c.error is not None or c.out is None:
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


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


def _rel_diff(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| relative to the largest |entry| of either (0 when both are all zeros)."""
    with np.errstate(over="ignore", invalid="ignore"):
        scale = max(float(np.max(np.abs(got), initial=0.0)), float(np.max(np.abs(want), initial=0.0)), 1e-300)
        return float(np.max(np.abs(got - want), initial=0.0)) / scale


# --------------------------------------------------------------------------- hidden activations

Act = Literal["relu", "tanh", "sigmoid", "leaky_relu", "elu", "gelu", "gelu_tanh", "none"]
_ACTS: tuple[Act, ...] = ("relu", "tanh", "sigmoid", "leaky_relu", "elu", "gelu", "gelu_tanh", "none")
_RUBRIC_NAME: dict[Act, str] = {"gelu_tanh": "gelu"}
"""The rubric's name of an activation (accepted_activations): its own, but GELU in either form is 'gelu'."""
_FITTED: dict[Act, float] = {"leaky_relu": 0.01, "elu": 1.0}
"""Activations with a parameter (the slope, alpha), fitted to the output; the default when it cannot be."""
_DEEP_PARAMS: dict[Act, tuple[float, ...]] = {"leaky_relu": (0.01, 0.1, 0.2, 0.3), "elu": (1.0,)}
"""A deeper model's output is not linear in the parameter: the frameworks' defaults are tried (torch 0.01,
tf.nn 0.2, Keras 0.3)."""
_MAX_SLOPE = 0.9
_MAX_ALPHA = 10.0
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_erf = np.frompyfunc(math.erf, 1, 1)


def _activate(act: Act, z: np.ndarray, param: float | None) -> np.ndarray:
    """The activation in float64."""
    if act == "relu":
        h = np.maximum(z, 0.0)
    elif act == "tanh":
        h = np.tanh(z)
    elif act == "sigmoid":
        h = 0.5 * (1.0 + np.tanh(0.5 * z))  # = 1 / (1 + exp(-z)), without overflow
    elif act == "leaky_relu":
        h = np.where(z > 0, z, (param if param is not None else 0.01) * z)
    elif act == "elu":
        h = np.where(z > 0, z, (param if param is not None else 1.0) * np.expm1(np.minimum(z, 0.0)))
    elif act == "gelu":
        h = 0.5 * z * (1.0 + np.asarray(_erf(z / math.sqrt(2.0)), dtype=np.float64))
    elif act == "gelu_tanh":
        h = 0.5 * z * (1.0 + np.tanh(_SQRT_2_OVER_PI * (z + 0.044715 * z**3)))
    else:
        h = z
    return np.asarray(h, dtype=np.float64)


def _fit_basis(act: Act, z: np.ndarray) -> np.ndarray:
    """act(z) = relu(z) + param * basis(z) for the activations with a parameter."""
    negative = np.minimum(z, 0.0)
    return np.asarray(negative if act == "leaky_relu" else np.expm1(negative))


def _act_label(act: Act, param: float | None) -> str:
    """'tanh', 'leaky_relu(0.01)', 'elu(1)': the evidence's name of the activation found."""
    if act in _FITTED and param is not None:
        return f"{act}({param:.3g})"
    return _RUBRIC_NAME.get(act, act) if act != "gelu_tanh" else "gelu (tanh approximation)"


def _act_name(act: Act, param: float | None) -> Message:
    """The activation found, in words: 'tanh', 'leaky ReLU (slope 0.01)'."""
    if act == "leaky_relu":
        return msg("framework.arch.act_leaky_relu_slope", slope=param if param is not None else 0.01)
    if act == "elu":
        return msg("framework.arch.act_elu_alpha", alpha=param if param is not None else 1.0)
    if act == "gelu_tanh":
        return msg("framework.arch.act_gelu_tanh")
    return _rubric_act_name(act)


def _rubric_act_name(name: str) -> Message:
    """A rubric activation name in words: 'ReLU', 'leaky ReLU'."""
    if name == "relu":
        return msg("framework.arch.act_relu")
    if name == "tanh":
        return msg("framework.arch.act_tanh")
    if name == "sigmoid":
        return msg("framework.arch.act_sigmoid")
    if name == "leaky_relu":
        return msg("framework.arch.act_leaky_relu")
    if name == "elu":
        return msg("framework.arch.act_elu")
    return msg("framework.arch.act_gelu")


def _accepted_msg(spec: FrameworkCheck) -> Arg:
    return _or([_rubric_act_name(a) for a in spec.accepted_activations])


# --------------------------------------------------------------------------- architecture: two layers


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


_Part = Literal["act", "b1", "b2"]
_Head = Literal["", "log_softmax", "softmax"]
_PARTS: tuple[_Part, ...] = ("act", "b1", "b2")
_HEADS: tuple[_Head, ...] = ("", "log_softmax", "softmax")


@dataclass(frozen=True)
class _Variant:
    """act(x W1 + b1) W2 + b2, or it without some of its parts, optionally followed by log_softmax or softmax.

    What is missing is what differs from the homework's layers (no activation at all is
    "no ReLU").  A softmax on the output is not a mistake here: the layers are right,
    and framework.model.forward already fails it (one bug, one failed check).
    """

    act: Act
    b1: bool
    b2: bool
    head: _Head

    @property
    def formula(self) -> str:
        inner = "x W1 + b1" if self.b1 else "x W1"
        name = "" if self.act == "none" else "gelu" if self.act == "gelu_tanh" else self.act
        out = f"{name}({inner}) W2" + (" + b2" if self.b2 else "")
        return f"{self.head}({out})" if self.head else out

    @property
    def missing(self) -> list[_Part]:
        return [p for p, present in zip(_PARTS, (self.act != "none", self.b1, self.b2)) if not present]

    def without(self, part: _Part) -> _Variant:
        """This variant with `part` left out."""
        return _Variant("none" if part == "act" else self.act, self.b1 and part != "b1", self.b2 and part != "b2", self.head)


# Fewest mistakes first, so a model is named by the smallest change that explains it.
_VARIANTS = sorted((_Variant(act, b1, b2, head) for act in _ACTS for b1, b2 in product((True, False), repeat=2) for head in _HEADS),
                   key=lambda v: (len(v.missing), _HEADS.index(v.head), _ACTS.index(v.act)))


@dataclass(frozen=True)
class _Tried:
    """Each variant's max relative difference on one reading, and the parameter fitted for it (leaky slope, ELU alpha)."""

    diff: dict[_Variant, float]
    param: dict[_Variant, float]


def _head(head: _Head, logits: np.ndarray) -> np.ndarray:
    if head == "softmax":
        return np.asarray(np.exp(_log_softmax(logits)))
    return _log_softmax(logits) if head == "log_softmax" else logits


def _logit_space(out: np.ndarray, head: _Head) -> np.ndarray | None:
    """The output as logits up to a constant per row (what a fit compares), or None when it cannot be."""
    if head != "softmax":
        return out
    if not np.all(out > 0):
        return None
    return np.asarray(np.log(out))


def _centred(a: np.ndarray) -> np.ndarray:
    return np.asarray(a - a.mean(axis=1, keepdims=True))


def _fit(y: np.ndarray | None, base: np.ndarray, basis: np.ndarray, act: Act) -> float | None:
    """The least-squares parameter p of y ~ base + p * basis (rows centred: log_softmax shifts rows), if plausible."""
    if y is None:
        return None
    m = _centred(basis)
    norm = float(np.sum(m * m))
    if not norm > 0 or not np.all(np.isfinite(y)):
        return None
    p = float(np.sum(_centred(y - base) * m)) / norm
    if act == "leaky_relu":  # a slope near 1 is no activation at all: that is the mistake "no ReLU"
        return p if 0.0 < p <= _MAX_SLOPE else None
    return p if 0.0 < p <= _MAX_ALPHA else None


def _try_variants(r: _Reading, x: np.ndarray, out: np.ndarray) -> _Tried:
    """Every variant that this reading can compute, compared with the output."""
    diff: dict[_Variant, float] = {}
    fitted: dict[_Variant, float] = {}
    with np.errstate(over="ignore", invalid="ignore"):
        for b1 in (True, False):
            if b1 and r.b1 is None:
                continue
            z = x @ r.w1 + (_vector(r.b1) if b1 and r.b1 else 0.0)
            hidden = {act: _activate(act, z, None) for act in _ACTS if act not in _FITTED}
            for b2 in (True, False):
                if b2 and r.b2 is None:
                    continue
                bias2 = _vector(r.b2) if b2 and r.b2 else 0.0
                for head in _HEADS:
                    for act in _ACTS:
                        v = _Variant(act, b1, b2, head)
                        if act in _FITTED:
                            base = np.maximum(z, 0.0) @ r.w2 + bias2
                            param = _fit(_logit_space(out, head), base, _fit_basis(act, z) @ r.w2, act)
                            if param is None:
                                continue
                            fitted[v] = param
                            logits = _activate(act, z, param) @ r.w2 + bias2
                        else:
                            logits = hidden[act] @ r.w2 + bias2
                        diff[v] = _rel_diff(out, _head(head, logits))
    return _Tried(diff, fitted)


# --------------------------------------------------------------------------- architecture: deeper models


@dataclass(frozen=True)
class _Layer:
    W: _Param
    w: np.ndarray
    """The weight in x @ w layout (in x out)."""
    b: _Param | None = None


@dataclass(frozen=True)
class _Deep:
    """A deeper model's recomputation: activation (and its parameter) between every two layers, and the head."""

    act: Act
    param: float | None
    head: _Head

    def formula(self, layers: Sequence[_Layer]) -> str:
        h = "x"
        name = "" if self.act == "none" else "gelu" if self.act == "gelu_tanh" else self.act
        for i, layer in enumerate(layers, start=1):
            s = f"{h} W{i}" + (f" + b{i}" if layer.b is not None else "")
            h = f"{name}({s})" if i < len(layers) else s
        return f"{self.head}({h})" if self.head else h

    def apply(self, layers: Sequence[_Layer], x: np.ndarray) -> np.ndarray:
        h = x
        for i, layer in enumerate(layers):
            h = h @ layer.w + (_vector(layer.b) if layer.b is not None else 0.0)
            if i < len(layers) - 1:
                h = _activate(self.act, h, self.param)
        return _head(self.head, h)


_DEEP_TRIES = tuple(_Deep(act, param, head) for head in _HEADS for act in _ACTS if act != "none"
                    for param in _DEEP_PARAMS.get(act, (None,)))


@dataclass(frozen=True)
class _DeepResult:
    layers: tuple[_Layer, ...]
    match: _Deep | None
    diff: dict[str, float]

    @property
    def sizes(self) -> tuple[int, ...]:
        return (int(self.layers[0].w.shape[0]), *(int(layer.w.shape[1]) for layer in self.layers))


def _chains(params: list[_Param]) -> list[list[_Layer]]:
    """Chains of 3 to _MAX_DEPTH weights, 784 -> a -> ... -> 10, each weight used once, in x @ W layout."""
    weights = [p for p in params if p.value.ndim == 2]
    chains: list[list[_Layer]] = []
    visits = [0]

    def grow(chain: list[_Layer], width: int) -> None:
        visits[0] += 1
        if len(chains) >= _MAX_CHAINS or visits[0] > _MAX_VISITS:
            return
        if width == _CLASSES and len(chain) >= 3:
            chains.append(list(chain))
        if len(chain) == _MAX_DEPTH:
            return
        for p in weights:
            if any(layer.W is p for layer in chain):
                continue
            rows, cols = p.value.shape
            for w in ([p.value] if rows == width else []) + ([p.value.T] if cols == width and rows != cols else []):
                grow([*chain, _Layer(p, w)], int(w.shape[1]))

    grow([], _PIXELS)
    return chains


def _bias_choices(layers: list[_Layer], params: list[_Param]) -> Iterator[tuple[_Layer, ...]]:
    """The chain with biases: each layer gets an unused bias of its width (the one declared right after its weight
    first) or none; choices with more biases first."""
    in_chain = {id(layer.W) for layer in layers}
    position = {id(p): i for i, p in enumerate(params)}
    options: list[list[_Param | None]] = []
    for layer in layers:
        width = int(layer.w.shape[1])
        fits = [p for p in params if id(p) not in in_chain and _is_bias(p, width)]
        after = position[id(layer.W)] + 1
        fits.sort(key=lambda p: (position[id(p)] != after, position[id(p)]))
        options.append([*fits[:3], None])  # at most 4 ** _MAX_DEPTH choices to order
    seen = 0
    for chosen in sorted(product(*options), key=lambda c: sum(b is None for b in c)):
        picked = [id(b) for b in chosen if b is not None]
        if len(picked) != len(set(picked)):
            continue
        yield tuple(_Layer(layer.W, layer.w, b) for layer, b in zip(layers, chosen))
        seen += 1
        if seen >= _MAX_BIAS_CHOICES:
            return


def _try_deep(params: list[_Param], x: np.ndarray, out: np.ndarray, rtol: float) -> _DeepResult | None:
    """The first chain and biases whose recomputation matches the output; else the first chain with its closest tries."""
    first: _DeepResult | None = None
    with np.errstate(over="ignore", invalid="ignore"):
        for chain in _chains(params):
            for layers in islice(_bias_choices(chain, params), _MAX_BIAS_CHOICES):
                diff: dict[str, float] = {}
                for t in _DEEP_TRIES:
                    d = _rel_diff(out, t.apply(layers, x))
                    diff[t.formula(layers)] = min(d, diff.get(t.formula(layers), np.inf))
                    if d <= rtol:
                        return _DeepResult(layers, t, diff)
                if first is None:
                    first = _DeepResult(layers, None, diff)
    return first


# --------------------------------------------------------------------------- architecture: the judge


def _judge_architecture(ctx: CheckContext[FrameworkCheck], probe: ProbeBatch, reply: Reply[FrameworkProbeResult]) -> CheckOutcome:
    """framework.model.architecture: the output is act(x W1 + b1) W2 + b2 of the model's own parameters.

    Reads the parameters by shape and finds the simplest formula the output matches
    within this check's own rtol; a deeper chain of weights is described.
    """
    rtol = ctx.spec.rtol
    expect(reply.values.batch == len(probe.x), "value 'batch'")
    params = _get_params(reply)
    ev = _Gathered({"seed": probe.seed, "rtol": rtol,
                    "parameters": tuple(ProbeParameter(name=p.name, shape=tuple(p.value.shape)) for p in params)})
    steps = reply.values.training_steps
    if steps:
        ev.fields["training_steps"] = {s.name: ("*",) if s.everything else s.paths for s in steps}
    out = _get_output(reply, len(probe.x), ev)
    if not params and reply.values.params_error is not None:
        raise ev.fail(reply.values.params_error.message, msg("framework.arch.no_w1_hint"))
    x = probe.x.reshape(len(probe.x), -1).astype(np.float64)
    readings = _get_readings(params)
    best = _best_reading(readings, [_try_variants(r, x, out) for r in readings], rtol) if readings else None
    match = None if best is None else _first_match(best[1].diff, rtol)
    if best is not None and match is not None:
        return _two_layer_verdict(ctx.spec, _VARIANTS[match], *best, params, ev, rtol)
    deep = _try_deep(params, x, out, rtol)
    if deep is not None and (deep.match is not None or best is None):
        _deep_verdict(deep, params, steps, ev)
    if best is None:
        _fail_no_reading(params, ev)
    reading, tried = best
    ev.fields |= _reading_evidence(reading, tried, params)
    raise ev.fail(_matches_none_msg(tried.diff, rtol), _matches_none_diagnosis(reading, params))


def _get_params(reply: Reply[FrameworkProbeResult]) -> list[_Param]:
    return [_Param(name, array(reply.result, f"param{i}")) for i, name in enumerate(reply.values.param_names)]


def _get_output(reply: Reply[FrameworkProbeResult], n: int, ev: _Gathered) -> np.ndarray:
    """The output of the instance whose parameters came back, if it is a finite (N, 10) array (older replies: the
    (N, 784) output, else the (N, 28, 28) one); fails when it changes between two calls."""
    order: tuple[ProbeLayout, ...] = (reply.values.params_of,) if reply.values.params_of else ("2d", "3d")
    for layout in order:
        out = reply.arrays.get(f"out_{layout}")
        if isinstance(out, np.ndarray) and out.shape == (n, _CLASSES) and np.all(np.isfinite(out)):
            ev.fields["output_of"] = _LAYOUT_TEXT[layout]
            again = _outputs_again(reply, layout, out)
            ev.details["relative_difference_between_calls"] = _number(again)
            if not again <= _AGREE_RTOL:
                raise ev.fail(msg("framework.arch.random", diff=_number(again)), None)
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


def _get_readings(params: list[_Param]) -> list[_Reading]:
    """Every way to read the parameters as W1, b1, W2, b2 by shape (none: no W1, or no W2 that fits one)."""
    readings: list[_Reading] = []
    for W1, w1, layout in _firsts(params):
        rest = [p for p in params if p is not W1]
        for W2, w2 in ((p, w) for p in rest for w in _second_layouts(p, int(w1.shape[1]))):
            left = [p for p in rest if p is not W2]
            b1s: list[_Param | None] = [p for p in left if _is_bias(p, int(w1.shape[1]))]
            for b1 in b1s or [None]:
                b2s: list[_Param | None] = [p for p in left if p is not b1 and _is_bias(p, _CLASSES)]
                readings.extend(_Reading(W1, w1, b1, W2, w2, b2, layout) for b2 in b2s or [None])
    return readings[:_MAX_READINGS]


def _firsts(params: list[_Param]) -> list[tuple[_Param, np.ndarray, Literal["torch", "tf"]]]:
    return [(p, w, layout) for p in params for w, layout in _first_layouts(p)]


def _fail_no_reading(params: list[_Param], ev: _Gathered) -> NoReturn:
    """No W1 at all, or no W2 that fits a W1 (and no deeper chain either)."""
    firsts = _firsts(params)
    if not firsts:
        folded = any(785 in p.value.shape for p in params)
        raise ev.fail(msg("framework.arch.no_w1", labels=_labels(params)),
                      msg("framework.arch.folded_bias_hint") if folded else msg("framework.arch.no_w1_hint"))
    hidden = sorted({int(w.shape[1]) for _, w, _ in firsts})
    raise ev.fail(msg("framework.arch.no_w2", hidden=_or([str(h) for h in hidden]), labels=_labels(params)),
                  msg("framework.arch.no_w2_hint"))


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
    Other activations differ from each other by far more than rtol on the probe's
    pre-activations (scale ~1.6): leaky ReLU of slope 0.01 from ReLU by ~0.5%, and
    GELU's tanh form from its erf form by ~1e-3 of a unit.
    """
    return next((i for i, v in enumerate(_VARIANTS) if v in diff and diff[v] <= rtol), None)


def _best_reading(readings: list[_Reading], tried: list[_Tried], rtol: float) -> tuple[_Reading, _Tried]:
    """The reading explained by the simplest variant; among those that match nothing, the closest one."""
    def rank(i: int) -> tuple[int, float]:
        match = _first_match(tried[i].diff, rtol)
        return (len(_VARIANTS) if match is None else match, min(tried[i].diff.values(), default=np.inf))

    best = min(range(len(readings)), key=rank)
    return readings[best], tried[best]


def _reading_evidence(r: _Reading, tried: _Tried, params: list[_Param]) -> dict[str, Any]:
    # Every ReLU and no-activation variant (the homework and its mistakes), and each other activation's closest.
    shown = {v: d for v, d in tried.diff.items() if v.act in ("relu", "none")}
    for act in _ACTS:
        of_act = [v for v in tried.diff if v.act == act and v not in shown]
        if of_act:
            v = min(of_act, key=lambda v: tried.diff[v] if np.isfinite(tried.diff[v]) else np.inf)
            shown[v] = tried.diff[v]
    return {
        "hidden": r.hidden,
        "layout": r.layout,
        "roles": {"W1": r.W1.label, "b1": r.b1.label if r.b1 else None, "W2": r.W2.label, "b2": r.b2.label if r.b2 else None},
        "extra_parameters": tuple(p.label for p in _extra(r.used(), params)),
        "max_relative_difference": {v.formula: _number(d) for v, d in shown.items()},
    }


def _number(d: float) -> float | str:
    """`d`, or 'inf' / 'nan': JSON has no such numbers, and result.json must read back (the gradebook does)."""
    return d if np.isfinite(d) else str(d)


def _extra(used: list[_Param], params: list[_Param]) -> list[_Param]:
    return [p for p in params if not any(p is u for u in used)]


# --------------------------------------------------------------------------- architecture verdicts


def _two_layer_verdict(spec: FrameworkCheck, variant: _Variant, r: _Reading, tried: _Tried, params: list[_Param],
                       ev: _Gathered, rtol: float) -> CheckOutcome:
    param = tried.param.get(variant)
    ev.fields |= _reading_evidence(r, tried, params)
    ev.fields |= {"formula": variant.formula, "activation": None if variant.act == "none" else _act_label(variant.act, param)}
    rejected = variant.act != "none" and _RUBRIC_NAME.get(variant.act, variant.act) not in spec.accepted_activations
    if variant.missing or rejected:
        message = _mistake_msg(variant) if variant.missing else None
        if rejected:
            name, accepted = _act_name(variant.act, param), _accepted_msg(spec)
            message = (msg("framework.arch.activation_rejected", name=name, accepted=accepted, formula=variant.formula)
                       if message is None else msg("framework.arch.activation_rejected_and", name=name, accepted=accepted, rest=message))
        diagnosis = _mistake_diagnosis(variant, r)
        if rejected:
            hint = msg("framework.arch.activation_hint", accepted=_accepted_msg(spec))
            diagnosis = hint if diagnosis is None else _as_message(_clauses([hint, diagnosis]))
        raise ev.fail(message, diagnosis)  # type: ignore[arg-type]  # a rejected activation or a mistake: a message
    return CheckOutcome(id=ARCHITECTURE_ID, status="passed", evidence=ev.evidence(),
                        message=_passed_msg(spec, variant, param, r, tried.diff, params, rtol))


def _deep_verdict(deep: _DeepResult, params: list[_Param], steps: tuple[TrainingStep, ...], ev: _Gathered) -> NoReturn:
    """A model of 3 or more weight layers fails: the assignment asks for two; say what it has and what trains it."""
    layers = deep.layers
    used = [p for layer in layers for p in (layer.W, layer.b) if p is not None]
    ev.fields |= {"layer_sizes": deep.sizes, "extra_parameters": tuple(p.label for p in _extra(used, params)),
                  "roles": {f"{role}{i}": (p.label if p is not None else None) for i, layer in enumerate(layers, start=1)
                            for role, p in (("W", layer.W), ("b", layer.b))},
                  "max_relative_difference": {f: _number(d) for f, d in sorted(deep.diff.items(), key=lambda i: _sort_key(i[1]))[:12]}}
    sizes = " -> ".join(str(s) for s in deep.sizes)
    if deep.match is not None:
        match = deep.match
        ev.fields |= {"formula": match.formula(layers), "activation": _act_label(match.act, match.param)}
        clauses: list[Arg] = [msg("framework.arch.deep", count=len(layers), sizes=sizes, act=_act_name(match.act, match.param))]
    else:
        clauses = [msg("framework.arch.deep_by_shape", count=len(layers), sizes=sizes)]
    step = _step_msg(steps, layers)
    if step is not None:
        clauses.append(step)
    raise ev.fail(_as_message(_clauses(clauses)), msg("framework.arch.deep_hint"))


def _sort_key(d: float) -> float:
    return d if np.isfinite(d) else np.inf


# --------------------------------------------------------------------------- the student's own training step


def _normalised(path: str) -> str:
    """'layers[0].weight' and "layers['a']" as the worker writes paths: 'layers.0.weight', 'layers.a'."""
    return re.sub(r"\[\s*['\"]?([^\]'\"]*)['\"]?\s*\]", r".\1", path)


def _lists(step: TrainingStep, p: _Param) -> bool:
    """Whether the step's variable list holds parameter `p`: its path, or an object (a layer) that holds it.

    A path is tried without its first parts too: `self.model.W1` in a trainer names the model's W1.
    """
    name = _normalised(p.name)
    for path in step.paths:
        parts = _normalised(path).split(".")
        for i in range(len(parts)):
            prefix = ".".join(parts[i:])
            if prefix and (name == prefix or name.startswith(prefix + ".")):
                return True
    return False


def _step_msg(steps: tuple[TrainingStep, ...], layers: Sequence[_Layer]) -> Message | None:
    """What the student's own training step updates of a deeper model's layers, if a step names them."""
    chain = [(i, p) for i, layer in enumerate(layers) for p in (layer.W, layer.b) if p is not None]
    for step in steps:
        if step.everything:
            return msg("framework.arch.step_all", step=verbatim(step.name))
        listed = [(i, p) for i, p in chain if _lists(step, p)]
        if not listed or step.unknown:
            continue
        left = [(i, p) for i, p in chain if not any(p is q for _, q in listed)]
        if not left:
            return msg("framework.arch.step_all", step=verbatim(step.name))
        trained = verbatim(", ".join(p.name for _, p in listed))
        untrained = verbatim(", ".join(p.name for _, p in left))
        if all(i >= 2 for i, _ in left):
            return msg("framework.arch.step_extra_untrained", step=verbatim(step.name), trained=trained, untrained=untrained)
        return msg("framework.arch.step_untrained", step=verbatim(step.name), trained=trained, untrained=untrained)
    return None


# --------------------------------------------------------------------------- architecture messages


def _labels(params: list[_Param]) -> Arg:
    """"['fc1.weight' (100, 784), ...]": the student's parameter names, quoted as they are."""
    return verbatim("[" + ", ".join(p.label for p in params) + "]")


def _passed_msg(spec: FrameworkCheck, variant: _Variant, param: float | None, r: _Reading, diff: dict[_Variant, float],
                params: list[_Param], rtol: float) -> Message:
    layout = msg("framework.arch.layout_torch", hidden=r.hidden) if r.layout == "torch" else msg("framework.arch.layout_tf", hidden=r.hidden)
    clauses: list[Arg] = [msg("framework.arch.passed", formula=variant.formula, hidden=r.hidden, layout=layout)]
    if variant.act != "relu":
        clauses.append(msg("framework.arch.activation_accepted", name=_act_name(variant.act, param), accepted=_accepted_msg(spec)))
    unverified = [part for part in _PARTS if diff.get(variant.without(part), np.inf) <= rtol]
    if unverified:
        clauses.append(_unverified_msg(unverified, r, variant, param))
    if variant.head == "softmax":
        clauses.append(msg("framework.arch.then_softmax"))
    extra = _extra(r.used(), params)
    if extra:
        clauses.append(msg("framework.arch.extra_unused", labels=_labels(extra)))
    return _as_message(_clauses(clauses))


def _unverified_msg(parts: list[_Part], r: _Reading, variant: _Variant, param: float | None) -> Message:
    """'whether the forward uses b1 and b2 cannot be seen: they are all zeros at initialisation'."""
    biases = {"b1": r.b1, "b2": r.b2}
    zeros = all(p != "act" and (b := biases[p]) is not None and not np.any(b.value) for p in parts)
    names: list[Arg] = [_the_activation(variant, param) if p == "act" else p for p in parts]
    one = len(parts) == 1
    if zeros:
        why = msg("framework.arch.zero_one") if one else msg("framework.arch.zero_many")
    else:
        why = msg("framework.arch.no_effect_one") if one else msg("framework.arch.no_effect_many")
    return msg("framework.arch.unverified", names=_and(names), why=why)


def _the_activation(variant: _Variant, param: float | None) -> Message:
    if variant.act == "relu":
        return msg("framework.arch.the_relu")
    return msg("framework.arch.the_activation", name=_act_name(variant.act, param))


def _mistake_msg(variant: _Variant) -> Message:
    """'the model has no ReLU between the two layers; the first layer has no bias b1: it computes (x W1) W2 + b2'.

    The last mistake carries the formula; each earlier one is said before it.  b2 is
    the last of _PARTS, so only the activation and b1 can come before another mistake.
    """
    *earlier, last = variant.missing
    formula = variant.formula
    if last == "act":
        message = msg("framework.arch.no_relu", formula=formula)
    elif last == "b1":
        message = msg("framework.arch.no_b1", formula=formula)
    else:
        message = msg("framework.arch.no_b2", formula=formula)
    for part in reversed(earlier):
        message = msg("framework.arch.no_relu_and", rest=message) if part == "act" else msg("framework.arch.no_b1_and", rest=message)
    return message


def _mistake_diagnosis(variant: _Variant, r: _Reading) -> Message | None:
    fixes: list[Arg] = [msg("framework.forward.probabilities_hint")] if variant.head == "softmax" and variant.missing else []
    for part in variant.missing:
        if part == "act":
            fixes.append(msg("framework.arch.no_relu_hint"))
            continue
        declared = r.b1 if part == "b1" else r.b2
        if declared is not None:
            fixes.append(msg("framework.arch.bias_unused", label=verbatim(declared.label), part=part))
        elif part == "b1":
            fixes.append(msg("framework.arch.declare_b1"))
        else:
            fixes.append(msg("framework.arch.declare_b2"))
    return _as_message(_clauses(fixes)) if fixes else None


def _matches_none_msg(diff: dict[_Variant, float], rtol: float) -> Message:
    closest = min(diff, key=lambda v: diff[v] if np.isfinite(diff[v]) else np.inf)  # nan compares as nothing: last
    return msg("framework.arch.matches_none", formula=closest.formula, diff=_number(diff[closest]), rtol=rtol)


def _matches_none_diagnosis(r: _Reading, params: list[_Param]) -> Message:
    extra = _extra(r.used(), params)
    hint = msg("framework.arch.matches_none_hint")
    return _as_message(_clauses([hint, msg("framework.arch.extra_used", labels=_labels(extra))])) if extra else hint


# --------------------------------------------------------------------------- registry entries

FORWARD: CheckDef[FrameworkCheck, ProbeBatch, FrameworkForwardResult] = CheckDef(
    id=FORWARD_ID, part="framework", needs=("myModel",), spec=FrameworkCheck, default=None,
    plan=plan_probe, result=FrameworkForwardResult, judge=_judge_forward, narrow=False, module=__name__,
)
"""framework.model.forward: runs the probe.  Not narrowed: the worker reads the part's other functions (it
never calls them) for the student's own training step, which the model does not use."""

ARCHITECTURE: CheckDef[FrameworkCheck, ProbeBatch, FrameworkProbeResult] = CheckDef(
    id=ARCHITECTURE_ID, part="framework", needs=("myModel",), spec=FrameworkCheck, default=None,
    plan=plan_probe, result=FrameworkProbeResult, judge=_judge_architecture,
    after=(FORWARD_ID,), share_run=FORWARD_ID, narrow=False, module=__name__,
)
"""framework.model.architecture: judges the forward check's probe again, with its own rtol."""
