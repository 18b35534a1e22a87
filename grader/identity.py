"""Who a graded submission belongs to: the roll's name and late mark put onto its report.

Grading knows a student only by their folder; the class roll (roster.py, built from the
course site's download and the roster) knows their name and whether the site marked
them late.  Both are stored with the report in the gradebook, so a re-run that skips an
unchanged student still shows them, and a changed roster updates them without regrading.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .gradebook_db import Gradebook, GradeKey
from .records import GradeReport
from .roster import ClassMember, ClassRoll

__all__ = ["refresh_identities", "with_identity"]


def with_identity(report: GradeReport, member: ClassMember | None) -> GradeReport:
    """`report` with `member`'s name and late mark; unchanged when there is no member."""
    if member is None or (report.display_name, report.late) == (member.name, member.late):
        return report
    return report.model_copy(update={"display_name": member.name, "late": member.late})


def refresh_identities(book: Gradebook, students: list[str], roll: ClassRoll | None, keys: Mapping[str, GradeKey],
                       run_id: int, *, write: Callable[[GradeReport], None]) -> None:
    """Give the stored reports of `students` (skipped as unchanged) the roll's current identity.

    A report whose name or late mark changed (another roster, a LATE_ file) is saved again
    under its old key, so it stays current, and `write` rewrites its files; nothing is regraded.
    """
    if roll is None:
        return
    for student in students:
        stored = book.report(student)
        if stored is None:
            continue
        current = with_identity(stored, roll.member(student))
        if current is not stored:
            book.save(current, keys[student], run_id)
            write(current)
