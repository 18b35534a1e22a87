"""The class gradebook: one SQLite file in the output folder, the source of the class outputs.

Each graded submission is one row, written in its own transaction together with
what it was graded from: the submission's content hash, the rubric hash, the
grader version and the options that change which checks run.  A row whose key
matches is current, so a re-run skips it; a batch killed at any moment (even
kill -9) leaves only whole rows behind, and the next run grades the rest.
gradebook.csv and summary.html are generated from the rows, never from memory.

SQLite in WAL mode with a busy timeout lets two grader processes write the same
gradebook at once without corrupting it; the last writer of a student wins.

The review_* tables hold what people decided (`grade review`, `grade override`,
`grade comment`): overrides, comments, similarity decisions and the history of every
change.  Grading never deletes or rewrites them; `save` only adds a history entry when
the autograder's verdict under an override changed (grader/review/ reads them).
Opening an older gradebook creates the tables (schema version 2).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .records import CheckResult, GradeReport
from .reports.json_ import strict_jsonable

FILENAME = "gradebook.sqlite"
_BUSY_TIMEOUT_MS = 60_000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    started TEXT NOT NULL,
    source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    student TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL,
    rubric_hash TEXT NOT NULL,
    grader_version TEXT NOT NULL,
    options TEXT NOT NULL,
    run_id INTEGER NOT NULL REFERENCES runs(run_id),
    graded TEXT NOT NULL,
    score REAL NOT NULL,
    max_score REAL NOT NULL,
    errored INTEGER NOT NULL,
    report TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS review_students (
    student TEXT PRIMARY KEY,
    version INTEGER NOT NULL DEFAULT 0,
    reviewed INTEGER NOT NULL DEFAULT 0,
    changed_by TEXT NOT NULL DEFAULT '',
    changed TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS review_overrides (
    student TEXT NOT NULL,
    check_id TEXT NOT NULL,
    points REAL NOT NULL,
    reason TEXT NOT NULL,
    staff_only INTEGER NOT NULL,
    autograder_score REAL NOT NULL,
    autograder_status TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    author TEXT NOT NULL,
    changed TEXT NOT NULL,
    PRIMARY KEY (student, check_id)
);
CREATE TABLE IF NOT EXISTS review_comments (
    comment_id INTEGER PRIMARY KEY AUTOINCREMENT,
    student TEXT NOT NULL,
    file TEXT,
    line INTEGER,
    check_id TEXT,
    text TEXT NOT NULL,
    staff_only INTEGER NOT NULL,
    author TEXT NOT NULL,
    changed TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS review_pairs (
    part TEXT NOT NULL,
    a TEXT NOT NULL,
    b TEXT NOT NULL,
    decision TEXT NOT NULL,
    note TEXT NOT NULL,
    version INTEGER NOT NULL,
    author TEXT NOT NULL,
    changed TEXT NOT NULL,
    PRIMARY KEY (part, a, b)
);
CREATE TABLE IF NOT EXISTS review_history (
    event_id INTEGER PRIMARY KEY AUTOINCREMENT,
    student TEXT NOT NULL,
    target TEXT NOT NULL,
    kind TEXT NOT NULL,
    old TEXT NOT NULL,
    new TEXT NOT NULL,
    why TEXT NOT NULL,
    staff_only INTEGER NOT NULL,
    author TEXT NOT NULL,
    changed TEXT NOT NULL
);
"""
SCHEMA_VERSION = 2
"""1: runs and results; 2: the review_* tables (created on opening an older gradebook)."""
AUTOGRADER = "autograder"
"""The author of history entries the grader itself writes (a verdict that changed under an override)."""


@dataclass(frozen=True)
class GradeKey:
    """What a result was graded from; a stored result is current only when all of it matches."""

    content_hash: str
    rubric_hash: str
    grader_version: str
    options: str
    """The options that change which checks run (e.g. --only), as canonical JSON."""


