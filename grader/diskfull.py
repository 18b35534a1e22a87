"""A full disk under --out: one clear line instead of a traceback (the gradebook keeps every stored student).

Each result is committed to out/gradebook.sqlite the moment it is done (batch.py), and SQLite
rolls back a write the disk refused, so what was stored stays stored and a rerun after
freeing space grades only the students not yet stored.
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from .gradebook_db import FILENAME

_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_SQLITE_FULL = ("disk is full", "database or disk is full", "disk i/o error")


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) is a write the disk refused for want of space or quota."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _FULL_ERRNOS:
            return True
        if isinstance(current, sqlite3.Error) and any(text in str(current).lower() for text in _SQLITE_FULL):
            return True
        current = current.__cause__ or current.__context__
    return False


def stored_students(out: Path) -> int:
    """How many students out/gradebook.sqlite holds (read-only; 0 when it cannot be read)."""
    path = out / FILENAME
    if not path.is_file():
        return 0
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            return int(db.execute("SELECT count(*) FROM results").fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def disk_full_line(out: Path, exc: BaseException) -> str:
    """The one line `grade` ends with when the disk under `out` is full."""
    stored = stored_students(out)
    why = getattr(exc, "strerror", None) or str(exc)
    return (f"grade: the disk under {out} is full ({why}): {stored} student{'s' if stored != 1 else ''} stored in "
            f"{out / FILENAME}, and nothing stored is lost; free some space and run the same command again: "
            f"it grades only the students not stored yet")
