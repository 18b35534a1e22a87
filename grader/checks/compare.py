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

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..evidence import ArrayComparison
from ..text import Message, msg

_EXCERPT = 4

Mistake = tuple[Message, np.ndarray]
"""A known wrong formula: the diagnosis that names it, and what it gives on the check's inputs."""


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

    def summary(self, rtol: float) -> Message:
        """'3 / 12 entries differ; worst at [1, 2]: expected 0.5, got -0.5 (relative error 2, allowed 1e-06)'."""
        return msg("compare.summary", mismatched=self.mismatched, total=self.total, worst=str(list(self.worst)),
                   want=self.want_at_worst, got=self.got_at_worst, err=self.max_err, rtol=rtol)

    def evidence(self) -> ArrayComparison:
        """The numbers for the report and result.json."""
        return ArrayComparison(max_rel_err=self.max_err, mismatched=self.mismatched, total=self.total, worst_index=self.worst,
                               expected_at_worst=self.want_at_worst, got_at_worst=self.got_at_worst)


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
    got: np.ndarray, want: np.ndarray, mistakes: Iterable[Mistake], *, rtol: float, floor: float
) -> Message | None:
    """The most likely cause of `got != want`, in a student's words, or None when nothing fits.

    `mistakes` pairs a diagnosis with what a known wrong formula would give on
    the same inputs (e.g. layers.diag.relu_mask_missing -> grad_y); generic
    mistakes (shape, transpose, sign, scale, zeros) are tried first.
    """
    loose = max(rtol, 1e-4)
    if got.shape != want.shape:
        if got.T.shape == want.shape and matches(got.T, want, rtol=loose, floor=floor):
            return msg("compare.diag.transposed", got=str(got.shape), want=str(want.shape))
        return msg("compare.diag.wrong_shape", want=str(want.shape), got=str(got.shape))
    if not np.all(np.isfinite(got)):
        return msg("compare.diag.not_finite", n=int(np.sum(~np.isfinite(got))))
    if np.all(got == 0) and np.any(want != 0):
        return msg("compare.diag.all_zeros")
    if matches(-got, want, rtol=loose, floor=floor):
        return msg("compare.diag.sign_flipped")
    for cause, wrong in mistakes:
        if matches(got, wrong, rtol=loose, floor=floor):
            return cause
    return _scale_diagnosis(got, want, loose, floor)


def _scale_diagnosis(got: np.ndarray, want: np.ndarray, rtol: float, floor: float) -> Message | None:
    denom = float(np.vdot(want, want))
    if denom == 0.0:
        return None
    c = float(np.vdot(got, want)) / denom
    if c != 0.0 and abs(c - 1.0) > 1e-3 and matches(got / c, want, rtol=rtol, floor=floor):
        return msg("compare.diag.scaled", factor=c)
    return None


def locate(got: np.ndarray, want: np.ndarray, *, rtol: float, floor: float) -> Message:
    """Where a same-shape gradient is wrong: whole rows or columns, else the first wrong entries."""
    err = relative_error(got.astype(np.float64), want.astype(np.float64), floor) > rtol
    if err.ndim == 2:
        rows, cols = np.flatnonzero(err.any(axis=1)), np.flatnonzero(err.any(axis=0))
        if 0 < len(rows) < err.shape[0] and err[rows].all():
            return msg("compare.locate.rows", rows=str(rows.tolist()), n=int(err.shape[0]))
        if 0 < len(cols) < err.shape[1] and err[:, cols].all():
            return msg("compare.locate.columns", cols=str(cols.tolist()), n=int(err.shape[1]))
    entries = [msg("compare.locate.entry", index=str(idx.tolist()), want=float(want[tuple(idx)]), got=float(got[tuple(idx)]))
               for idx in np.argwhere(err)[:_EXCERPT]]
    return msg("compare.locate.entries", entries=_joined(entries))


def _joined(parts: list[Message]) -> Message | str:
    """'a; b; c' as nested clauses, so each language puts its own separator between them ('' for none)."""
    if not parts:
        return ""
    joined: Message = parts[-1]
    for part in reversed(parts[:-1]):
        joined = msg("compare.locate.more", first=part, rest=joined)
    return joined


def error_map(got: np.ndarray, want: np.ndarray, *, floor: float, limit: int = 32) -> list[list[float | str]]:
    """The elementwise relative error as a 2-D list (at most limit x limit) for the report's heat map."""
    err = relative_error(got.astype(np.float64), want.astype(np.float64), floor)
    grid = err.reshape(err.shape[0], -1) if err.ndim >= 2 else err.reshape(1, -1)
    return [[float(v) if np.isfinite(v) else "inf" for v in row[:limit]] for row in grid[:limit]]
