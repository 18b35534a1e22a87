"""Text for the terminal: one student's summary and the tables of a batch run.

Both functions return a string and print nothing; the CLI decides where it goes
and whether it gets colour.  The terminal is English: messages are rendered with
the English catalog.  Student text is put into rich `Text` objects, never parsed
as rich markup, so "[bold]" in a message is shown as written.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.text import Text

from grader.records import CheckResult, Finding, GradeReport, Message, Status
from grader.reports.i18n import plain

_WIDTH = 100
_DIAGNOSIS_CHARS = 100
_INDENT = " " * 6
_STATUS_WORDS: dict[Status, str] = {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "skipped": "SKIP"}
_STATUS_STYLES: dict[Status, str] = {
    "passed": "bold green",
    "failed": "bold red",
    "error": "bold dark_orange",
    "skipped": "dim",
}
_STATUSES: tuple[Status, ...] = ("passed", "failed", "error", "skipped")
_SEVERITY: tuple[Status, ...] = ("error", "failed", "skipped")
_STUDENTS_ROW = "students by worst check"
_SHOWN_SEVERITIES = ("error", "warning")


def format_summary(report: GradeReport, *, color: bool) -> str:
    """One screen about one student: the total, a line per check, intake problems.

    Example (plain)::

        2151131: 90 / 100  (framework: tensorflow)
        PASS   10/10  numpy.relu.backward    Relu.backward matches the numerical gradient
        FAIL    0/10  numpy.matmul.backward  gradient check failed for Matmul.backward ...
              grad_W looks transposed: ...

    Args:
        report: The graded submission.
        color: Colour with ANSI codes; without it the text has no escape codes.
    """
    total = _points(report.score, report.max_score, " / ")
    framework = report.framework or "none found"
    lines = [Text(f"{report.student}: {total}  (framework: {framework})", style="bold")]
    lines.extend(_get_check_lines(report.checks))
    if report.parts:
        graded = "; ".join(f"{p.kind} part{f' ({p.framework})' if p.framework else ''} from {p.file}" for p in report.parts)
        lines.append(Text(f"graded: {graded}", style="dim"))
    lines.extend(_get_finding_line(finding) for finding in _get_shown_findings(report.findings))
    return _render(lines, color=color)


def format_batch_table(reports: Sequence[GradeReport], *, color: bool) -> str:
    """Per-student lines, a totals line, then counts by status per check and per student.

    Example (plain)::

        student  score     passed  failed  error  skipped
        2151131  90 / 100  9       1       0      0
        2151132  0 / 100   0       0       10     0
        2 students, mean score 45.0%; checks: 9 passed, 1 failed, 10 error, 0 skipped

        check                    passed  failed  error  skipped
        numpy.matmul.backward    0       1       1      0
        ...
        students by worst check  1       0       1      0

    The last row counts each student once, under the worst status among the
    checks that carry points (error, then failed, then skipped, else passed);
    a failed advisory check is counted in its own row but never makes a
    student "failed".  With no reports the check table is left out.

    Args:
        reports: One report per graded submission.
        color: Colour with ANSI codes; without it the text has no escape codes.
    """
    ordered = sorted(reports, key=lambda report: report.student)
    cells = [[r.student, _points(r.score, r.max_score, " / "), *map(str, _get_counts(r.checks))] for r in ordered]
    lines = _get_table(["student", "score"], cells)
    lines.append(Text(_totals_msg(ordered), style="bold"))
    if ordered:
        lines.append(Text(""))
        lines.extend(_get_table(["check"], _get_status_rows(ordered)))
    return _render(lines, color=color)


def _get_check_lines(checks: tuple[CheckResult, ...]) -> list[Text]:
    points = [_points(check.score, check.max_score, "/") for check in checks]
    points_width = max(map(len, points), default=0)
    id_width = max((len(check.id) for check in checks), default=0)
    lines = []
    for check, check_points in zip(checks, points):
        line = Text()
        if check.advisory and check.status == "failed":
            # Advice costs no points: a red FAIL would alarm a student for nothing.
            line.append("NOTE".ljust(5), style="bold magenta")
        else:
            line.append(_STATUS_WORDS[check.status].ljust(5), style=_STATUS_STYLES[check.status])
        line.append(f"  {check_points.rjust(points_width)}  {check.id.ljust(id_width)}  ")
        if check.advisory:
            line.append("advisory ", style="magenta")
        line.append(_one_line(check.message))
        lines.append(line)
        if check.status in ("failed", "error") and check.diagnosis is not None:
            lines.append(Text(_INDENT + _truncate(_one_line(check.diagnosis)), style="yellow"))
    return lines


def _get_shown_findings(findings: tuple[Finding, ...]) -> list[Finding]:
    shown = [finding for finding in findings if finding.severity in _SHOWN_SEVERITIES]
    return sorted(shown, key=lambda finding: _SHOWN_SEVERITIES.index(finding.severity))


def _get_finding_line(finding: Finding) -> Text:
    where = finding.file if finding.line is None else f"{finding.file}:{finding.line}"
    line = Text()
    line.append(f"intake {finding.severity}:", style="bold red" if finding.severity == "error" else "yellow")
    line.append(f" {where}: {_one_line(finding.message)}")
    return line


def _get_counts(checks: Iterable[CheckResult]) -> list[int]:
    statuses = [check.status for check in checks]
    return [statuses.count(status) for status in _STATUSES]


def _get_table(lead: list[str], rows: list[list[str]]) -> list[Text]:
    # Each row is the `lead` cells (names, scores) followed by one count per status.
    header = [*lead, *_STATUSES]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [Text("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(), style="bold")]
    lines.extend(_get_table_row(row, widths, len(lead)) for row in rows)
    return lines


def _get_table_row(row: list[str], widths: list[int], lead: int) -> Text:
    line = Text("  ".join(cell.ljust(width) for cell, width in zip(row[:lead], widths)))
    for status, count, width in zip(_STATUSES, row[lead:], widths[lead:]):
        style = _STATUS_STYLES[status] if count != "0" and status != "passed" else ""
        line.append("  ")
        line.append(count.ljust(width), style=style)
    line.rstrip()
    return line


def _get_status_rows(reports: Sequence[GradeReport]) -> list[list[str]]:
    # A dict keeps the checks in the order they are first seen.
    per_check: dict[str, list[int]] = {}
    per_student = [0] * len(_STATUSES)
    for report in reports:
        for check in report.checks:
            per_check.setdefault(check.id, [0] * len(_STATUSES))[_STATUSES.index(check.status)] += 1
        per_student[_STATUSES.index(_worst_status(report.checks))] += 1
    rows = [[check_id, *map(str, counts)] for check_id, counts in per_check.items()]
    return [*rows, [_STUDENTS_ROW, *map(str, per_student)]]


def _worst_status(checks: Iterable[CheckResult]) -> Status:
    counted = {check.status for check in checks if not check.advisory}
    return next((status for status in _SEVERITY if status in counted), "passed")


def _totals_msg(reports: Sequence[GradeReport]) -> str:
    totals = [0] * len(_STATUSES)
    for report in reports:
        totals = [a + b for a, b in zip(totals, _get_counts(report.checks))]
    counts = ", ".join(f"{n} {status}" for n, status in zip(totals, _STATUSES))
    max_total = sum(report.max_score for report in reports)
    mean = f"{sum(r.score for r in reports) / max_total * 100:.1f}%" if max_total > 0 else "-"
    noun = "student" if len(reports) == 1 else "students"
    return f"{len(reports)} {noun}, mean score {mean}; checks: {counts}"


def _render(lines: list[Text], *, color: bool) -> str:
    stream = io.StringIO()
    console = Console(
        file=stream,
        width=_WIDTH,
        force_terminal=color,
        force_jupyter=False,
        color_system="standard" if color else None,
        no_color=not color,
        highlight=False,
        legacy_windows=False,
    )
    for line in lines:
        # soft_wrap: a long message stays one line (the terminal wraps it) instead of being cut.
        console.print(line, soft_wrap=True)
    return stream.getvalue().rstrip("\n")


def _one_line(message: Message) -> str:
    return " ".join(plain(message, "en").split())


def _truncate(text: str) -> str:
    return text if len(text) <= _DIAGNOSIS_CHARS else text[: _DIAGNOSIS_CHARS - 3] + "..."


def _points(score: float, max_score: float, separator: str) -> str:
    return f"{round(score, 2):g}{separator}{round(max_score, 2):g}"
