"""What TAs decided, in the class's gradebook.sqlite: overrides, comments, similarity decisions, history.

Every change is one `BEGIN IMMEDIATE` transaction that checks the student's (or the
pair's) version first: a form carries the version it was loaded at, and a change made
in between (by another TA, or a regrade) makes the form stale, refused with who changed
what and when.  Every change adds a history entry (who, when, old, new, why).  Input is
validated before anything is written: an unknown student or check, points outside
0..max, a blank reason or comment is a `ReviewError` and nothing is stored.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from grader.errors import UsageError
from grader.gradebook_db import FILENAME, Gradebook, verdict_text
from grader.records import GradeReport
from grader.reports.i18n import text

Decision = Literal["copied", "not_copied", "unsure"]
DECISIONS: tuple[Decision, ...] = ("copied", "not_copied", "unsure")
MAX_TEXT = 5000
"""Longest reason, comment or note accepted (characters)."""


class ReviewError(UsageError):
    """A review change that cannot be stored; `key` and `values` name its page text (page.review.error.<key>)."""

    def __init__(self, key: str, **values: object) -> None:
        self.key = key
        self.values = values
        super().__init__(text("en", f"review.error.{key}", **values))


class StaleForm(ReviewError):
    """The form was loaded before someone else changed the same student or pair."""


@dataclass(frozen=True)
class Override:
    """A check's points as a TA set them, with the autograder's verdict at that moment."""

    student: str
    check_id: str
    points: float
    reason: str
    staff_only: bool
    autograder_score: float
    autograder_status: str
    content_hash: str
    """The submission's content hash when the override was made (a resubmission changes it)."""
    author: str
    changed: str


@dataclass(frozen=True)
class Comment:
    """A TA's comment on a line of the student's code (file and line) or on a check."""

    comment_id: int
    student: str
    file: str | None
    line: int | None
    check_id: str | None
    text: str
    staff_only: bool
    author: str
    changed: str


@dataclass(frozen=True)
class PairDecision:
    """What a TA decided about a flagged similarity pair (staff-only)."""

    part: str
    a: str
    b: str
    decision: Decision
    note: str
    version: int
    author: str
    changed: str


@dataclass(frozen=True)
class HistoryEntry:
    """One change: who, when, what (target), old and new value, why."""

    event_id: int
    student: str
    target: str
    kind: str
    """override, comment, reviewed, similarity, or autograder (a regrade changed the verdict under an override)."""
    old: str
    new: str
    why: str
    staff_only: bool
    author: str
    changed: str


@dataclass(frozen=True)
class StudentState:
    """A student's review version (bumped by every change), reviewed mark and last change."""

    student: str
    version: int = 0
    reviewed: bool = False
    changed_by: str = ""
    changed: str = ""


@dataclass(frozen=True)
class FlaggedPair:
    """A pair similarity.csv flags (score at or above the rubric's threshold)."""

    part: str
    a: str
    b: str
    score: str
    matched_lines: str


