"""Reading the parameters as W1, b1, W2, b2 by shape and recomputing act(x W1 + b1) W2 + b2 and its usual mistakes."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Any, Literal

import numpy as np

from .common import _CLASSES, _MAX_READINGS, _PIXELS, _number, _rel_diff
from .activations import Act, _ACTS, _FITTED, _MAX_ALPHA, _MAX_SLOPE, _activate, _fit_basis


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


def _extra(used: list[_Param], params: list[_Param]) -> list[_Param]:
    return [p for p in params if not any(p is u for u in used)]


