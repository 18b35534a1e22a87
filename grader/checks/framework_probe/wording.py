"""The architecture verdicts in words: passed, mistakes, what the student's own training step updates."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from .spec import FrameworkCheck
from ...text import Arg, Message, msg, verbatim
from ..framework_layouts import accepted
from .results import TrainingStep
from .common import _and, _as_message, _clauses, _number
from .activations import _accepted_msg, _act_name
from .two_layer import _PARTS, _Param, _Part, _Reading, _Variant, _extra
from .deep import _Layer


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


