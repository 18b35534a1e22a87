"""Reporters: turn a `GradeReport` into result.json, report.html, a gradebook CSV or terminal text,
and a class's reports into summary.html.

Reporters read a `GradeReport` (and its `CheckResult`s) and nothing else.  The
`format_*` functions are pure; the `write_*` functions replace their file
atomically, so a reader never sees half a report.
"""

from grader.reports.csv_ import write_gradebook
from grader.reports.html import render_html, write_html
from grader.reports.json_ import result_dict, write_result_json
from grader.reports.summary import render_summary, write_summary
from grader.reports.terminal import format_batch_table, format_summary

__all__ = [
    "format_batch_table",
    "format_summary",
    "render_html",
    "render_summary",
    "result_dict",
    "write_gradebook",
    "write_html",
    "write_result_json",
    "write_summary",
]
