"""Comparing one part of a class: template code subtracted, common code discounted, pairs scored.

Runs in the grader's process on the worker's numbers only (hashes, symbol
positions, line indices): no student text is read here.

For a pair (x, y) a k-gram is *excluded* when the template holds it or at least
`common_limit` students do (MOSS's and copydetect's boilerplate rule).  Against a
known solution, code that solution holds is common only when more than half the
class has it: a published answer a third of the class copied is still evidence,
while the template's own code (which every solution holds, and which is all
there is to exclude when no --template is given) is not.  A symbol of x is *own* when no
excluded k-gram covers it, and *matched* when a k-gram that x and y share, and
that is not excluded, covers it.  Each own line of x weighs 1, matched in the
share of its own symbols that matched:

    coverage(x) = sum over own lines of matched / own symbols on the line
                  / max(own lines of x, min_lines)

and the pair scores max(coverage(x), coverage(y)).  The floor `min_lines` is why
a few short lines alike cannot flag anyone: in this homework the filled-in lines
of a template-faithful student are three (`grad_x = ...`, `grad_W = ...`, the
ReLU mask), so two such students score at most 3 / 12 with the defaults, far
below the threshold 0.6 whatever those lines are; and the usual framework model
(seven own lines: four variables, reshape, hidden layer, logits) at most 7 / 12
even in a class too small for any of it to count as common.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..rubric import SimilaritySettings
from .records import Doc, PartName, Side, SimilarPair

_CHUNK = 4096
"""Columns (k-grams) per block of the student x k-gram matrix whose product counts shared k-grams."""


@dataclass(frozen=True, eq=False)
class _View:
    """A doc seen against one excluded set: what of it is own code, indexed for fast pair scoring."""

    doc: Doc
    own: np.ndarray
    """Sorted unique hashes of its k-grams that are not excluded."""
    own_starts: np.ndarray
    """First symbols of those k-grams, grouped by hash in the order of `own`..."""
    own_bounds: np.ndarray
    """... hash own[i] starting the k-grams own_starts[own_bounds[i]:own_bounds[i + 1]]."""
    distinct: np.ndarray
    """bool per symbol: covered by a k-gram, and by no excluded one."""
    own_counts: np.ndarray
    """Own symbols per line of the doc."""
    all_counts: np.ndarray
    """Symbols per line of the doc."""

    @property
    def own_lines(self) -> int:
        """Lines holding at least one own symbol."""
        return int(np.count_nonzero(self.own_counts))


def compare_part(part: PartName, students: list[Doc], known: list[Doc], template: np.ndarray,
                 settings: SimilaritySettings) -> list[SimilarPair]:
    """Every pair of this part at or above the reporting floor: student pairs, then students against known solutions.

    Args:
        part: "numpy" or "framework".
        students: one doc per student who has code for this part.
        known: one doc per known solution that has code for this part.
        template: the template's k-gram hashes (all parts), sorted and unique.
        settings: the rubric's [similarity] table.
    """
    common, majority = common_hashes(students, settings)
    excluded = np.union1d(template, common)
    views = [_view(doc, excluded, settings.kgram) for doc in students]
    pairs = [_pair(part, views[i], views[j], settings) for i, j in _candidates(views)]
    for doc in known:
        pairs.extend(_known_pairs(part, doc, students, views, template, (common, majority), settings))
    return [p for p in pairs if p is not None]


def common_hashes(students: list[Doc], settings: SimilaritySettings) -> tuple[np.ndarray, np.ndarray]:
    """The k-grams at least `common_limit` students have (code the class shares), and those more than half have."""
    if not students:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    values, counts = np.unique(np.concatenate([np.unique(d.hashes) for d in students]), return_counts=True)
    return values[counts >= common_limit(len(students), settings)], values[counts * 2 > len(students)]


def common_limit(students: int, settings: SimilaritySettings) -> int:
    """How many students must share a k-gram for it to be common: the class share, at least `common_min`."""
    return max(settings.common_min, math.ceil(settings.common_fraction * students))


def _known_pairs(part: PartName, doc: Doc, students: list[Doc], views: list[_View], template: np.ndarray,
                 shared: tuple[np.ndarray, np.ndarray], settings: SimilaritySettings) -> list[SimilarPair | None]:
    """Each student against one known solution; what the solution holds is common only when most of the class has it."""
    common, majority = shared
    kept = np.setdiff1d(np.intersect1d(common, doc.hashes), majority, assume_unique=True)
    if len(kept):
        excluded = np.union1d(template, np.setdiff1d(common, kept, assume_unique=True))
        views = [_view(d, excluded, settings.kgram) for d in students]
    else:
        excluded = np.union1d(template, common)
    known = _view(doc, excluded, settings.kgram)
    return [_pair(part, view, known, settings) for view in views]


def _view(doc: Doc, excluded: np.ndarray, k: int) -> _View:
    out = _member(doc.hashes, excluded)
    symbols, lines = len(doc.symbol_lines), len(doc.line_refs)
    distinct = _covered(doc.starts, k, symbols) & ~_covered(doc.starts[out], k, symbols) & doc.real
    hashes, starts = doc.hashes[~out], doc.starts[~out]
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    first = np.flatnonzero(np.diff(ordered, prepend=ordered[:1] - 1) != 0) if len(ordered) else np.zeros(0, dtype=np.int64)
    return _View(
        doc=doc, own=ordered[first], own_starts=starts[order], own_bounds=np.append(first, len(order)), distinct=distinct,
        own_counts=np.bincount(doc.symbol_lines[distinct], minlength=lines),
        all_counts=np.bincount(doc.symbol_lines[doc.real], minlength=lines),
    )


def _member(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """bool per value: whether it is in `sorted_set` (sorted, unique); a binary search, cheaper than np.isin here."""
    if not len(sorted_set):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return np.asarray(sorted_set[at] == values)


def _covered(starts: np.ndarray, k: int, size: int) -> np.ndarray:
    """bool per symbol: inside at least one of the k-grams starting at `starts` (k-grams never pass the end)."""
    edges = np.bincount(starts, minlength=size + 1)[: size + 1] - np.bincount(starts + k, minlength=size + 1)[: size + 1]
    return np.cumsum(edges[:size]) > 0


def _candidates(views: list[_View]) -> list[tuple[int, int]]:
    """Pairs of students sharing at least one own k-gram, counted by a matrix product over blocks of k-grams."""
    if len(views) < 2:
        return []
    owners = np.concatenate([np.full(len(v.own), i) for i, v in enumerate(views)])
    values, column, counts = np.unique(np.concatenate([v.own for v in views]), return_inverse=True, return_counts=True)
    keep = counts[column] >= 2
    owners, column = owners[keep], np.searchsorted(np.flatnonzero(counts >= 2), column[keep])
    shared = np.zeros((len(views), len(views)), dtype=np.float32)
    columns = int(column.max(initial=-1)) + 1
    for first in range(0, columns, _CHUNK):
        block = (column >= first) & (column < first + _CHUNK)
        matrix = np.zeros((len(views), min(_CHUNK, columns - first)), dtype=np.float32)
        matrix[owners[block], column[block] - first] = 1.0
        shared += matrix @ matrix.T
    return [(int(i), int(j)) for i, j in np.argwhere(np.triu(shared, 1) > 0)]


def _pair(part: PartName, x: _View, y: _View, settings: SimilaritySettings) -> SimilarPair | None:
    """The pair's score and evidence, or None below the reporting floor (scored first, evidence built only then)."""
    shared = np.intersect1d(x.own, y.own, assume_unique=True)
    if not len(shared):
        return None
    lines_x, lines_y = _matched_lines(x, shared, settings.kgram), _matched_lines(y, shared, settings.kgram)
    cover_x, cover_y = _coverage(x, lines_x, settings), _coverage(y, lines_y, settings)
    score = round(max(cover_x, cover_y), 3)
    if score < settings.report_floor or score <= 0:
        return None
    return SimilarPair(part=part, a=_side(x, lines_x, cover_x), b=_side(y, lines_y, cover_y), score=score,
                       flagged=score >= settings.threshold)


