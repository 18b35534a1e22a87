"""The class gradebook: one SQLite file in the output folder, the source of the class outputs.

Each graded submission is one row, written in its own transaction together with
what it was graded from: the submission's content hash, the rubric hash, the
grader version and the options that change which checks run.  A row whose key
matches is current, so a re-run skips it; a batch killed at any moment (even
kill -9) leaves only whole rows behind, and the next run grades the rest.
gradebook.csv and summary.html are generated from the rows, never from memory.

SQLite in WAL mode with a busy timeout lets two grader processes write the same
gradebook at once without corrupting it; the last writer of a student wins.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .records import GradeReport
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
"""


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
            self._db.execute(
                "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (report.student, key.content_hash, key.rubric_hash, key.grader_version, key.options, run_id,
                 _now(), report.score, report.max_score, int(errored), text),
            )

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


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
