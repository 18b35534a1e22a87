"""The class list a course site exports, read as data: who is in the class and how the site knows them.

    load_roster(path, assignment=None) -> Roster

Two exports are understood, told apart by their header:

- Canvas's gradebook export (Grades > Export), columns `Student, ID, SIS User ID,
  SIS Login ID, [Integration ID,] Section`, then one column per assignment titled
  `Name (canvas id)` and totals such as `Current Score`; the row after the header whose
  first cell is `Points Possible` gives each assignment's points.  A student is known by
  their SIS User ID, else their Canvas ID; a Canvas download names files by Canvas ID.
- Moodle's grading worksheet (Assignment > Download grading worksheet), columns
  `Identifier, Full name, Email address, Status, Grade, Maximum Grade, ...,
  Last modified (grade), ...` (or their Chinese: 标识符, 成绩, 最高分, ...).  The
  identifier is `Participant 1234567` (参与人1234567), whose number Moodle's download
  puts in folder names; a student is known by their `ID number` column when the
  site exports it, else by that participant number.

The file is staff-provided but still only data: every cell is kept as text, nothing is
evaluated, and the ids that become folder names are checked to be safe path components.
The file is UTF-8 (with or without BOM) as downloaded, or GBK as Excel on a Chinese
Windows saves it.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import UsageError

__all__ = ["Roster", "RosterEntry", "RosterKind", "is_safe_student_id", "load_roster"]

RosterKind = Literal["canvas", "moodle"]

_CANVAS_ASSIGNMENT = re.compile(r"^(?P<title>.*\S)\s*\((?P<id>\d+)\)\s*$")
_POINTS_ROW = "Points Possible"
_MOODLE_HEADERS: dict[str, tuple[str, ...]] = {
    # Moodle's own strings in English and in the zh_cn language pack (assign, core).
    "identifier": ("Identifier", "标识符"),
    "name": ("Full name", "全名", "姓名"),
    "grade": ("Grade", "成绩"),
    "max": ("Maximum Grade", "Maximum grade", "最高分"),
    "status": ("Status", "状态"),
    "id_number": ("ID number", "ID 号", "学号"),
}
# The status column carries Moodle's "{time} late" (en) or "迟{time}" (zh_cn) line of a late submission.
_MOODLE_LATE = re.compile(r"(?m)(\blate\s*$|^\s*迟)")
_MAX_ID_CHARS = 100


@dataclass(frozen=True)
class RosterEntry:
    """One student of the roster."""

    student: str
    """The id the grader knows the student by: folder name in out/, `student` of their report."""
    name: str
    """Their name as the site shows it."""
    site_id: str
    """The id the site's own download names carry: Canvas ID, or Moodle participant number."""
    other_ids: tuple[str, ...]
    """Further ids a folder may be named by: SIS User ID and SIS Login ID, or Moodle's ID number."""
    row: tuple[str, ...]
    """The row exactly as read, written back into the site's import file."""
    late: bool = False
    """The site marked the submission late (Moodle's status column)."""
    max_grade: float | None = None
    """Moodle: this row's Maximum Grade, the scale its Grade is on."""


@dataclass(frozen=True)
class Roster:
    """A course site's class list, and where its grade goes when the file is written back."""

    kind: RosterKind
    path: Path
    header: tuple[str, ...]
    entries: tuple[RosterEntry, ...]
    grade_column: int
    """Index of the column the grade goes into: the chosen Canvas assignment, or Moodle's Grade."""
    identity_columns: int = 5
    """Canvas: how many leading columns identify a student (Student ... Section)."""
    points_possible: float | None = None
    """Canvas: the chosen assignment's points, from the Points Possible row."""

    @property
    def assignment(self) -> str:
        """The header of the grade column, e.g. `作业2-1 全连接网络 (4567)` or `Grade`."""
        return self.header[self.grade_column]

    def match(self, key: str, *, site_id: bool) -> RosterEntry | None:
        """The entry a download's id names: its site id when `site_id`, else any of its ids."""
        if site_id:
            return next((e for e in self.entries if e.site_id == key), None)
        return next((e for e in self.entries if key in (e.student, e.site_id, *e.other_ids)), None)


