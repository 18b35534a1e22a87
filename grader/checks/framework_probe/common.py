"""The probe judges' shared pieces: the plan's state, the evidence being gathered, joining clauses, numbers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import JsonValue

from ...evidence.probe import ProbeEvidence
from ...text import Arg, Message, msg
from ..outcome import CheckFailed, expect
from .results import InferenceMode, ProbeCall

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


# --------------------------------------------------------------------------- plan (both checks)


@dataclass(frozen=True)
class ProbeBatch:
    """The judges' state: the batch the worker was sent (the architecture judge recomputes the forward on it)."""

    x: np.ndarray
    seed: int
    framework: Literal["pytorch", "tensorflow"] = "pytorch"



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


def _calls_differ(probed: ProbeCall) -> float:
    """The relative difference between the two calls of one instance on one batch."""
    assert probed.out is not None  # callers judge calls that returned
    again = probed.again
    expect(again is not None and again.shape == probed.out.shape, f"value 'again' of shape {probed.out.shape}")
    assert again is not None  # expect raised otherwise
    return _rel_diff(again, probed.out)


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


def _rel_diff(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| relative to the largest |entry| of either (0 when both are all zeros)."""
    with np.errstate(over="ignore", invalid="ignore"):
        scale = max(float(np.max(np.abs(got), initial=0.0)), float(np.max(np.abs(want), initial=0.0)), 1e-300)
        return float(np.max(np.abs(got - want), initial=0.0)) / scale


def _number(d: float) -> float | str:
    """`d`, or 'inf' / 'nan': JSON has no such numbers, and result.json must read back (the gradebook does)."""
    return d if np.isfinite(d) else str(d)


