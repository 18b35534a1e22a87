"""Code similarity in a class: copies of classmates and of published answers, found for a person to judge.

    find_similarity(reports, options, settings=..., runner=...) -> SimilarityResult

Per part (the numpy layers and model, the framework model), every pair of
students and every student against each known solution is compared:

1. sources.py: a student's code is what their report kept of the sandboxed
   intake's units; the template and the known solutions are read through
   intake, one file at a time.
2. fingerprint.py: each distinct block is tokenised and fingerprinted in a
   sandboxed worker (tokens.py: normalised symbols, hashed k-grams, copydetect's
   winnowing), so renamed variables, other comments and strings, reformatting,
   reordered methods or cells and inserted dead code change little.
3. compare.py: template k-grams are subtracted, k-grams most of the class
   shares discounted, and each pair scored by how much of one side's own code
   the other holds.

Nothing here changes a score: reports/similarity.py writes similarity.csv,
similarity.html and a staff-only note in the flagged students' result.json.
"""

from __future__ import annotations

from collections.abc import Sequence
import numpy as np

from ..records import GradeReport
from ..rubric import SimilaritySettings
from ..sandbox.runner import Runner
from .compare import compare_part
from .fingerprint import Fingerprints, build_doc, fingerprint_sources
from .options import SimilarityOptions, similarity_options
from .records import KNOWN_PREFIX, PARTS, Doc, PartCode, SimilarPair, SimilarityResult
from .sources import staff_parts, student_parts

__all__ = ["KNOWN_PREFIX", "SimilarPair", "SimilarityOptions", "SimilarityResult", "find_similarity", "similarity_options"]


def find_similarity(reports: Sequence[GradeReport], options: SimilarityOptions, *, settings: SimilaritySettings,
                    runner: Runner, jobs: int = 2) -> SimilarityResult:
    """Compare the class's students with each other and with the known solutions, part by part.

    Args:
        reports: one report per student (their kept sources are what is compared).
        options: the template and known-solution folders, if any.
        settings: the rubric's [similarity] table.
        runner: the sandbox runner the tokenizer's workers and the staff files' intake run in.
        jobs: fingerprinting workers run at once.

    Raises:
        UsageError: a --template or --known-solutions folder is missing or holds no code file.
    """
    students = [p for r in sorted(reports, key=lambda r: r.student) for p in student_parts(r)]
    template, template_notes = staff_parts(options.template, "template", runner) if options.template else ([], [])
    known, known_notes = staff_parts(options.known, "known", runner) if options.known else ([], [])
    codes = [*students, *template, *known]
    prints = fingerprint_sources([b.source for c in codes for b in c.blocks], settings, runner, jobs=jobs)
    docs = [build_doc(code, prints.prints) for code in codes]
    template_hashes = np.unique(np.concatenate([d.hashes for d in docs if d.code.kind == "template"] or [np.zeros(0, np.int64)]))
    pairs = [pair for part in PARTS for pair in compare_part(
        part, _of(docs, "student", part), _of(docs, "known", part), template_hashes, settings)]
    return SimilarityResult(
        pairs=tuple(sorted(pairs, key=_page_order)),
        students={part: len(_of(docs, "student", part)) for part in PARTS},
        known=tuple(dict.fromkeys(c.owner for c in known)),
        template=tuple(dict.fromkeys(c.owner.removeprefix("template:") for c in template)),
        notes=(*template_notes, *known_notes, *_failure_notes(codes, prints)),
        method=settings.method, threshold=settings.threshold, report_floor=settings.report_floor,
    )


def _of(docs: list[Doc], kind: str, part: str) -> list[Doc]:
    return [d for d in docs if d.code.kind == kind and d.code.part == part]


def _page_order(pair: SimilarPair) -> tuple[bool, float, int, str, str]:
    """Flagged first, then by score (highest first), then part, student, other."""
    return (not pair.flagged, -pair.score, PARTS.index(pair.part), pair.student, pair.other)


def _failure_notes(codes: list[PartCode], prints: Fingerprints) -> list[str]:
    """One note per block that could not be fingerprinted, naming its owner and place."""
    return [f"{code.owner}: {block.name} ({block.label}, line {block.line}) was not compared: {prints.failures[block.source]}"
            for code in codes for block in code.blocks if block.source in prints.failures]