def _matched_lines(view: _View, shared: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(line, own symbols matched on it) for the lines the shared k-grams cover with own symbols.

    Masks and bincounts rather than np.unique: a class of 200 scores thousands of pairs.
    """
    at = np.searchsorted(view.own, shared)
    first, counts = view.own_bounds[at], view.own_bounds[at + 1] - view.own_bounds[at]
    runs = np.repeat(first - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
    hit = np.zeros(len(view.distinct), dtype=bool)
    hit[(view.own_starts[runs][:, None] + np.arange(k)).ravel()] = True
    per_line = np.bincount(view.doc.symbol_lines[hit & view.distinct], minlength=len(view.own_counts))
    lines = np.flatnonzero(per_line)
    return lines, per_line[lines]


def _coverage(view: _View, matched: tuple[np.ndarray, np.ndarray], settings: SimilaritySettings) -> float:
    """Matched own lines (each weighted by its share of own symbols matched) over max(own lines, min_lines)."""
    lines, counts = matched
    weight = float(np.sum(counts / view.own_counts[lines])) if len(lines) else 0.0
    return round(min(1.0, weight / max(view.own_lines, settings.min_lines)), 3)


def _side(view: _View, matched: tuple[np.ndarray, np.ndarray], coverage: float) -> Side:
    """One side's evidence: its matched lines, and its template or common lines (shown greyed)."""
    refs = view.doc.line_refs
    discounted = np.flatnonzero((view.all_counts > 0) & (view.own_counts == 0))
    return Side(owner=view.doc.owner, blocks=view.doc.code.blocks, coverage=coverage,
                matched=frozenset(refs[i] for i in matched[0]), discounted=frozenset(refs[i] for i in discounted))
