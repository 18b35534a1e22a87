"""Grading one submission or a whole class folder, and writing each student's files.

Every submission gets a report, whatever it did: a submission the grader cannot
even load still gets a result.json and report.html that say why.
"""

from __future__ import annotations

import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from . import __version__
from .errors import DataError, UsageError
from .models import CheckResult, GradeReport
from .pipeline import GradeSettings, grade_submission
from .reports import write_gradebook, write_html, write_result_json
from .rubric import AdvisoryCheck
from .versions import library_versions

CODE_SUFFIXES = (".py", ".ipynb", ".md")


def is_class_folder(path: Path) -> bool:
    """A folder with sub-folders and no code files of its own is a class of submissions.

    A README beside the students' folders (staff notes) does not make it one submission.
    """
    if not path.is_dir():
        return False
    entries = [p for p in path.iterdir() if not p.name.startswith(".")]
    has_code = any(p.is_file() and p.suffix in CODE_SUFFIXES and not p.name.upper().startswith("README") for p in entries)
    return not has_code and any(p.is_dir() for p in entries)


def grade_one(path: Path, settings: GradeSettings, *, out: Path | None, student: str | None = None) -> GradeReport:
    """Grade one submission and, when `out` is given, write out/<student>/{result.json,report.html}."""
    try:
        report = grade_submission(path, settings, student=student)
    except DataError:
        raise  # no student can be graded without MNIST: stop and say how to fix it
    except UsageError as exc:
        report = unreadable_report(student or path.stem, path, str(exc), settings)
    except Exception as exc:  # noqa: BLE001 - a grader bug must not cost the rest of the class their reports
        detail = "".join(traceback.format_exception(exc))
        report = unreadable_report(student or path.stem, path, f"internal grader error: {type(exc).__name__}: {exc}", settings, detail)
    if out is not None:
        folder = out / report.student
        folder.mkdir(parents=True, exist_ok=True)
        write_result_json(report, folder / "result.json")
        write_html(report, folder / "report.html")
    return report


def grade_class(folder: Path, settings: GradeSettings, *, out: Path, on_done: Callable[[GradeReport], None]) -> list[GradeReport]:
    """Grade every non-hidden sub-folder of `folder`, one after another, then write the gradebook."""
    reports = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        report = grade_one(sub, settings, out=out, student=sub.name)
        reports.append(report)
        on_done(report)
    out.mkdir(parents=True, exist_ok=True)
    write_gradebook(reports, out / "gradebook.csv")
    return reports


def unreadable_report(student: str, path: Path, message: str, settings: GradeSettings, detail: str = "") -> GradeReport:
    """A report for a submission that could not be graded at all: every check errored, with the reason."""
    rubric = settings.rubric.rubric
    checks = []
    for check_id, field in rubric.checks.model_fields.items():
        spec = rubric.checks.get(field.alias or check_id)
        if settings.self_check and spec.visibility != "public":
            continue
        evidence = {"detail": detail} if detail else {}
        checks.append(CheckResult(id=field.alias or check_id, status="error", score=0.0, max_score=spec.points,
                                  message=message, visibility=spec.visibility, advisory=isinstance(spec, AdvisoryCheck), evidence=evidence))
    return GradeReport(
        student=student, submission=str(path), score=0.0, max_score=sum(c.max_score for c in checks), framework=None,
        checks=tuple(checks), rubric_name=rubric.name, rubric_hash=settings.rubric.sha256[:12], grader_version=__version__,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"), self_check=settings.self_check,
        versions=library_versions(),
    )
