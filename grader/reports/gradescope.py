"""results.json for Gradescope's autograder: one graded submission as Gradescope's test cases.

The format is Gradescope's "Autograder Specifications" (results.json written by
`run_autograder` into /autograder/results/).  The fields written here:

    score              the report's total; Gradescope uses it instead of summing the tests
    execution_time     whole seconds, the sum of the checks' durations (rounded up)
    output             plain text for the whole submission: graded parts and intake problems
    output_format      "text" (shown in a <pre>: student text can never become HTML or Markdown)
    test_output_format "text"
    visibility         "visible": results show as soon as grading ends ...
    stdout_visibility  "hidden": ... but not the grader's console log, which names every check
    extra_data         grader version, rubric, seed, isolation, library versions (for staff)
    tests              one per check, in the report's order:
        score, max_score   the check's points; advisory checks have max_score 0
        status             "passed" only for a passed check; failed, error and skipped are "failed"
        name, number       the check id ("advisory" added), and "1", "2", ... as strings
        output             message, likely cause, notes, and a short excerpt of the evidence
        output_format      "text"
        tags               the part, "numpy" or "framework"
        visibility         see below

Visibility of each check (Gradescope allows "hidden", "after_due_date",
"after_published", "visible"):

    public check                      -> "visible"         (students see it at once)
    hidden check released by rubric   -> "after_published" (students see it with the published grades)
    hidden check, not released        -> "hidden"          (instructors only, with the full output)

Gradescope shows plain text in English: messages are rendered with the English
catalog (text from student code as it is).

A hidden check's points still count in `score`.  Gradescope decides how much of
the total a student sees while some tests are hidden; this module does not try to.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

from grader.evidence import Evidence
from grader.records import CheckResult, GradeReport, Location
from grader.reports.evidence_view import evidence_items, location_text
from grader.reports.i18n import plain
from grader.reports.json_ import strict_jsonable, write_json_atomic

GradescopeVisibility = Literal["hidden", "after_due_date", "after_published", "visible"]

_EVIDENCE_KEYS = 12
_EVIDENCE_VALUE_CHARS = 160
_DETAIL_LINES = 20
_DETAIL_CHARS = 2000
_STATUS_INTROS = {
    "error": "Error, no points: ",
    "skipped": "Not run, no points: ",
}


def gradescope_results(report: GradeReport) -> dict[str, Any]:
    """The content of Gradescope's results.json for one graded submission.

    Args:
        report: The graded submission.
    """
    content: dict[str, Any] = {
        "score": report.score,
        "execution_time": math.ceil(sum(check.duration_s for check in report.checks)),
        "output": _submission_msg(report),
        "output_format": "text",
        "test_output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": _get_extra_data(report),
        "tests": [_get_test(check, number, report) for number, check in enumerate(report.checks, start=1)],
    }
    jsonable: dict[str, Any] = strict_jsonable(content)
    return jsonable


def write_gradescope_results(report: GradeReport, path: Path) -> None:
    """Write `gradescope_results(report)` to `path` atomically, as indented UTF-8 JSON.

    Args:
        report: The graded submission.
        path: Where results.json goes, normally /autograder/results/results.json;
            its directory must exist.
    """
    write_json_atomic(path, gradescope_results(report))


def gradescope_visibility(check: CheckResult) -> GradescopeVisibility:
    """Gradescope's visibility of a check's test case (see the module docstring).

    Args:
        check: A scored check.
    """
    if check.visibility == "public":
        return "visible"
    return "after_published" if check.released else "hidden"


def _get_test(check: CheckResult, number: int, report: GradeReport) -> dict[str, Any]:
    return {
        "score": check.score,
        "max_score": check.max_score,
        "status": "passed" if check.status == "passed" else "failed",
        "name": f"{check.id} (advisory)" if check.advisory else check.id,
        "number": str(number),
        "output": _check_msg(check) + _staff_msg(check, report),
        "output_format": "text",
        "tags": [check.id.split(".")[0]],
        "visibility": gradescope_visibility(check),
    }


def _check_msg(check: CheckResult) -> str:
    lines = [_STATUS_INTROS.get(check.status, "") + plain(check.message, "en")]
    if check.advisory and check.max_score == 0:  # a rubric may give an advisory check points
        lines.append("Advisory: this check is worth no points.")
    if check.diagnosis is not None and check.status != "passed":
        lines.append(f"Likely cause: {plain(check.diagnosis, 'en')}")
    lines.extend(f"Note: {plain(note, 'en')}" for note in check.evidence.notes)
    evidence = _evidence_lines(check.evidence)
    if evidence:
        lines.extend(["", "Evidence (excerpt):", *evidence])
    return "\n".join(lines)


def _staff_msg(check: CheckResult, report: GradeReport) -> str:
    # The final points are the check's score; staff-only reasons and comments are not in the report at all.
    adjustment = report.adjustment(check.id)
    lines = []
    if adjustment is not None:
        lines.append(f"Adjusted by staff: {adjustment.reason}" if adjustment.reason else "Adjusted by staff.")
        lines.append(f"Autograder: {adjustment.autograder_score:g} / {check.max_score:g}")
    lines.extend(f"Staff comment: {comment.text}" for comment in report.comments if comment.check_id == check.id)
    return "".join("\n" + line for line in lines) if lines else ""


def _evidence_lines(evidence: Evidence) -> list[str]:
    # One line per key, cut short: the full evidence is in the grader's result.json and report.html.
    items = evidence_items(evidence)
    lines = []
    for key, value in items[:_EVIDENCE_KEYS]:
        if isinstance(value, Location):
            lines.append(f"  {key}: {location_text(value, 'en')}")
        elif isinstance(value, str) and "\n" in value:
            lines.extend([f"  {key}:", *_tail_lines(value)])
        else:
            lines.append(f"  {key}: {_clip(json.dumps(value, ensure_ascii=False))}")
    if len(items) > _EVIDENCE_KEYS:
        lines.append(f"  ... and {len(items) - _EVIDENCE_KEYS} more")
    return lines


def _tail_lines(text: str) -> list[str]:
    # A traceback's cause is at its end, so keep the last lines.
    tail = text[-_DETAIL_CHARS:].splitlines()[-_DETAIL_LINES:]
    return ["    " + line for line in tail]


def _clip(text: str) -> str:
    return text if len(text) <= _EVIDENCE_VALUE_CHARS else text[: _EVIDENCE_VALUE_CHARS - 3] + "..."


def _submission_msg(report: GradeReport) -> str:
    lines = [f"Framework: {report.framework or 'none found'}."]
    lines.extend(
        f"Graded the {part.kind} part{f' ({part.framework})' if part.framework else ''} from {part.file}."
        for part in report.parts
    )
    lines.extend(
        f"Intake {finding.severity}: {finding.file}{'' if finding.line is None else f':{finding.line}'}: {plain(finding.message, 'en')}"
        for finding in report.findings
        if finding.severity in ("error", "warning")
    )
    return "\n".join(lines)


def _get_extra_data(report: GradeReport) -> dict[str, Any]:
    return {
        "student": report.student,
        "grader_version": report.grader_version,
        "rubric": {"name": report.rubric_name, "hash": report.rubric_hash},
        "seed": report.seed,
        "framework": report.framework,
        "mnist_source": report.mnist_source,
        "isolation": list(report.isolation),
        "versions": dict(report.versions),
        "created": report.created,
    }
