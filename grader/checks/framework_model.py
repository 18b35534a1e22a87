"""framework.model.forward and framework.model.architecture: the student's framework `myModel`, probed once.

One worker run (task `framework_probe`) calls a fresh, seeded `myModel` on the
grader's batch as (N, 28, 28) images and as (N, 784) rows, and returns both
outputs and every trainable parameter as float64 arrays.  Both checks judge
that one result here:

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
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Any, Literal

import numpy as np

from ..models import CheckOutcome, CodePart, RunResult
from ..rubric import FrameworkCheck, Limits
from ..sandbox import Job, Runner
from .outcome import CheckFailed, array, error_outcome, evaluate, expect, skipped, value
from .training import TF_INSTALL_HINT, tensorflow_installed

FORWARD_ID = "framework.model.forward"
ARCHITECTURE_ID = "framework.model.architecture"

_PIXELS = 784
_CLASSES = 10
_SKIPPED = "skipped"  # a RunResult value: the probe did not run, and why
_MAX_READINGS = 64  # ways to read the parameters as W1, b1, W2, b2; more only with many look-alike extras

# Probability rows sum to 1 up to float32 rounding of 10 terms (~1e-6); 1e-3 also
# accepts a softmax with the template's epsilon = 1e-12 in the partition.
_SUM_TOL = 1e-3
# The (N, 28, 28) and (N, 784) calls run the same float32 arithmetic; only BLAS
# blocking may differ, which moves outputs by ~1e-7 of their scale.
_AGREE_RTOL = 1e-4

FULL = "relu(x W1 + b1) W2 + b2"
_RESHAPE_HINT = (
    "flatten inside the model before the first layer with x = x.reshape(-1, 784) "
    "(tf.reshape(x, (-1, 784)) in TensorFlow), which accepts both (N, 28, 28) and (N, 784)"
)
_PROBABILITIES = "return the logits (the loss applies softmax itself)"
_NOT_FLAT = "the model did not flatten the images: each row of 28 pixels went through the layers separately; " + _RESHAPE_HINT
_NON_FINITE = (
    "a log of a softmax that underflows to 0 gives -inf (use log_softmax), and huge initial weights overflow exp; "
    "check every exp, log and division in the forward"
)
_DISAGREE = (
    "the model must be deterministic and flatten each image in row order (x.reshape(-1, 784)); "
    "dropout, random noise or a transpose before flattening make the two outputs differ"
)
_NO_W1 = "the first layer takes the 784 pixels of a flattened image: W1 of shape 784 x H (nn.Linear(784, H) in PyTorch)"
_FOLDED_BIAS = "a 785-row W1 folds the bias into the weight as the numpy part does; here use a 784 x H W1 and a separate bias b1"
_NO_W2 = "the second layer maps the H hidden units to the 10 digit scores: W2 of shape H x 10 (nn.Linear(H, 10) in PyTorch)"
_NO_RELU_FIX = (
    "apply the ReLU to the hidden layer, h = relu(x W1 + b1) (torch.relu / tf.nn.relu), before the second layer; "
    "without it the two layers collapse into one linear map"
)
_MATCHES_NONE = (
    "the forward computes something else with these parameters: check the activation (ReLU, not sigmoid or tanh), "
    "the order of the layers, and the transposes"
)


# --------------------------------------------------------------------------- running


def run_probe(part: CodePart, rc: FrameworkCheck, limits: Limits, runner: Runner) -> tuple[RunResult, np.ndarray]:
    """Run the student's framework `myModel` once on the grader's batch.

    Args:
        part: the framework part; `part.framework` picks PyTorch or TensorFlow.
        rc: the check's spec; `rc.seed` (resolved) seeds the batch and the model, `rc.batch` is N.
        limits: resource limits of the worker.
        runner: runs the worker.

    Returns:
        The worker's result, judged by `judge_forward` and `judge_architecture`, and the
        batch x of shape (N, 28, 28) it was sent.  Without TensorFlow installed, a
        TensorFlow part is not run and both judges report the check as skipped.
    """
    x = np.random.default_rng(rc.run_seed).random((rc.batch, 28, 28), dtype=np.float32)  # pixels in [0, 1)
    if part.framework == "tensorflow" and not tensorflow_installed():
        reason = f"this submission's framework part is TensorFlow, which is not installed: {TF_INSTALL_HINT}"
        return RunResult("framework_probe", values={_SKIPPED: reason}), x
    params = {"framework": part.framework, "seed": rc.run_seed, "threads": limits.threads}
    job = Job(task="framework_probe", units=part.units, supplied_imports=part.supplied_imports, params=params)
    return runner.run(job, {"x": x}, limits, phase="forward"), x


def judge_forward(result: RunResult) -> CheckOutcome:
    """framework.model.forward: both input shapes give the same finite (N, 10) logits or log-probabilities."""
    return _unusable(FORWARD_ID, result) or evaluate(FORWARD_ID, result, lambda: _judge_forward(result))


def judge_architecture(result: RunResult, x: np.ndarray, rc: FrameworkCheck) -> CheckOutcome:
    """framework.model.architecture: the output is relu(x W1 + b1) W2 + b2 of the model's own parameters."""
    return _unusable(ARCHITECTURE_ID, result) or evaluate(ARCHITECTURE_ID, result, _ArchitectureJudge(result, x, rc).judge)