def load_roster(path: Path, *, assignment: str | None = None) -> Roster:
    """Read a Canvas gradebook export or a Moodle grading worksheet.

    Args:
        path: The CSV file as downloaded from the course site.
        assignment: Canvas only: which assignment column to grade into, by its
            Canvas id, its title or its whole header; needed when there are several.

    Raises:
        UsageError: the file cannot be read, is neither export, or names no usable
            assignment, points or students; the message names the file and the fix.
    """
    rows = _read_rows(path)
    if not rows:
        raise UsageError(f"{path}: the roster is empty; pass the gradebook export (Canvas) or grading worksheet (Moodle) as downloaded")
    header = tuple(cell.strip() for cell in rows[0])
    if _moodle_column(header, "identifier") is not None:
        return _moodle_roster(path, header, rows[1:])
    if len(header) > 1 and header[0].lstrip("\ufeff") == "Student" and header[1] == "ID":
        return _canvas_roster(path, header, rows[1:], assignment)
    raise UsageError(
        f"{path}: neither a Canvas gradebook export (columns Student, ID, SIS User ID, SIS Login ID, Section, ...) "
        f"nor a Moodle grading worksheet (Identifier, Full name, ..., Grade); the header is {', '.join(header[:6])}; "
        f"pass one of those files, as downloaded, to --roster")


def is_safe_student_id(value: str) -> bool:
    """Whether `value` may name a student's folder: one plain path component, no hidden name, no control characters."""
    return (0 < len(value) <= _MAX_ID_CHARS and value not in (".", "..") and not value.startswith(".")
            and not any(ch in value for ch in "/\\\0:") and value.isprintable() and value == value.strip())


# --------------------------------------------------------------------------- reading


