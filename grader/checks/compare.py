"""Comparing a student's array with the expected one, and naming the likely mistake.

Relative error is elementwise with a floor, CS231n style:

    err_i = |got_i - want_i| / max(|got_i|, |want_i|, floor * max|want|)

Worked example: want = [2.0, 1e-9], got = [2.0, 0.0], floor = 1e-6.
Entry 1: |1e-9| / max(0, 1e-9, 2e-6) = 5e-4, so a gradient entry that should be
~0 is judged against the array's scale, not against itself (a finite
difference cannot resolve 1e-9 exactly), while a real mistake on a large
entry gives err ~ 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_EXCERPT = 4


@dataclass(frozen=True)
class Comparison:
    """How `got` differs from `want`; `ok` when every entry is within `rtol`."""

    ok: bool
    max_err: float
    mismatched: int
    total: int
    worst: tuple[int, ...]
    want_at_worst: float
    got_at_worst: float

    def summary(self, rtol: float) -> str:
        """'3 / 12 entries differ; worst at [1, 2]: expected 0.5, got -0.5 (relative error 2, allowed 1e-06)'."""
        return (
            f"{self.mismatched} / {self.total} entries differ; worst at {list(self.worst)}: "
            f"expected {self.want_at_worst:.6g}, got {self.got_at_worst:.6g} "
            f"(relative error {self.max_err:.2g}, allowed {rtol:g})"
        )

    def evidence(self) -> dict[str, object]:
        """JSON-able numbers for result.json."""
        return {
            "max_rel_err": self.max_err,
            "mismatched": self.mismatched,
            "total": self.total,
            "worst_index": list(self.worst),
            "expected_at_worst": self.want_at_worst,
            "got_at_worst": self.got_at_worst,
        }


def relative_error(got: np.ndarray, want: np.ndarray, floor: float, atol: float | np.ndarray = 0.0) -> np.ndarray:
    """Elementwise relative error with a floor relative to the scale of `want` (see module doc).

    `atol` is subtracted from each difference first: the part of it a correct
    formula may legitimately differ by (e.g. the template's epsilon in Softmax).
    """
    scale = max(float(np.max(np.abs(want), initial=0.0)), 1e-300)
    denom = np.maximum(np.maximum(np.abs(got), np.abs(want)), floor * scale)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.maximum(np.abs(got - want) - atol, 0.0) / denom
    return np.where(np.isfinite(err), err, np.inf)


def compare(got: np.ndarray, want: np.ndarray, *, rtol: float, floor: float, atol: float | np.ndarray = 0.0) -> Comparison:
    """Compare arrays of the same shape (callers check shapes first)."""
    err = relative_error(got.astype(np.float64), want.astype(np.float64), floor, atol)
    worst = np.unravel_index(int(np.argmax(err)), err.shape) if err.size else ()
    return Comparison(
        ok=bool(np.all(err <= rtol)),
        max_err=float(err.max(initial=0.0)),
        mismatched=int(np.sum(err > rtol)),
        total=int(err.size),
        worst=tuple(int(i) for i in worst),
        want_at_worst=float(want[worst]) if err.size else 0.0,
        got_at_worst=float(got[worst]) if err.size else 0.0,
    )


def matches(got: np.ndarray, want: np.ndarray, *, rtol: float, floor: float) -> bool:
    """Same shape and every entry within `rtol`."""
    return got.shape == want.shape and compare(got, want, rtol=rtol, floor=floor).ok


def excerpt(arr: np.ndarray) -> list[list[float]] | list[float]:
    """The top-left corner of an array, for a report; never the whole thing."""
    a = np.asarray(arr, dtype=np.float64)
    corner = a.reshape(a.shape[0], -1)[:_EXCERPT, :_EXCERPT] if a.ndim >= 2 else a[: _EXCERPT * _EXCERPT]
    return np.round(corner, 6).tolist()  # type: ignore[no-any-return]


def diagnose(
    got: np.ndarray, want: np.ndarray, mistakes: dict[str, np.ndarray], *, rtol: float, floor: float
) -> str | None:
    """The most likely cause of `got != want`, in a student's words, or None when nothing fits.

    `mistakes` maps a description to what a known wrong formula would give on
    the same inputs (e.g. "the ReLU mask is missing" -> grad_y); generic
    mistakes (shape, transpose, sign, scale, zeros) are tried first.
    """
    loose = max(rtol, 1e-4)
    if got.shape != want.shape:
        if got.T.shape == want.shape and matches(got.T, want, rtol=loose, floor=floor):
            return f"your gradient is transposed: it has shape {got.shape}, the transpose of the expected {want.shape}"
        return f"wrong shape: expected {want.shape} (the shape of the input), got {got.shape}"
    if not np.all(np.isfinite(got)):
        return f"your gradient contains {int(np.sum(~np.isfinite(got)))} NaN or infinite entries"
    if np.all(got == 0) and np.any(want != 0):
        return "your gradient is all zeros: nothing was propagated"
    if matches(-got, want, rtol=loose, floor=floor):
        return "the sign is flipped: your gradient is exactly minus the correct one"
    for cause, wrong in mistakes.items():
        if matches(got, wrong, rtol=loose, floor=floor):
            return cause
    return _scale_diagnosis(got, want, loose, floor)


def _scale_diagnosis(got: np.ndarray, want: np.ndarray, rtol: float, floor: float) -> str | None:
    denom = float(np.vdot(want, want))
    if denom == 0.0:
        return None
    c = float(np.vdot(got, want)) / denom
    if c != 0.0 and abs(c - 1.0) > 1e-3 and matches(got / c, want, rtol=rtol, floor=floor):
        return f"your gradient is the correct one scaled by {c:.4g} (a stray constant factor, e.g. dividing by the batch size)"
    return None


def locate(got: np.ndarray, want: np.ndarray, *, rtol: float, floor: float) -> str:
    """Where a same-shape gradient is wrong: whole rows or columns, else the first wrong entries."""
    err = relative_error(got.astype(np.float64), want.astype(np.float64), floor) > rtol
    if err.ndim == 2:
        rows, cols = np.flatnonzero(err.any(axis=1)), np.flatnonzero(err.any(axis=0))
        if 0 < len(rows) < err.shape[0] and err[rows].all():
            return f"your gradient is correct except in rows {rows.tolist()} (of {err.shape[0]}), which are wrong in every column"
        if 0 < len(cols) < err.shape[1] and err[:, cols].all():
            return f"your gradient is correct except in columns {cols.tolist()} (of {err.shape[1]}), which are wrong in every row"
    wrong = np.argwhere(err)[:_EXCERPT]
    shown = "; ".join(f"{idx.tolist()} expected {want[tuple(idx)]:.6g}, got {got[tuple(idx)]:.6g}" for idx in wrong)
    return f"first wrong entries: {shown}"


def error_map(got: np.ndarray, want: np.ndarray, *, floor: float, limit: int = 32) -> list[list[float | str]]:
    """The elementwise relative error as a 2-D list (at most limit x limit) for the report's heat map."""
    err = relative_error(got.astype(np.float64), want.astype(np.float64), floor)
    grid = err.reshape(err.shape[0], -1) if err.ndim >= 2 else err.reshape(1, -1)
    return [[float(v) if np.isfinite(v) else "inf" for v in row[:limit]] for row in grid[:limit]]
