"""Deeper models: chains of 3 to 6 weights 784 -> ... -> 10, recomputed layer by layer."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice, product

import numpy as np

from .common import _CLASSES, _MAX_BIAS_CHOICES, _MAX_CHAINS, _MAX_DEPTH, _MAX_VISITS, _PIXELS, _rel_diff
from .activations import Act, _ACTS, _DEEP_PARAMS, _activate
from .two_layer import _HEADS, _Head, _Param, _head, _is_bias, _vector


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


