"""Building course-site downloads and rosters for tests, and reading the import files back as the sites do.

`canvas_import` follows Canvas's GradebookImporter (lib/gradebook_importer.rb): the header
must start with Student and ID, SIS User ID and SIS Login ID follow, Section is the last
identity column; assignment columns are `title (id)`; the row whose first cell contains
"Points Possible" gives the points; a student row is matched by ID, then SIS User ID,
then SIS Login ID; a grade's decimal comma becomes a point.  `moodle_import` follows
Moodle's assignfeedback_offline grade importer (importgradeslib.php, locallib.php): the
Identifier, Grade and "Last modified (grade)" columns are looked up by their exact
header, the participant number is the Identifier after "Participant ", a blank or
negative grade is skipped, one above the maximum is out of range.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

from .conftest import CORPUS

CORRECT = CORPUS / "correct_md_torch" / "report.md"
BUGGY_RELU = CORPUS / "mutant_relu" / "report.md"


def write_zip(path: Path, entries: dict[str, bytes], *, gbk: bool = False) -> Path:
    """A zip of `entries`; with `gbk`, non-ASCII names are stored in GBK without the UTF-8 flag, as Chinese Windows does."""
    placeholders: dict[bytes, bytes] = {}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for i, (name, data) in enumerate(entries.items()):
            if gbk and not name.isascii():
                raw = name.encode("gbk")
                # zipfile would store a non-ASCII name as flagged UTF-8: write an ASCII stand-in of
                # the same length and put the GBK bytes in its place afterwards.
                stand_in = f"~{i:0{len(raw) - 1}d}".encode("ascii")
                placeholders[stand_in] = raw
                name = stand_in.decode("ascii")
            zf.writestr(name, data)
    content = path.read_bytes()
    for stand_in, raw in placeholders.items():
        assert content.count(stand_in) == 2  # the local header and the central directory
        content = content.replace(stand_in, raw)
    path.write_bytes(content)
    return path


def csv_text(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


def canvas_import(path: Path, students: dict[str, dict[str, str]]) -> dict[str, object]:
    """What Canvas's gradebook import reads from `path`: {assignment id, points, grades by Canvas ID}.

    `students` is Canvas's course: Canvas ID -> {"sis": SIS User ID, "login": SIS Login ID}.
    """
    rows = [row for row in csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline=""))
            if not re.fullmatch(r"^[;, ]*$", ",".join(row))]
    header = rows[0]
    assert len(header) > 3 and "Student" in header[0] and "ID" in header[1], header
    assert re.search(r"SIS\s+User\s+ID", header[2]) and re.search(r"SIS\s+Login\s+ID", header[3]), header
    columns = 5 if "Integration ID" not in header[4] else 6
    assert "Section" in header[columns - 1], header
    found = [(i, m) for i, h in enumerate(header[columns:], start=columns) if (m := re.match(r"^(.*)\s*\((\d+)\)\s*$", h))]
    assert len(found) == 1, header
    index, match = found[0]
    points, grades = None, {}
    for row in rows[1:]:
        if "Points Possible" in row[0]:
            points = float(row[index])
            continue
        canvas_id = row[1] if row[1] in students else None
        canvas_id = canvas_id or next((c for c, s in students.items() if row[2] and s["sis"] == row[2]), None)
        canvas_id = canvas_id or next((c for c, s in students.items() if row[3] and s["login"] == row[3]), None)
        assert canvas_id is not None, f"Canvas matches no student to {row}"
        grade = row[index].strip()
        grades[canvas_id] = float(grade.replace(",", ".")) if grade else None
    return {"assignment_id": match.group(2), "title": match.group(1).strip(), "points": points, "grades": grades}


def moodle_import(path: Path, *, max_grade: float) -> dict[str, float]:
    """The grades Moodle's "Upload grading worksheet" takes from `path`: participant number -> grade."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    header = rows[0]
    id_index, grade_index, modified_index = header.index("Identifier"), header.index("Grade"), header.index("Last modified (grade)")
    assert modified_index >= 0
    grades = {}
    for row in rows[1:]:
        participant = row[id_index][len("Participant "):]
        grade = row[grade_index]
        if grade == "" or float(grade) < 0 or float(grade) > max_grade:
            continue  # Moodle skips these
        grades[participant] = float(grade)
    return grades
