"""similarity.csv, similarity.html and the staff-only note in result.json, from a `SimilarityResult`.

similarity.csv has one row per pair at or above the rubric's reporting floor,
flagged first, then by score:

    part           numpy or framework
    student        a student (the first by name when both are students)
    other          another student, or known:<file> for a known solution
    score          0..1, three decimals
    flagged        true when score >= the rubric's [similarity] threshold, else false
    matched_lines  the student's matched lines, " | ", the other's, each as
                   "<file or file [cell N]>:<lines>; ...", e.g. "hw4.ipynb [cell 3]:17-19,22 | hw4.py:40-42"

similarity.html is one self-contained page (inline CSS, no script, nothing
fetched): the pairs' table, then every flagged pair (and the first
`SHOWN_BELOW` others) with the two codes side by side, line numbers as the
students see them, matched lines highlighted and template or common lines
greyed.  A flagged student's result.json gets the key `staff_only` (the pairs,
with links into the page); report.html, a self-check and Gradescope's
results.json never show any of it, because none of it is in the `GradeReport`.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.outnames import student_folder
from grader.records import GradeReport
from grader.reports.html import load_template
from grader.reports.i18n import Lang, markup, plain, text
from grader.text import Message
from grader.reports.json_ import result_dict, write_json_atomic, write_result_json, write_text_atomic
from grader.similarity.records import KNOWN_PREFIX, CodeBlock, Side, SimilarityResult, SimilarPair

CSV_COLUMNS = ("part", "student", "other", "score", "flagged", "matched_lines")
PAGE = "similarity.html"
STAFF_KEY = "staff_only"
"""The result.json key of the similarity finding: for course staff, never for the student."""
SHOWN_BELOW = 30
"""Pairs below the threshold shown with their code (all are in the table and the CSV)."""
_TEMPLATE = "similarity.html.j2"
_STAFF_NOTE = ("Staff only: code similarity found by grade --similarity. Evidence for a person to judge; "
               "it changed no score. Remove this key before giving result.json to a student.")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


# --------------------------------------------------------------------------- similarity.csv


def write_similarity_csv(result: SimilarityResult, path: Path) -> None:
    """Write similarity.csv (see the module docstring) to `path` atomically, UTF-8 with CRLF line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    writer.writerows([_cell(c) for c in _csv_row(pair)] for pair in result.pairs)
    write_text_atomic(path, buffer.getvalue())


def _csv_row(pair: SimilarPair) -> list[str]:
    return [pair.part, pair.student, pair.other, f"{pair.score:.3f}", "true" if pair.flagged else "false",
            f"{line_ranges(pair.a)} | {line_ranges(pair.b)}"]


def _cell(value: str) -> str:
    # A student's folder name could start a spreadsheet formula: quote it, as gradebook.csv does.
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def line_ranges(side: Side) -> str:
    """The side's matched lines as the student numbers them: 'hw4.ipynb [cell 3]:17-19,22; hw4.ipynb [cell 5]:4'."""
    by_label: dict[str, list[int]] = {}
    for index, line in sorted(side.matched):
        block = side.blocks[index]
        by_label.setdefault(block.label, []).append(block.line + line)
    return "; ".join(f"{label}:{_spans(sorted(set(lines)))}" for label, lines in by_label.items())