def _read_rows(path: Path) -> list[list[str]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the roster ({exc.strerror}); pass the exported CSV file to --roster") from None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return [row for row in csv.reader(io.StringIO(text, newline="")) if any(cell.strip() for cell in row)]
    raise UsageError(f"{path}: the roster is neither UTF-8 nor GBK text; save it as CSV UTF-8 and pass it again")


def _cell(row: list[str], index: int | None) -> str:
    return row[index].strip() if index is not None and index < len(row) else ""


def _number(text: str) -> float | None:
    """'100.00', '100,00', '10' -> a float; None when blank or not a number."""
    try:
        value = float(text.strip().replace(",", "."))
    except ValueError:
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None


def _check_unique(path: Path, entries: list[RosterEntry]) -> tuple[RosterEntry, ...]:
    seen: dict[str, RosterEntry] = {}
    for entry in entries:
        if entry.student in seen:
            raise UsageError(f"{path}: two students have the id {entry.student!r} ({seen[entry.student].name} and {entry.name}); "
                             f"fix the roster so that every id is unique")
        seen[entry.student] = entry
    if not entries:
        raise UsageError(f"{path}: the roster lists no students; export it again with the students enrolled")
    return tuple(entries)


def _pick_key(primary: str, fallback: str) -> str:
    """`primary` (SIS User ID, ID number) when it can name a folder, else the site's own number."""
    return primary if primary and is_safe_student_id(primary) else fallback


# --------------------------------------------------------------------------- Canvas


def _canvas_roster(path: Path, header: tuple[str, ...], rows: list[list[str]], assignment: str | None) -> Roster:
    if "Section" not in header:
        raise UsageError(f"{path}: a Canvas gradebook export has a Section column after the SIS columns; export it again from Grades > Export")
    identity = header.index("Section") + 1
    column = _canvas_assignment_column(path, header, identity, assignment)
    points_rows = [row for row in rows if row and row[0].strip() == _POINTS_ROW]
    points = _number(_cell(points_rows[0], column)) if points_rows else None
    if points is None or points <= 0:
        raise UsageError(f"{path}: the {_POINTS_ROW} row has no positive number for {header[column]!r}; "
                         f"export the gradebook again, or set the assignment's points in Canvas")
    sis_user = header.index("SIS User ID") if "SIS User ID" in header else None
    sis_login = header.index("SIS Login ID") if "SIS Login ID" in header else None
    entries = [_canvas_entry(row, sis_user, sis_login) for row in rows if _is_canvas_student(row)]
    return Roster(kind="canvas", path=path, header=header, entries=_check_unique(path, entries), grade_column=column,
                  identity_columns=identity, points_possible=points)


def _canvas_assignment_column(path: Path, header: tuple[str, ...], identity: int, wanted: str | None) -> int:
    """The index of the assignment column to grade into."""
    columns = [i for i in range(identity, len(header)) if _CANVAS_ASSIGNMENT.match(header[i])]
    if wanted is not None:
        found = [i for i in columns if wanted.strip() in (header[i], *_title_and_id(header[i]))]
        if len(found) == 1:
            return found[0]
    elif len(columns) == 1:
        return columns[0]
    choices = "; ".join(header[i] for i in columns) or "none"
    if wanted is None:
        fix = "pass --assignment with the Canvas id of the one to grade"
    else:
        fix = f"--assignment {wanted!r} names {'none' if not columns else 'not exactly one'} of them; pass the Canvas id or the whole title"
    raise UsageError(f"{path}: {len(columns)} assignment columns ({choices}); {fix}")


def _title_and_id(header: str) -> tuple[str, str]:
    match = _CANVAS_ASSIGNMENT.match(header)
    return (match["title"], match["id"]) if match else (header, "")


def _is_canvas_student(row: list[str]) -> bool:
    # Canvas's import skips the Points Possible row and rows of "Muted"/"Manual Posting" markers; a student has an ID.
    return bool(row) and _POINTS_ROW not in row[0] and _cell(row, 1).isdigit()


def _canvas_entry(row: list[str], sis_user: int | None, sis_login: int | None) -> RosterEntry:
    canvas_id, sis_id, login = _cell(row, 1), _cell(row, sis_user), _cell(row, sis_login)
    return RosterEntry(student=_pick_key(sis_id, canvas_id), name=_cell(row, 0), site_id=canvas_id,
                       other_ids=tuple(i for i in (sis_id, login) if i), row=tuple(row))


# --------------------------------------------------------------------------- Moodle


def _moodle_column(header: tuple[str, ...], role: str) -> int | None:
    names = _MOODLE_HEADERS[role]
    return next((i for i, cell in enumerate(header) if cell.lstrip("\ufeff") in names), None)


def _moodle_roster(path: Path, header: tuple[str, ...], rows: list[list[str]]) -> Roster:
    grade = _moodle_column(header, "grade")
    if grade is None:
        raise UsageError(f"{path}: the Moodle grading worksheet has no Grade column; download it again from the assignment's "
                         f"'Download grading worksheet' (with offline grading worksheets enabled)")
    columns = {role: _moodle_column(header, role) for role in _MOODLE_HEADERS}
    entries = [_moodle_entry(row, columns) for row in rows if re.search(r"\d+\s*$", _cell(row, columns["identifier"]))]
    return Roster(kind="moodle", path=path, header=header, entries=_check_unique(path, entries), grade_column=grade)


def _moodle_entry(row: list[str], columns: dict[str, int | None]) -> RosterEntry:
    found = re.search(r"(\d+)\s*$", _cell(row, columns["identifier"]))
    participant = found.group(1) if found else ""
    id_number = _cell(row, columns["id_number"])
    status = row[columns["status"]] if columns["status"] is not None and columns["status"] < len(row) else ""
    return RosterEntry(student=_pick_key(id_number, participant), name=_cell(row, columns["name"]), site_id=participant,
                       other_ids=(id_number,) if id_number else (), row=tuple(row),
                       late=bool(_MOODLE_LATE.search(status)), max_grade=_number(_cell(row, columns["max"])))


# --------------------------------------------------------------------------- the class as graded

Site = Literal["canvas", "moodle", "numbered", "folder"]
"""Where a student's files said whose they are: a Canvas download's file names, a Moodle
download's folder or file names, a leading student number (`2151131-朱沙桐-作业.md`), or
just the folder (or `prefix_`) they came in."""


@dataclass(frozen=True)
class ClassMember:
    """One student folder of the class being graded, and who it belongs to."""

    student: str
    """The folder's name: the `student` of the report, out/<student>/."""
    site: Site
    site_key: str
    """The id the download's names carry: Canvas ID, Moodle participant number, student number or folder name."""
    name: str | None = None
    """The student's name: the roster's, else what the download's names say (may be None)."""
    late: bool = False
    """Canvas named a file LATE_, or Moodle's worksheet says the submission was late."""
    entry: RosterEntry | None = None
    """The roster row this folder matched, when a roster was given."""


@dataclass(frozen=True)
class ClassRoll:
    """Who the class's folders belong to, and the roster they were matched against."""

    members: tuple[ClassMember, ...]
    roster: Roster | None = None

    def member(self, student: str) -> ClassMember | None:
        """The member whose folder is `student`."""
        return next((m for m in self.members if m.student == student), None)

    @property
    def missing(self) -> tuple[RosterEntry, ...]:
        """Roster students no folder matched: no submission."""
        if self.roster is None:
            return ()
        matched = {id(m.entry) for m in self.members if m.entry is not None}
        return tuple(e for e in self.roster.entries if id(e) not in matched)

    @property
    def unknown(self) -> tuple[ClassMember, ...]:
        """Folders that matched no roster entry (empty without a roster): graded, but not written back to the site."""
        return tuple(m for m in self.members if self.roster is not None and m.entry is None)

    @property
    def site(self) -> Site | None:
        """'canvas' or 'moodle' when every folder came from that site's download, else None."""
        sites = {m.site for m in self.members}
        return next(iter(sites)) if len(sites) == 1 and sites <= {"canvas", "moodle"} else None