def _unusable(check_id: str, result: RunResult) -> CheckOutcome | None:
    """The outcome when the probe did not run or gave no usable answer (the model could not be built)."""
    if _SKIPPED in result.values:
        return skipped(check_id, str(result.values[_SKIPPED]))
    return error_outcome(check_id, result) if result.error else None


# --------------------------------------------------------------------------- forward


def _judge_forward(result: RunResult) -> CheckOutcome:
    n = value(result, "batch", int)
    shapes = {"3d": (n, 28, 28), "2d": (n, _PIXELS)}
    evidence: dict[str, Any] = {"batch": n, "output_shapes": {_shape_text(shapes[k]): result.values.get(f"shape_{k}") for k in shapes}}
    _check_accepted(result, shapes, evidence)
    outs = {k: array(result, f"out_{k}") for k in shapes}
    for k, out in outs.items():
        _check_output(out, shapes[k], str(result.values.get(f"type_{k}", "")), evidence)
    evidence["relative_difference_between_shapes"] = diff = _rel_diff(outs["3d"], outs["2d"])
    if diff > _AGREE_RTOL:
        msg = (f"myModel gives different outputs for the same images as {_shape_text(shapes['3d'])} and as "
               f"{_shape_text(shapes['2d'])}: max difference {diff:.3g} relative to the largest output (allowed {_AGREE_RTOL:g})")
        raise CheckFailed(msg, _DISAGREE, evidence)
    kind = _output_kind(outs["2d"], evidence)
    return CheckOutcome(id=FORWARD_ID, status="passed", evidence=evidence | {"output_kind": kind},
                        message=f"myModel accepts {_shape_text(shapes['3d'])} and {_shape_text(shapes['2d'])} input and "
                                f"returns the same finite ({n}, 10) {_kind_msg(kind)} for both")


def _check_accepted(result: RunResult, shapes: dict[str, tuple[int, ...]], evidence: dict[str, Any]) -> None:
    errors = {k: value(result, f"error_{k}", str) for k in shapes if f"error_{k}" in result.values}
    if not errors:
        return
    evidence["errors"] = {_shape_text(shapes[k]): e for k, e in errors.items()}
    if len(errors) == len(shapes):
        msg = f"myModel rejects both {_shape_text(shapes['3d'])} and {_shape_text(shapes['2d'])} input: {errors['3d']}"
        raise CheckFailed(msg, f"the forward fails before returning; fix the error above, and {_RESHAPE_HINT}", evidence)
    bad = next(iter(errors))
    good = "2d" if bad == "3d" else "3d"
    what = "images" if bad == "3d" else "flattened images"
    msg = f"myModel rejects a batch of {what} of shape {_shape_text(shapes[bad])} ({_shape_text(shapes[good])} is accepted): {errors[bad]}"
    raise CheckFailed(msg, _RESHAPE_HINT, evidence)


def _check_output(out: np.ndarray, in_shape: tuple[int, ...], type_name: str, evidence: dict[str, Any]) -> None:
    n = in_shape[0]
    if type_name in ("tuple", "list"):
        msg = f"myModel returns a {type_name} (read as shape {out.shape}) for input of shape {_shape_text(in_shape)}; expected one ({n}, 10) tensor"
        raise CheckFailed(msg, "return only the logits tensor, not several values; compute anything else outside the model", evidence)
    if out.shape != (n, _CLASSES):
        msg = f"myModel returns shape {out.shape} for input of shape {_shape_text(in_shape)}; expected ({n}, 10), one row of 10 digit scores per image"
        raise CheckFailed(msg, _shape_diagnosis(out.shape, n), evidence)
    bad = int(np.sum(~np.isfinite(out)))
    if bad:
        msg = f"myModel's output for input of shape {_shape_text(in_shape)} has {bad} NaN or infinite entries (of {out.size})"
        raise CheckFailed(msg, _NON_FINITE, evidence)


