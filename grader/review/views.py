"""What the review pages show, as plain records built from the store (the templates only lay them out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from grader.records import CheckResult, GradedSource, GradeReport
from grader.reports.html import points_text
from grader.decisions.final import Reviews, final_report, needs_another_look
from grader.decisions.store import Comment, FlaggedPair, HistoryEntry, Override, PairDecision, ReviewStore, StudentState

Filter = Literal["all", "errored", "flagged", "late", "unreviewed", "look"]
FILTERS: tuple[Filter, ...] = ("all", "errored", "flagged", "late", "unreviewed", "look")


@dataclass(frozen=True)
class StudentRow:
    """One row of the class page."""

    student: str
    name: str
    points: str
    errored: bool
    late: bool
    flagged: bool
    reviewed: bool
    overridden: int
    needs_look: bool
    failing: tuple[str, ...]


@dataclass(frozen=True)
class ClassView:
    """The class page: rows after the filters, and what the filters offer."""

    rows: list[StudentRow]
    total: int
    show: Filter
    check: str
    check_ids: list[str]


@dataclass(frozen=True)
class CheckView:
    """One check on the student page, with the autograder's and the final points."""

    check: CheckResult
    final: str
    autograder: str
    override: Override | None
    needs_look: bool
    comments: tuple[Comment, ...]


@dataclass(frozen=True)
class CodeLine:
    """A line of the student's code, with the comments on it."""

    number: int
    text: str
    comments: tuple[Comment, ...] = ()


@dataclass(frozen=True)
class CodeView:
    """One graded definition of the student's code."""

    name: str
    file: str
    lines: tuple[CodeLine, ...]


@dataclass(frozen=True)
class StudentView:
    """The student page."""

    report: GradeReport
    state: StudentState
    points: str
    checks: list[CheckView]
    code: list[CodeView]
    history: list[HistoryEntry]
    others: list[str] = field(default_factory=list)
    """The students (or known solutions) a flagged similarity pair links this student with."""


@dataclass(frozen=True)
class PairView:
    """A flagged pair with its decision, if any."""

    pair: FlaggedPair
    decision: PairDecision | None


def class_view(store: ReviewStore, *, show: str, check: str) -> ClassView:
    """The class page's rows: every graded student, then filtered (`show`, a failing `check`)."""
    flagged = {name for pair in store.flagged_pairs() for name in (pair.a, pair.b)}
    states = store.states()
    overrides: dict[str, list[Override]] = {}
    for override in store.overrides():
        overrides.setdefault(override.student, []).append(override)
    comments: dict[str, list[Comment]] = {}
    for comment in store.comments():
        comments.setdefault(comment.student, []).append(comment)
    rows: list[StudentRow] = []
    check_ids: dict[str, None] = {}
    for student in store.students():
        raw = store.report(student)
        mine = overrides.get(student, [])
        report = final_report(raw, Reviews(tuple(mine), tuple(comments.get(student, []))))
        check_ids.update({c.id: None for c in report.checks})
        content = store.content_hash(student)
        rows.append(StudentRow(
            student=student, name=report.display_name or "", points=points_text(report.score, report.max_score),
            errored=bool(report.errored), late=report.late, flagged=student in flagged,
            reviewed=states.get(student, StudentState(student)).reviewed, overridden=len(mine),
            needs_look=any(needs_another_look(o, raw, content) for o in mine),
            failing=tuple(c.id for c in report.checks if c.status in ("failed", "error"))))
    wanted: Filter = next((f for f in FILTERS if f == show), "all")
    kept = [row for row in rows if _keeps(row, wanted) and (not check or check in row.failing)]
    return ClassView(rows=kept, total=len(rows), show=wanted, check=check, check_ids=list(check_ids))


def _keeps(row: StudentRow, show: Filter) -> bool:
    return {"all": True, "errored": row.errored, "flagged": row.flagged, "late": row.late, "unreviewed": not row.reviewed,
            "look": row.needs_look}[show]


def student_view(store: ReviewStore, student: str) -> StudentView:
    """The student page of `student` (ReviewError when unknown)."""
    raw = store.report(student)
    overrides = {o.check_id: o for o in store.overrides(student)}
    comments = store.comments(student)
    report = final_report(raw, Reviews(tuple(overrides.values()), tuple(comments)))
    content = store.content_hash(student)
    checks = [CheckView(check=final, final=points_text(final.score, final.max_score),
                        autograder=points_text(auto.score, auto.max_score), override=overrides.get(auto.id),
                        needs_look=auto.id in overrides and needs_another_look(overrides[auto.id], raw, content),
                        comments=tuple(c for c in comments if c.check_id == auto.id))
              for auto, final in zip(raw.checks, report.checks)]
    return StudentView(report=report, state=store.state(student), points=points_text(report.score, report.max_score),
                       checks=checks, code=[_code(source, comments) for source in raw.sources],
                       history=store.history(student),
                       others=sorted({p.b if p.a == student else p.a for p in store.flagged_pairs() if student in (p.a, p.b)}))


def _code(source: GradedSource, comments: list[Comment]) -> CodeView:
    texts = source.source.rstrip("\n").split("\n")
    lines = tuple(CodeLine(source.line + i, line, tuple(c for c in comments if c.file == source.file_label and c.line == source.line + i))
                  for i, line in enumerate(texts))
    return CodeView(name=source.name, file=source.file_label, lines=lines)


def pair_views(store: ReviewStore) -> list[PairView]:
    """Every flagged pair with its decision."""
    decisions = store.decisions()
    return [PairView(pair, decisions.get((pair.part, pair.a, pair.b))) for pair in store.flagged_pairs()]