def content_hash(path: Path) -> str:
    """SHA-256 over every file of a submission (relative path and bytes), in a fixed order."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        name = file.name if file == path else file.relative_to(path).as_posix()
        digest.update(name.encode("utf-8", "surrogateescape") + b"\0")
        with open(file, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def options_key(**options: object) -> str:
    """Canonical JSON of the options that select checks, for `GradeKey.options`."""
    return json.dumps(options, sort_keys=True, separators=(",", ":"))


class Gradebook:
    """The SQLite gradebook of one output folder; one instance per thread that writes."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / FILENAME
        self._db = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        self._db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")  # a row the grader reported as saved survives power loss
        with self._transaction():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @property
    def db(self) -> sqlite3.Connection:
        """The connection (autocommit; write inside `transaction()`), for grader/decisions/store.py."""
        return self._db

    def transaction(self) -> "_Transaction":
        """BEGIN IMMEDIATE ... COMMIT around a block of writes (rolled back on an exception)."""
        return _Transaction(self._db)

    def start_run(self, source: str) -> int:
        """Record the start of a batch over `source`; returns its run id."""
        with self._transaction():
            cursor = self._db.execute("INSERT INTO runs (started, source) VALUES (?, ?)", (_now(), source))
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def is_current(self, student: str, key: GradeKey) -> bool:
        """Whether `student` has a stored result graded from exactly `key`."""
        row = self._db.execute(
            "SELECT 1 FROM results WHERE student = ? AND content_hash = ? AND rubric_hash = ? AND grader_version = ? AND options = ?",
            (student, key.content_hash, key.rubric_hash, key.grader_version, key.options),
        ).fetchone()
        return row is not None

    def save(self, report: GradeReport, key: GradeKey, run_id: int) -> None:
        """Store `report` as `student`'s current result, atomically replacing any older one."""
        text = json.dumps(strict_jsonable(report.model_dump()), ensure_ascii=False, allow_nan=False)
        errored = bool(report.errored)
        with self._transaction():
            self._note_changed_verdicts(report, key)
            self._db.execute(
                "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (report.student, key.content_hash, key.rubric_hash, key.grader_version, key.options, run_id,
                 _now(), report.score, report.max_score, int(errored), text),
            )

    def _note_changed_verdicts(self, report: GradeReport, key: GradeKey) -> None:
        """In save's transaction: a history entry for each overridden check whose autograder verdict the new
        result changes (a regrade, a new rubric, a resubmission); the override itself is kept as it is."""
        overridden = [row[0] for row in self._db.execute(
            "SELECT check_id FROM review_overrides WHERE student = ? ORDER BY check_id", (report.student,))]
        old = self._db.execute("SELECT report, content_hash FROM results WHERE student = ?", (report.student,)).fetchone()
        if not overridden or old is None:
            return
        before = {c.id: c for c in GradeReport.model_validate_json(old[0]).checks}
        after = {c.id: c for c in report.checks}
        resubmitted = old[1] != key.content_hash
        changed = [(cid, verdict_text(before.get(cid)), verdict_text(after.get(cid))) for cid in overridden]
        changed = [(cid, was, now) for cid, was, now in changed if was != now or resubmitted]
        for check_id, was, now in changed:
            self._db.execute(
                "INSERT INTO review_history (student, target, kind, old, new, why, staff_only, author, changed) "
                "VALUES (?, ?, 'autograder', ?, ?, ?, 1, ?, ?)",
                (report.student, check_id, was, now, "resubmitted" if resubmitted else "regraded", AUTOGRADER, _now()))
        if changed:  # a form loaded before the regrade shows the old verdict: refuse it
            self._db.execute("INSERT INTO review_students (student, version) VALUES (?, 1) "
                             "ON CONFLICT (student) DO UPDATE SET version = version + 1", (report.student,))

    def report(self, student: str) -> GradeReport | None:
        """The stored report of `student`, if any."""
        row = self._db.execute("SELECT report FROM results WHERE student = ?", (student,)).fetchone()
        return GradeReport.model_validate_json(row[0]) if row else None

    def reports(self, students: list[str]) -> list[GradeReport]:
        """The stored reports of `students` that have one, in the given order."""
        found = (self.report(student) for student in students)
        return [report for report in found if report is not None]

    def run_of(self, student: str) -> int | None:
        """The run that graded `student`'s stored result."""
        row = self._db.execute("SELECT run_id FROM results WHERE student = ?", (student,)).fetchone()
        return int(row[0]) if row else None

    def close(self) -> None:
        """Close the connection (rows are already committed)."""
        self._db.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on error: takes the write lock up front, so
    two processes never both read-then-write the same row."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")


def verdict_text(check: CheckResult | None) -> str:
    """An autograder verdict as history shows it: 'failed 0/10', or 'absent' for a check the result lacks."""
    return "absent" if check is None else f"{check.status} {check.score:g}/{check.max_score:g}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