def _shape_diagnosis(shape: tuple[int, ...], n: int) -> str:
    if shape == (n * 28, _CLASSES):
        return _NOT_FLAT
    if shape == (_CLASSES, n):
        return "the output is transposed: return (N, 10), one row per image"
    if len(shape) <= 1 or shape == (n, 1):
        return "the model returns one number per batch or per image (a loss or a predicted class?); return the 10 logits of every image"
    if len(shape) == 2 and shape[0] == n:
        return f"the last layer has {shape[1]} outputs; it must have 10, one per digit"
    return "return one row of 10 logits per image: shape (N, 10)"


def _output_kind(out: np.ndarray, evidence: dict[str, Any]) -> Literal["logits", "log-probabilities"]:
    """Logits or log-probabilities; softmax probabilities fail (the loss would apply softmax twice)."""
    sums = out.sum(axis=1)
    evidence["row_sums"] = np.round(sums, 6).tolist()
    if np.all(np.abs(sums - 1) <= _SUM_TOL) and np.all((out >= 0) & (out <= 1)):
        raise CheckFailed("myModel returns softmax probabilities: every row is in [0, 1] and sums to 1", _PROBABILITIES, evidence)
    with np.errstate(over="ignore"):  # large logits overflow exp to inf: not log-probabilities, as intended
        exp_sums = np.exp(out).sum(axis=1)
    return "log-probabilities" if np.all(np.abs(exp_sums - 1) <= _SUM_TOL) else "logits"


def _kind_msg(kind: str) -> str:
    if kind == "logits":
        return "logits"
    return "log-probabilities (log_softmax; accepted: cross-entropy treats them exactly like logits)"


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
    """relu(x W1 + b1) W2 + b2, or it without some of its parts, optionally followed by log_softmax or softmax."""

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

    @property
    def mistakes(self) -> list[str]:
        """What differs from the homework's layers, in a student's words.

        A softmax on the output is not one: the layers are right, and
        framework.model.forward already fails it (one bug, one failed check).
        """
        return [_MISSING_MSG[p] for p in self.missing]

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
_MISSING_MSG = {
    "relu": "the model has no ReLU between the two layers",
    "b1": "the first layer has no bias b1",
    "b2": "the second layer has no bias b2",
}
_UNVERIFIED = {"relu": "the ReLU", "b1": "b1", "b2": "b2"}


@dataclass(frozen=True)
class _ArchitectureJudge:
    """Reads the parameters by shape and finds the formula the model's output matches."""

    result: RunResult
    x: np.ndarray
    rc: FrameworkCheck

    def judge(self) -> CheckOutcome:
        params = self._get_params()
        evidence: dict[str, Any] = {"seed": self.rc.seed, "rtol": self.rc.rtol,
                                    "parameters": [{"name": p.name, "shape": list(p.value.shape)} for p in params]}
        out = self._get_output(evidence)
        if not params and "params_error" in self.result.values:
            raise CheckFailed(value(self.result, "params_error", str), _NO_W1, evidence)
        readings = _get_readings(params, evidence)
        x = self.x.reshape(len(self.x), -1).astype(np.float64)
        diffs = [{v: _rel_diff(out, want) for v in _VARIANTS if (want := v.apply(r, x)) is not None} for r in readings]
        reading, diff = _best_reading(readings, diffs, self.rc.rtol)
        evidence |= _reading_evidence(reading, diff, params)
        match = _first_match(diff, self.rc.rtol)
        if match is None:
            raise CheckFailed(_matches_none_msg(diff, self.rc.rtol), _matches_none_diagnosis(reading, params), evidence)
        variant = _VARIANTS[match]
        if variant.mistakes:
            raise CheckFailed(_mistake_msg(variant), _mistake_diagnosis(variant, reading), evidence)
        return CheckOutcome(id=ARCHITECTURE_ID, status="passed", evidence=evidence,
                            message=_passed_msg(variant, reading, diff, params, self.rc.rtol))

    def _get_params(self) -> list[_Param]:
        names = value(self.result, "param_names", list)
        expect(all(isinstance(name, str) for name in names), "value 'param_names' (names)")
        return [_Param(name, array(self.result, f"param{i}")) for i, name in enumerate(names)]

    def _get_output(self, evidence: dict[str, Any]) -> np.ndarray:
        """The (N, 784) output, else the (N, 28, 28) one: the first that is a finite (N, 10) array."""
        for key in ("out_2d", "out_3d"):
            out = self.result.arrays.get(key)
            if out is not None and out.shape == (len(self.x), _CLASSES) and np.all(np.isfinite(out)):
                evidence["output_of"] = "(N, 784) input" if key == "out_2d" else "(N, 28, 28) input"
                return out
        msg = (f"cannot check the architecture: myModel gave no finite ({len(self.x)}, 10) output for either input shape; "
               f"see {FORWARD_ID}")
        raise CheckFailed(msg, None, evidence)


def _vector(p: _Param) -> np.ndarray:
    return p.value.reshape(-1)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=1, keepdims=True)
    return np.asarray(shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)))


