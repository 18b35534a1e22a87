"""Where a student's report folder goes under --out: a name no student can make collide with the class's files.

A student controls their folder's name (a course-site zip names it after their
files), and the class's outputs sit beside the students' folders: a student
called `summary.html` or `gradebook.csv` would take its place, `.unpacked` is
the grader's own unpack folder, and `CON`, `NUL`, a name with `:` or a 300-byte
name cannot be copied to Windows.  Such a student's folder is the name made
safe plus `~` and 12 hex digits of the name's sha256: `summary.html~5f0c7a...`.
A plain name that merely ends like that is escaped too, so two students never
share a folder (one function, no class context: the same name always maps to
the same folder, run after run).  Names that differ only in case stay apart on
Linux; on a case-insensitive disk (a zip of out/ opened on macOS or Windows)
they may not, which docs/security.md says.
"""

from __future__ import annotations

import hashlib
import re

CLASS_FILES = frozenset({
    "summary.html", "gradebook.csv", "gradebook.xlsx", "gradebook.sqlite", "gradebook.sqlite-wal", "gradebook.sqlite-shm",
    "gradebook.sqlite-journal", "canvas.csv", "moodle.csv", "similarity.csv", "similarity.html",
})
"""Every file and folder the grader writes directly under --out (compared case-insensitively)."""
WINDOWS_DEVICES = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))})
MAX_NAME_BYTES = 120
"""Longer names are cut: many file systems and zip tools stop at 255 bytes for a whole path component."""
_ESCAPED = re.compile(r"~[0-9a-f]{12}$")
_UNSAFE_CHARS = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')


def student_folder(student: str) -> str:
    """The folder name under --out holding `student`'s result.json and report.html."""
    return student if not needs_escape(student) else _escape(student)


def needs_escape(student: str) -> bool:
    """Whether `student` as a folder name could collide with a class file, another student, or not survive a copy."""
    stem = student.split(".", 1)[0].strip().lower()
    return (
        student.casefold() in CLASS_FILES
        or student.startswith(".")
        or stem in WINDOWS_DEVICES
        or student != student.rstrip(". ")
        or _UNSAFE_CHARS.search(student) is not None
        or len(student.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES
        or _ESCAPED.search(student) is not None
        or student == ""
    )


def _escape(student: str) -> str:
    digest = hashlib.sha256(student.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    safe = _UNSAFE_CHARS.sub("_", student).rstrip(". ").lstrip(".") or "student"
    if safe.split(".", 1)[0].strip().lower() in WINDOWS_DEVICES:
        safe = "_" + safe
    while len(safe.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES - 13:
        safe = safe[:-1]
    return f"{safe}~{digest}"