class ReviewStore:
    """The review tables of one output folder's gradebook; one instance per thread."""

    def __init__(self, out: Path) -> None:
        if not (out / FILENAME).is_file():
            raise ReviewError("no_gradebook", out=str(out))
        self.out = out
        self.book = Gradebook(out)  # creates the review tables in an older gradebook
        self._db = self.book.db

    def close(self) -> None:
        """Close the connection (every change is already committed)."""
        self.book.close()

    # ------------------------------------------------------------------ reading

    def students(self) -> list[str]:
        """Every graded student, by name."""
        return [row[0] for row in self._db.execute("SELECT student FROM results ORDER BY student")]

    def report(self, student: str) -> GradeReport:
        """The autograder's stored report of `student`; ReviewError when the gradebook has none."""
        report = self.book.report(student)
        if report is None:
            raise ReviewError("unknown_student", student=student)
        return report

    def content_hash(self, student: str) -> str:
        """The content hash of `student`'s stored result ('' without one)."""
        row = self._db.execute("SELECT content_hash FROM results WHERE student = ?", (student,)).fetchone()
        return str(row[0]) if row else ""

    def state(self, student: str) -> StudentState:
        """`student`'s version and reviewed mark (version 0: nothing changed yet)."""
        row = self._db.execute("SELECT student, version, reviewed, changed_by, changed FROM review_students WHERE student = ?",
                               (student,)).fetchone()
        return StudentState(row[0], int(row[1]), bool(row[2]), row[3], row[4]) if row else StudentState(student)

    def states(self) -> dict[str, StudentState]:
        """Every student's state that has one."""
        rows = self._db.execute("SELECT student, version, reviewed, changed_by, changed FROM review_students")
        return {r[0]: StudentState(r[0], int(r[1]), bool(r[2]), r[3], r[4]) for r in rows}

    def overrides(self, student: str | None = None) -> list[Override]:
        """The overrides of `student` (every student's when None), by student and check."""
        return overrides_in(self.book, student)

    def comments(self, student: str | None = None) -> list[Comment]:
        """The comments on `student` (every student's when None), oldest first."""
        return comments_in(self.book, student)

    def history(self, student: str | None = None) -> list[HistoryEntry]:
        """Every change to `student` (to everyone when None), oldest first."""
        where, args = ("WHERE student = ?", (student,)) if student is not None else ("", ())
        rows = self._db.execute("SELECT event_id, student, target, kind, old, new, why, staff_only, author, changed "
                                f"FROM review_history {where} ORDER BY event_id", args)
        return [HistoryEntry(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]), r[8], r[9]) for r in rows]

    def decisions(self) -> dict[tuple[str, str, str], PairDecision]:
        """Every similarity decision, by (part, a, b)."""
        rows = self._db.execute("SELECT part, a, b, decision, note, version, author, changed FROM review_pairs")
        return {(r[0], r[1], r[2]): PairDecision(r[0], r[1], r[2], r[3], r[4], int(r[5]), r[6], r[7]) for r in rows}

    def last_points_change(self) -> str | None:
        """When points last changed by hand (an override set or removed), ISO time in UTC; None if never."""
        row = self._db.execute("SELECT MAX(changed) FROM review_history WHERE kind IN ('override', 'override_removed')").fetchone()
        return str(row[0]) if row and row[0] else None

    def last_source(self) -> str:
        """The class folder (or archive's unpacked folder) of the latest grading run."""
        row = self._db.execute("SELECT source FROM runs ORDER BY run_id DESC LIMIT 1").fetchone()
        return str(row[0]) if row else "CLASS"

    def flagged_pairs(self) -> list[FlaggedPair]:
        """The flagged pairs of the class's similarity.csv (none without one)."""
        return flagged_pairs(self.out)

    # ------------------------------------------------------------------ changing

    def set_override(self, student: str, check_id: str, points: str | float, *, reason: str, staff_only: bool, author: str,
                     version: int | None = None) -> Override:
        """Set `check_id`'s points for `student`; `version` (from the form) None skips the staleness check (CLI)."""
        report = self.report(student)
        check = next((c for c in report.checks if c.id == check_id), None)
        if check is None:
            raise ReviewError("unknown_check", student=student, check=check_id)
        value = _points(points, check.max_score, check_id)
        why = _required(reason, "reason_missing")
        who = _required(author, "author_missing")
        with self._change(student, version, who):
            old = self._db.execute("SELECT points FROM review_overrides WHERE student = ? AND check_id = ?",
                                   (student, check_id)).fetchone()
            override = Override(student, check_id, value, why, staff_only, check.score, check.status, self.content_hash(student),
                                who, _now())
            self._db.execute("INSERT OR REPLACE INTO review_overrides VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (student, check_id, value, why, int(staff_only), check.score, check.status,
                              override.content_hash, who, override.changed))
            was = f"{float(old[0]):g}" if old else f"{check.score:g} ({verdict_text(check)})"
            self._log(student, check_id, "override", was, f"{value:g}", why, staff_only, who)
        return override

    def remove_override(self, student: str, check_id: str, *, reason: str, author: str, version: int | None = None) -> None:
        """Drop `student`'s override of `check_id`: the autograder's points count again (the history keeps both)."""
        report = self.report(student)
        check = next((c for c in report.checks if c.id == check_id), None)
        why = _required(reason, "reason_missing")
        who = _required(author, "author_missing")
        with self._change(student, version, who):
            old = self._db.execute("SELECT points FROM review_overrides WHERE student = ? AND check_id = ?",
                                   (student, check_id)).fetchone()
            if old is None:
                raise ReviewError("no_override", student=student, check=check_id)
            self._db.execute("DELETE FROM review_overrides WHERE student = ? AND check_id = ?", (student, check_id))
            now = f"{check.score:g} ({verdict_text(check)})" if check is not None else verdict_text(None)
            self._log(student, check_id, "override_removed", f"{float(old[0]):g}", now, why, True, who)

    def add_comment(self, student: str, comment: str, *, file: str | None = None, line: int | str | None = None,
                    check_id: str | None = None, staff_only: bool = False, author: str, version: int | None = None) -> None:
        """A comment on a line of `student`'s code (`file`, `line`) or on a check (`check_id`)."""
        report = self.report(student)
        body = _required(comment, "comment_missing")
        who = _required(author, "author_missing")
        number: int | None = None
        if check_id:
            if not any(c.id == check_id for c in report.checks):
                raise ReviewError("unknown_check", student=student, check=check_id)
            target = check_id
        else:
            number = _line(line)
            if not file or not any(_holds(s.file_label, s.line, s.source, file, number) for s in report.sources):
                raise ReviewError("unknown_line", student=student, where=f"{file}:{line}")
            target = f"{file}:{number}"
        with self._change(student, version, who):
            self._db.execute("INSERT INTO review_comments (student, file, line, check_id, text, staff_only, author, changed) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (student, None if check_id else file, number, check_id or None, body, int(staff_only), who, _now()))
            self._log(student, target, "comment", "", body, "", staff_only, who)

    def set_reviewed(self, student: str, reviewed: bool, *, author: str, version: int | None = None) -> None:
        """Mark `student` reviewed (or not)."""
        self.report(student)
        who = _required(author, "author_missing")
        was = self.state(student).reviewed
        with self._change(student, version, who):
            self._db.execute("UPDATE review_students SET reviewed = ? WHERE student = ?", (int(reviewed), student))
            self._log(student, "reviewed", "reviewed", "yes" if was else "no", "yes" if reviewed else "no", "", True, who)

    def decide_pair(self, part: str, a: str, b: str, decision: str, *, note: str, author: str, version: int | None = None) -> None:
        """Record a decision about a flagged pair (staff-only); `version` is the pair's decision version from the form."""
        if not any((p.part, p.a, p.b) == (part, a, b) for p in self.flagged_pairs()):
            raise ReviewError("unknown_pair", a=a, b=b, part=part)
        if decision not in DECISIONS:
            raise ReviewError("bad_decision", decision=decision)
        who = _required(author, "author_missing")
        text_note = note.strip()
        if len(text_note) > MAX_TEXT:
            raise ReviewError("too_long", limit=MAX_TEXT)
        with self.book.transaction():
            row = self._db.execute("SELECT decision, version, author, changed FROM review_pairs WHERE part = ? AND a = ? AND b = ?",
                                   (part, a, b)).fetchone()
            current = int(row[1]) if row else 0
            if version is not None and version != current:
                raise StaleForm("stale", who=row[2], when=row[3])
            self._db.execute("INSERT OR REPLACE INTO review_pairs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (part, a, b, decision, text_note, current + 1, who, _now()))
            self._log(a, f"similarity {part}: {a} ~ {b}", "similarity", row[0] if row else "", decision, text_note, True, who)

    @contextmanager
    def _change(self, student: str, version: int | None, author: str) -> Iterator[None]:
        """One transaction that refuses a stale form and bumps the student's version."""
        with self.book.transaction():
            state = self.state(student)
            if version is not None and version != state.version:
                raise StaleForm("stale", who=state.changed_by or "-", when=state.changed or "-")
            self._db.execute("INSERT INTO review_students (student, version, changed_by, changed) VALUES (?, 1, ?, ?) "
                             "ON CONFLICT (student) DO UPDATE SET version = version + 1, changed_by = excluded.changed_by, "
                             "changed = excluded.changed", (student, author, _now()))
            yield

    def _log(self, student: str, target: str, kind: str, old: str, new: str, why: str, staff_only: bool, author: str) -> None:
        self._db.execute("INSERT INTO review_history (student, target, kind, old, new, why, staff_only, author, changed) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (student, target, kind, old, new, why, int(staff_only), author, _now()))


def overrides_in(book: Gradebook, student: str | None = None) -> list[Override]:
    """The overrides stored in `book` for `student` (every student's when None), by student and check."""
    where, args = ("WHERE student = ?", (student,)) if student is not None else ("", ())
    rows = book.db.execute("SELECT student, check_id, points, reason, staff_only, autograder_score, autograder_status, "
                           f"content_hash, author, changed FROM review_overrides {where} ORDER BY student, check_id", args)
    return [Override(r[0], r[1], float(r[2]), r[3], bool(r[4]), float(r[5]), r[6], r[7], r[8], r[9]) for r in rows]


def comments_in(book: Gradebook, student: str | None = None) -> list[Comment]:
    """The comments stored in `book` on `student` (every student's when None), oldest first."""
    where, args = ("WHERE student = ?", (student,)) if student is not None else ("", ())
    rows = book.db.execute("SELECT comment_id, student, file, line, check_id, text, staff_only, author, changed "
                           f"FROM review_comments {where} ORDER BY comment_id", args)
    return [Comment(int(r[0]), r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7], r[8]) for r in rows]


def flagged_pairs(out: Path) -> list[FlaggedPair]:
    """The flagged rows of out/similarity.csv (see grader/reports/similarity.py), [] when there is none."""
    path = out / "similarity.csv"
    if not path.is_file():
        return []
    with open(path, encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    return [FlaggedPair(row["part"], _unquote(row["student"]), _unquote(row["other"]), row["score"], row["matched_lines"])
            for row in rows if row.get("flagged") == "true"]


def _unquote(cell: str) -> str:
    # similarity.csv quotes a name that a spreadsheet would run as a formula with a leading '.
    return cell[1:] if cell.startswith("'") and cell[1:2] in ("=", "+", "-", "@", "\t", "\r") else cell


def _points(value: str | float, most: float, check_id: str) -> float:
    try:
        points = float(value)
    except (TypeError, ValueError):
        raise ReviewError("points_not_number", value=str(value)) from None
    if not math.isfinite(points) or not 0 <= points <= most:
        raise ReviewError("points_range", value=str(value), check=check_id, most=f"{most:g}")
    return points


def _line(value: int | str | None) -> int:
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def _holds(label: str, first: int, source: str, file: str, line: int) -> bool:
    """Whether the graded definition at `label` from `first` on holds line `line` of `file`."""
    return label == file and first <= line < first + len(source.rstrip("\n").split("\n"))


def _required(value: str, key: str) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise ReviewError(key)
    if len(cleaned) > MAX_TEXT:
        raise ReviewError("too_long", limit=MAX_TEXT)
    return cleaned


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")
