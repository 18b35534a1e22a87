"""framework.model.architecture: the output is act(x W1 + b1) W2 + b2 of the model's own parameters."""

from __future__ import annotations

from typing import NoReturn

import numpy as np

from ...evidence.probe import ProbeParameter
from ...records import CheckOutcome
from .spec import FrameworkCheck
from ...text import Arg, msg
from ..framework_layouts import LAYOUT_TEXT, Layout
from ..outcome import expect
from ..registry import CheckContext, Reply
from .results import FrameworkProbeResult, TrainingStep
from .common import (ARCHITECTURE_ID, ProbeBatch, _AGREE_RTOL, _CLASSES, _Gathered, _as_message, _clauses, _number, _or,
                     _calls_differ)
from .activations import _RUBRIC_NAME, _accepted_msg, _act_label, _act_name
from .two_layer import (_Param, _Reading, _Tried, _VARIANTS, _Variant, _best_reading, _extra, _first_match, _firsts,
                        _get_readings, _reading_evidence, _try_variants)
from .deep import _DeepResult, _try_deep
from .wording import _labels, _matches_none_diagnosis, _matches_none_msg, _mistake_diagnosis, _mistake_msg, _passed_msg, _step_msg


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
    return [_Param(p.name, p.value) for p in reply.values.params]


def _get_output(reply: Reply[FrameworkProbeResult], n: int, ev: _Gathered) -> np.ndarray:
    """The output of the instance whose parameters came back, if it is a finite (N, 10) array (a reply without
    `params_of`: the (N, 784) output, else the (N, 28, 28) one); fails when it changes between two calls."""
    order: tuple[Layout, ...] = (reply.values.params_of,) if reply.values.params_of else ("2d", "3d")
    for layout in order:
        probed = reply.values.of(layout)
        out = probed.out
        if out is not None and out.shape == (n, _CLASSES) and np.all(np.isfinite(out)):
            ev.fields["output_of"] = LAYOUT_TEXT[layout]
            again = _calls_differ(probed)
            ev.details["relative_difference_between_calls"] = _number(again)
            if not again <= _AGREE_RTOL:
                raise ev.fail(msg("framework.arch.random", diff=_number(again)), None)
            return out
    raise ev.fail(msg("framework.arch.no_output", n=n), None)


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


