"""result.json: the machine-readable report of one graded submission.

The file is strict JSON (no NaN or Infinity literals), so any JSON parser can read
it.  Non-finite floats, which a student's NaN loss easily puts into evidence, are
written as the strings "nan", "inf" and "-inf".

A check's message is written three ways: "message" is the English text,
"message_id" its catalog id and "message_args" its arguments, so a program can
render it in another language or match on the id instead of the words.  An
argument that is a nested message is {"id": ..., "args": {...}}, one that is text
from student code {"verbatim": "..."}.  The same goes for "diagnosis" (all three
null when there is none) and for each finding's message.  "evidence" is the
check's typed evidence (grader/evidence) as its model dump, "kind" first.

"adjustments" lists the checks whose points staff changed (`grade review`, `grade
override`): check_id, autograder_score and the reason, null when the reason is
staff-only; the checks' scores are already the final ones.  "comments" holds the
TAs' student-visible comments (text, file and line, or check_id, author).  Staff-only
notes are never written here (grader/decisions/final.py).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from grader.atomic import atomic_write
from grader.records import CheckResult, Finding, GradeReport, Message
from grader.text import Verbatim, render

def result_dict(report: GradeReport) -> dict[str, Any]:
    """The content of result.json: plain, strictly JSON-encodable values.

    Args:
        report: The graded submission.
    """
    content: dict[str, Any] = {
        "student": report.student,
        "score": report.score,
        "max_score": report.max_score,
        "framework": report.framework,
        "checks": [check_dict(check) for check in report.checks],
        "parts": [part.model_dump() for part in report.parts],
        "findings": [finding_dict(finding) for finding in report.findings],
        "rubric": {"name": report.rubric_name, "hash": report.rubric_hash},
        "grader_version": report.grader_version,
        "mnist_source": report.mnist_source,
        "created": report.created,
        "self_check": report.self_check,
        "seed": report.seed,
        "isolation": list(report.isolation),
        "versions": dict(report.versions),
        # What staff changed that the student may see (grader/decisions/final.py); staff-only notes are never here.
        "adjustments": [adjustment.model_dump() for adjustment in report.adjustments],
        "comments": [comment.model_dump() for comment in report.comments],
    }
    jsonable: dict[str, Any] = strict_jsonable(content)
    return jsonable


def check_dict(check: CheckResult) -> dict[str, Any]:
    """One check of result.json: its fields in model order, each message as text, id and arguments."""
    content: dict[str, Any] = {}
    for name, value in check.model_dump(exclude={"message", "diagnosis", "evidence"}).items():
        content[name] = value
        if name == "max_score":
            content |= message_fields("message", check.message)
        elif name == "advisory":
            content |= message_fields("diagnosis", check.diagnosis)
            evidence = check.evidence.model_dump()
            content["evidence"] = {"kind": evidence.pop("kind"), **evidence}
    return content


def finding_dict(finding: Finding) -> dict[str, Any]:
    """One finding of result.json, its message as text, id and arguments."""
    return finding.model_dump(exclude={"message"}) | message_fields("message", finding.message)


def message_fields(name: str, message: Message | None) -> dict[str, Any]:
    """{name: English text, name_id: id, name_args: arguments} of a message; all None without one."""
    if message is None:
        return {name: None, f"{name}_id": None, f"{name}_args": None}
    return {name: render(message, "en"), f"{name}_id": message.id, f"{name}_args": message_args(message)}


def message_args(message: Message) -> dict[str, Any]:
    """A message's arguments as JSON: nested messages as {"id", "args"}, student text as {"verbatim"}."""
    return {key: _arg_json(value) for key, value in message.args.items()}


def _arg_json(value: object) -> Any:
    if isinstance(value, Message):
        return {"id": value.id, "args": message_args(value)}
    if isinstance(value, Verbatim):
        return {"verbatim": value.verbatim}
    return value


def write_result_json(report: GradeReport, path: Path) -> None:
    """Write `result_dict(report)` to `path` atomically, as indented UTF-8 JSON.

    Args:
        report: The graded submission.
        path: Where result.json goes; its directory must exist.
    """
    write_json_atomic(path, result_dict(report))


def write_json_atomic(path: Path, content: Any) -> None:
    """Write strictly JSON-encodable `content` to `path` atomically, as indented UTF-8 JSON."""
    write_text_atomic(path, json.dumps(content, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def strict_jsonable(value: Any) -> Any:
    """`value` with tuples as lists, non-finite floats as strings and odd objects as text.

    Evidence is meant to hold plain JSON-able values; numpy scalars and arrays are
    turned into lists and numbers through `tolist()`, and anything else becomes its
    `str`, so encoding the result never fails.

    Args:
        value: A value from a report, possibly nested.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return _float_jsonable(value)
    if isinstance(value, Mapping):
        return {str(key): strict_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_jsonable(item) for item in value]
    if hasattr(value, "tolist"):
        return strict_jsonable(value.tolist())
    return _safe_str(value)


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` as UTF-8 via a temporary file and `os.replace`.

    A reader never sees a half-written file, and a crash leaves the old one intact.
    Newlines are written as given (no translation), so CSV keeps its CRLF.

    Args:
        path: The file to create or replace; its directory must exist.
        text: The complete new content.
    """
    with atomic_write(path) as temp, open(temp, "w", encoding="utf-8", newline="") as stream:
        stream.write(text)


def _float_jsonable(value: float) -> float | str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return float(value)  # a plain float, also for numpy.float64


def _safe_str(value: object) -> str:
    # A student object's __str__ may raise; the report must still be written.
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"