def _is_bias(p: _Param, size: int) -> bool:
    """Shape (size,) or a row (1, size)."""
    return p.value.shape in ((size,), (1, size))


def _get_readings(params: list[_Param], evidence: dict[str, Any]) -> list[_Reading]:
    """Every way to read the parameters as W1, b1, W2, b2 by shape; raises when W1 or W2 is missing."""
    firsts = [(p, w, layout) for p in params for w, layout in _first_layouts(p)]
    if not firsts:
        raise CheckFailed(_no_w1_msg(params), _FOLDED_BIAS if any(785 in p.value.shape for p in params) else _NO_W1, evidence)
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
        raise CheckFailed(_no_w2_msg(firsts, params), _NO_W2, evidence)
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
        "extra_parameters": [p.label for p in _extra(r, params)],
        "max_relative_difference": {v.formula: d for v, d in diff.items()},
    }


def _extra(r: _Reading, params: list[_Param]) -> list[_Param]:
    used = r.used()
    return [p for p in params if not any(p is u for u in used)]


# --------------------------------------------------------------------------- architecture messages


def _labels(params: list[_Param]) -> str:
    return "[" + ", ".join(p.label for p in params) + "]"


def _no_w1_msg(params: list[_Param]) -> str:
    return (f"found no 784 x H weight (or H x 784, the nn.Linear layout) among myModel's trainable parameters: "
            f"found {_labels(params)}")


def _no_w2_msg(firsts: list[tuple[_Param, np.ndarray, Literal["torch", "tf"]]], params: list[_Param]) -> str:
    hidden = sorted({int(w.shape[1]) for _, w, _ in firsts})
    return (f"found no H x 10 weight (or 10 x H) for H = {' or '.join(map(str, hidden))} among myModel's trainable parameters: "
            f"found {_labels(params)}")


def _layout_text(r: _Reading) -> str:
    if r.layout == "torch":
        return f"W1 stored as {r.hidden} x 784, the nn.Linear layout"
    return f"W1 stored as 784 x {r.hidden}"


def _passed_msg(variant: _Variant, r: _Reading, diff: dict[_Variant, float], params: list[_Param], rtol: float) -> str:
    msg = f"myModel computes {variant.formula} with H = {r.hidden} hidden units ({_layout_text(r)})"
    unverified = [part for part in _PARTS if diff.get(variant.without(part), np.inf) <= rtol]
    if unverified:
        msg += _unverified_msg(unverified, r)
    if variant.head == "softmax":
        msg += "; its output then goes through a softmax, which framework.model.forward reports"
    extra = _extra(r, params)
    if extra:
        msg += f"; extra parameters not used by {FULL}: {_labels(extra)}"
    return msg


def _unverified_msg(parts: list[_Part], r: _Reading) -> str:
    """'; whether the forward adds b1 and b2 cannot be seen: they are all zeros at initialisation'."""
    biases = {"b1": r.b1, "b2": r.b2}
    zeros = all(p != "relu" and (b := biases[p]) is not None and not np.any(b.value) for p in parts)
    names = " and ".join(_UNVERIFIED[p] for p in parts)
    they = "it is" if len(parts) == 1 else "they are"
    why = f"{they} all zeros at initialisation" if zeros else f"{they} without effect on the output at this initialisation"
    return f"; whether the forward uses {names} cannot be seen: {why}"


def _mistake_msg(variant: _Variant) -> str:
    return "; ".join(variant.mistakes) + f": it computes {variant.formula}"


def _mistake_diagnosis(variant: _Variant, r: _Reading) -> str:
    fixes = [_PROBABILITIES] if variant.head == "softmax" else []
    for part in variant.missing:
        if part == "relu":
            fixes.append(_NO_RELU_FIX)
            continue
        declared, where, size = (r.b1, "first", "H") if part == "b1" else (r.b2, "second", "10")
        if declared is not None:
            fixes.append(f"{declared.label} is declared but the forward never adds it as {part}: {FULL}")
        else:
            fixes.append(f"declare a bias of shape ({size},) for the {where} layer and add it (nn.Linear has one unless bias=False): {FULL}")
    return "; ".join(fixes)


def _matches_none_msg(diff: dict[_Variant, float], rtol: float) -> str:
    closest = min(diff, key=lambda v: diff[v])
    return (f"the output matches none of {FULL} and its variants without ReLU, b1 or b2, with or without (log_)softmax: "
            f"closest is {closest.formula} with max difference {diff[closest]:.3g} relative to the largest output (allowed {rtol:g})")


def _matches_none_diagnosis(r: _Reading, params: list[_Param]) -> str:
    extra = _extra(r, params)
    return _MATCHES_NONE + (f"; the forward may also use the extra parameters {_labels(extra)}" if extra else "")