def _spans(numbers: list[int]) -> str:
    """[3, 4, 5, 9] -> '3-5,9'."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


# --------------------------------------------------------------------------- similarity.html


@dataclass(frozen=True)
class _Line:
    number: int
    text: str
    state: str
    """'matched', 'discounted' or ''."""


@dataclass(frozen=True)
class _Block:
    name: str
    label: str
    lines: tuple[_Line, ...]


@dataclass(frozen=True)
class _SideView:
    owner: str
    known: bool
    percent: float
    blocks: tuple[_Block, ...]


@dataclass(frozen=True)
class _PairView:
    anchor: str
    pair: SimilarPair
    a: _SideView
    b: _SideView
    show_code: bool


def render_similarity(result: SimilarityResult, *, lang: Lang = "en") -> str:
    """The complete similarity.html page.

    Args:
        result: what the similarity run found.
        lang: "en" or "zh".
    """
    views = [_pair_view(result, pair, shown) for pair, shown in zip(result.pairs, _shown(result.pairs))]
    return load_template(_TEMPLATE).render(
        t=functools.partial(text, lang), note=functools.partial(_note, lang=lang), result=result, pairs=views,
        hidden=sum(not v.show_code for v in views), known=len(result.known),
        template=", ".join(result.template),
    )


def _note(note: object, lang: Lang) -> object:
    """A "not compared" note: a message in `lang` (safe HTML), or plain text the template escapes."""
    return markup(note, lang) if isinstance(note, Message) else note


def write_similarity_html(result: SimilarityResult, path: Path, *, lang: Lang = "en") -> None:
    """Write `render_similarity(result, lang=lang)` to `path` atomically, as UTF-8."""
    write_text_atomic(path, render_similarity(result, lang=lang))


def _shown(pairs: Sequence[SimilarPair]) -> Iterable[bool]:
    """Whether each pair is shown with its code: every flagged pair, and the first SHOWN_BELOW others."""
    below = 0
    for pair in pairs:
        below += not pair.flagged
        yield pair.flagged or below <= SHOWN_BELOW


def _pair_view(result: SimilarityResult, pair: SimilarPair, shown: bool) -> _PairView:
    return _PairView(anchor=result.anchor(pair), pair=pair, a=_side_view(pair.a), b=_side_view(pair.b), show_code=shown)


def _side_view(side: Side) -> _SideView:
    """The blocks holding matched lines, every line numbered and marked."""
    touched = sorted({index for index, _ in side.matched})
    blocks = tuple(_block_view(side, i, side.blocks[i]) for i in touched)
    return _SideView(owner=side.owner, known=side.owner.startswith(KNOWN_PREFIX), percent=round(side.coverage * 100), blocks=blocks)


def _block_view(side: Side, index: int, block: CodeBlock) -> _Block:
    lines = tuple(_Line(block.line + i, line, _state(side, (index, i))) for i, line in enumerate(block.source.split("\n")))
    return _Block(name=block.name, label=block.label, lines=lines)


def _state(side: Side, ref: tuple[int, int]) -> str:
    if ref in side.matched:
        return "matched"
    return "discounted" if ref in side.discounted else ""


# --------------------------------------------------------------------------- result.json and summary.html


def write_staff_notes(reports: Sequence[GradeReport], result: SimilarityResult, out: Path) -> None:
    """Add the staff-only similarity finding to each flagged student's result.json; drop a stale one elsewhere.

    Args:
        reports: the class's reports (result.json is written again from them).
        result: what the similarity run found.
        out: the class's output folder (out/<student>/result.json).
    """
    for report in reports:
        path = out / student_folder(report.student) / "result.json"
        pairs = result.flagged_for(report.student)
        if pairs:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(path, result_dict(report) | {STAFF_KEY: staff_note(report.student, pairs, result)})
        elif _has_staff_note(path):
            write_result_json(report, path)


def staff_note(student: str, pairs: Sequence[SimilarPair], result: SimilarityResult) -> dict[str, Any]:
    """The `staff_only` value of a flagged student's result.json."""
    entries = []
    for pair in pairs:
        mine, theirs = (pair.a, pair.b) if pair.a.owner == student else (pair.b, pair.a)
        entries.append({"part": pair.part, "other": theirs.owner, "score": pair.score,
                        "matched_lines": f"{line_ranges(mine)} | {line_ranges(theirs)}",
                        "page": f"../{PAGE}#{result.anchor(pair)}"})
    return {"note": _STAFF_NOTE, "similarity": entries}


def _has_staff_note(path: Path) -> bool:
    """Whether the grader's own result.json at `path` carries a staff note from an earlier run."""
    try:
        return f'"{STAFF_KEY}"' in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


@dataclass(frozen=True)
class SimilarityLinks:
    """What summary.html shows of a similarity run: counts and a link per flagged pair."""

    pairs: int
    flagged: tuple[tuple[str, SimilarPair], ...]
    """(anchor in similarity.html, pair) for each flagged pair."""
    page: str = PAGE


def summary_links(result: SimilarityResult) -> SimilarityLinks:
    """The similarity section of summary.html."""
    return SimilarityLinks(pairs=len(result.pairs), flagged=tuple((result.anchor(p), p) for p in result.flagged))


def write_similarity_outputs(reports: Sequence[GradeReport], result: SimilarityResult, out: Path, *, lang: Lang = "en") -> None:
    """similarity.csv, similarity.html and the flagged students' staff notes, in `out`."""
    write_similarity_csv(result, out / "similarity.csv")
    write_similarity_html(result, out / PAGE, lang=lang)
    write_staff_notes(reports, result, out)


def format_similarity(result: SimilarityResult, out: Path) -> str:
    """The closing lines of a --similarity run: counts, the flagged pairs, where the files are."""
    lines = [f"similarity (staff only, no score changed): {len(result.flagged)} pairs flagged of {len(result.pairs)} listed: "
             f"{out / PAGE}, {out / 'similarity.csv'}"]
    lines += [f"flagged: {p.part}: {p.student} ~ {p.other} ({p.score:.2f})" for p in result.flagged]
    lines += [f"not compared: {plain(note, 'en') if isinstance(note, Message) else note}" for note in result.notes]
    return "\n".join(lines)
