"""The records of a similarity run: code compared, its fingerprints, and the pairs found.

    PartCode (sources.py) -> Doc (fingerprint.py) -> SimilarPair (compare.py) -> SimilarityResult

Every record is immutable.  Code arrives as plain strings the sandboxed intake
kept (a `GradeReport`'s sources, a staff file's `CodePart` units); only the
worker task tokenises it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

PartName = Literal["numpy", "framework"]
PARTS: tuple[PartName, ...] = ("numpy", "framework")
OwnerKind = Literal["student", "known", "template"]
KNOWN_PREFIX = "known:"
"""`other` of a pair with a published solution: known:<file, relative to --known-solutions>."""


@dataclass(frozen=True)
class CodeBlock:
    """One top-level definition that is compared, as intake kept it."""

    name: str
    """The name it defines, e.g. 'Matmul' (the file label for an import)."""
    label: str
    """Where it is: 'hw4.ipynb [cell 3]', 'report.md'."""
    line: int
    """1-based line of its first line in `label`."""
    source: str

    @property
    def line_count(self) -> int:
        """Lines of its source."""
        return self.source.count("\n") + 1


@dataclass(frozen=True)
class PartCode:
    """One owner's code for one part of the homework."""

    owner: str
    """A student's name, known:<file> or template:<file>."""
    kind: OwnerKind
    part: PartName
    blocks: tuple[CodeBlock, ...]


@dataclass(frozen=True, eq=False)
class BlockPrints:
    """One block's fingerprints, as the worker computed them (tokens.Prints, validated)."""

    lines: np.ndarray
    """int32 per symbol: its 0-based line in the block, -1 for the boundary symbols around it."""
    hashes: np.ndarray
    """int64 per fingerprint."""
    starts: np.ndarray
    """int32 per fingerprint: its first symbol."""


@dataclass(frozen=True, eq=False)
class Doc:
    """One owner's part as one sequence of symbols: its blocks' symbols end to end."""

    code: PartCode
    symbol_lines: np.ndarray
    """int64 per symbol: index into `line_refs` of the line it is on."""
    real: np.ndarray
    """bool per symbol: False for the boundary symbols around each block (tokens._padded)."""
    hashes: np.ndarray
    """int64 per k-gram (never across two blocks)."""
    starts: np.ndarray
    """int64 per k-gram: index of its first symbol."""
    line_refs: tuple[tuple[int, int], ...]
    """Per line of the doc: (block index, 0-based line in that block)."""

    @property
    def owner(self) -> str:
        """The student, known:<file> or template:<file>."""
        return self.code.owner


@dataclass(frozen=True)
class Side:
    """One side of a pair: whose code, and which of its lines matched or were discounted."""

    owner: str
    blocks: tuple[CodeBlock, ...]
    matched: frozenset[tuple[int, int]]
    """(block index, 0-based line) holding code also found on the other side, neither template nor common."""
    discounted: frozenset[tuple[int, int]]
    """Lines of template code or code most of the class shares: never evidence."""
    coverage: float
    """Share of this side's own lines (neither template nor common) found on the other side, 0..1."""


@dataclass(frozen=True)
class SimilarPair:
    """Two owners whose code for one part is similar enough to report."""

    part: PartName
    a: Side
    """The student (the first by name when both are students)."""
    b: Side
    """The other student, or the known solution."""
    score: float
    """The larger coverage of the two sides, 0..1."""
    flagged: bool
    """score >= the rubric's [similarity] threshold: a person should look at it."""

    @property
    def student(self) -> str:
        """The student of the pair (column `student` of similarity.csv)."""
        return self.a.owner

    @property
    def other(self) -> str:
        """Another student, or known:<file> (column `other`)."""
        return self.b.owner


@dataclass(frozen=True)
class SimilarityResult:
    """What a similarity run found in a class."""

    pairs: tuple[SimilarPair, ...]
    """Every pair at or above the reporting floor: flagged first, then by score, highest first."""
    students: dict[PartName, int] = field(default_factory=dict)
    """How many students had code for each part."""
    known: tuple[str, ...] = ()
    """The known solutions compared, as known:<file>."""
    template: tuple[str, ...] = ()
    """The template files whose code was subtracted."""
    notes: tuple[str, ...] = ()
    """What could not be compared, and why (a block that could not be tokenised, a file without code)."""
    method: str = "tokens"
    """The rubric's [similarity] method, threshold and reporting floor, for the page."""
    threshold: float = 0.6
    report_floor: float = 0.3

    @property
    def flagged(self) -> tuple[SimilarPair, ...]:
        """The flagged pairs, in page order."""
        return tuple(p for p in self.pairs if p.flagged)

    def flagged_for(self, student: str) -> tuple[SimilarPair, ...]:
        """The flagged pairs `student` is in, on either side."""
        return tuple(p for p in self.flagged if student in (p.a.owner, p.b.owner))

    def anchor(self, pair: SimilarPair) -> str:
        """The pair's id in similarity.html: 'pair-1' for the first pair of `pairs`."""
        return self._anchors[id(pair)]

    @functools.cached_property
    def _anchors(self) -> dict[int, str]:
        # By identity: comparing pairs field by field (their line sets) would cost a class of 200 seconds.
        return {id(pair): f"pair-{i}" for i, pair in enumerate(self.pairs, start=1)}
