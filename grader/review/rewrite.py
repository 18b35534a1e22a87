"""After a TA's change: the student's report.html and result.json rewritten from the final report."""

from __future__ import annotations

from pathlib import Path

from grader.batch import html_lang, write_student_files
from grader.decisions.final import final_report_of
from grader.gradebook_db import Gradebook
from grader.reports.i18n import LANGS, Lang, text
from grader.reports.json_ import result_dict, write_json_atomic
from grader.reports.similarity import STAFF_KEY


def rewrite_student_files(book: Gradebook, out: Path, student: str) -> None:
    """After a TA's change: out/<student>/report.html and result.json from the final report, in the language the
    report was written in, keeping the similarity run's staff note of result.json (grader/reports/similarity.py)."""
    report = final_report_of(book, student)
    if report is None:
        return
    folder = out / student
    found = html_lang(folder / "report.html")
    lang: Lang = next((code for code in LANGS if text(code, "html_lang") == found), "en")
    staff = _staff_note(folder / "result.json", STAFF_KEY)
    write_student_files(report, out, lang=lang)
    if staff is not None:
        write_json_atomic(folder / "result.json", result_dict(report) | {STAFF_KEY: staff})


def _staff_note(path: Path, key: str) -> object | None:
    """The staff note of the grader's own result.json (written by us, not by a student), if it has one."""
    import json

    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return content.get(key) if isinstance(content, dict) else None
