"""Tests of grader/reports/summary.py: the class summary page."""

from __future__ import annotations

from urllib.parse import quote

import re
from pathlib import Path
from typing import Any, Literal

import pytest

from grader.evidence import ErrorEvidence
from grader.records import CheckResult, GradedPart, GradeReport
from grader.reports import render_summary, write_summary
from grader.reports.summary import common_diagnoses, is_errored, pass_rates, report_link, score_histogram
from grader.outnames import student_folder
from grader.text import add_locale_dir, msg, verbatim
from grader.text.po_add import add

from .report_messages import m

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"
SIGN = m("test.sign_flipped")
MASK = m("test.mask_missing")
TIMEOUT = m("test.timeout", seconds=20)

Status = Literal["passed", "failed", "error", "skipped"]


def _check(check_id: str, status: Status, *, points: float = 10, **extra: Any) -> CheckResult:
    return CheckResult(id=check_id, status=status, score=points if status == "passed" else 0, max_score=points,
                       message=extra.pop("message", m("test.ok")), **extra)


def _report(student: str, *checks: CheckResult, framework: Literal["pytorch", "tensorflow"] | None = "pytorch") -> GradeReport:
    parts = () if framework is None else (GradedPart(kind="framework", file="hw.py", framework=framework),)
    return GradeReport(student=student, submission=f"class/{student}", checks=checks, parts=parts)


def _class() -> list[GradeReport]:
    return [
        _report("s3", _check("numpy.relu.backward", "passed"), _check("numpy.matmul.backward", "passed")),
        _report("s1", _check("numpy.relu.backward", "failed", diagnosis=MASK), _check("numpy.matmul.backward", "failed", diagnosis=SIGN)),
        _report("s2", _check("numpy.relu.backward", "failed", diagnosis=MASK), _check("numpy.matmul.backward", "passed")),
        _report("s4", _check("numpy.relu.backward", "error", message=TIMEOUT, evidence=ErrorEvidence(failure="timeout", phase="backward")),
                _check("numpy.matmul.backward", "passed"), framework=None),
    ]


def _section(page: str, heading: str) -> str:
    start = page.index(f"<h2>{heading}</h2>")
    end = page.find("<h2>", start + 1)
    return page[start:end if end > 0 else len(page)]


# --------------------------------------------------------------------------- numbers


def test_histogram_counts_students_per_tenth_with_100_percent_in_the_top_bin() -> None:
    assert score_histogram(_class()) == [1, 0, 0, 0, 0, 2, 0, 0, 0, 1]


def test_pass_rate_counts_passed_out_of_students_with_the_check() -> None:
    rates = [(r.check_id, r.passed, r.total, r.percent) for r in pass_rates(_class())]

    assert rates == [("numpy.relu.backward", 1, 4, 25.0), ("numpy.matmul.backward", 3, 4, 75.0)]


def test_common_diagnoses_count_students_most_common_first() -> None:
    assert common_diagnoses(_class(), lang="en") == [(str(MASK), 2), (str(SIGN), 1)]


def test_common_diagnoses_count_a_diagnosis_by_id_shown_as_its_first_occurrence() -> None:
    reports = [_report(f"s{i}", _check("numpy.matmul.backward", "failed", diagnosis=m("test.scaled", factor=factor)),
                       _check("numpy.model.backward", "failed", diagnosis=m("test.scaled", factor=factor * 2)))
               for i, factor in ((2, 32), (1, 64), (3, 16))]

    assert common_diagnoses(reports, lang="en") == [("your gradient is scaled by 64", 3)]
    assert common_diagnoses(reports, lang="zh") == [("你的梯度被缩放了 64 倍", 3)]


def test_common_diagnoses_keep_the_top_ten(tmp_path: Path) -> None:
    add("test_causes", {f"test.cause{j}": (f"cause {j}", f"原因 {j}") for j in range(12)}, root=tmp_path)
    add_locale_dir(tmp_path)
    reports = [_report(f"s{i}", *(_check(f"numpy.c{j}", "failed", diagnosis=msg(f"test.cause{j}")) for j in range(i + 1)))
               for i in range(12)]

    top = common_diagnoses(reports, lang="en")

    assert top == [(f"cause {j}", 12 - j) for j in range(10)]


def test_common_diagnoses_are_in_chinese_for_chinese() -> None:
    assert common_diagnoses(_class(), lang="zh") == [("缺少 ReLU 的掩码：上游梯度被原样传了回去", 2), ("符号反了：你的梯度正好是正确梯度的相反数", 1)]


@pytest.mark.parametrize(
    ("checks", "errored"),
    [
        ((_check("a", "error", evidence=ErrorEvidence(failure="timeout")), _check("b", "passed")), True),
        ((_check("a", "error", message=msg("grader.internal_error", error=verbatim("KeyError: 'x'"))), _check("b", "passed")), True),
        ((_check("a", "error", message=m("test.no_numpy")), _check("b", "error", message=m("test.no_numpy"))), True),
        ((_check("a", "error", message=m("test.wrong")), _check("b", "passed")), True),
        ((_check("a", "failed"), _check("b", "skipped")), False),
        ((), False),
    ],
    ids=["worker-failure", "internal-grader-error", "every-check-errored", "any-error-is-errored", "no-error", "no-checks"],
)
def test_is_errored(checks: tuple[CheckResult, ...], errored: bool) -> None:
    assert is_errored(_report("s", *checks)) is errored


@pytest.mark.parametrize(
    ("student", "link"),
    [("2151131", "2151131/report.html"), ("张三", "%E5%BC%A0%E4%B8%89/report.html"),
     ("a b/../c", None), ("..", None), ('"><script>', None), ("javascript:alert(1)", None)],
    ids=["plain", "chinese", "slashes", "dot-dot", "quote-and-tag", "javascript-scheme"],
)
def test_report_link_stays_a_relative_path_inside_the_class_folder(student: str, link: str | None) -> None:
    # A hostile name has a safe folder of its own (outnames.student_folder): the link is that folder, percent-encoded.
    found = report_link(student)
    assert found == (link if link is not None else quote(student_folder(student), safe="") + "/report.html")
    folder = found.removesuffix("/report.html")
    assert "/" not in folder and ".." != folder and ":" not in folder and "<" not in folder and '"' not in folder


# --------------------------------------------------------------------------- page


def test_summary_lists_errored_submissions_first_in_their_own_section() -> None:
    page = render_summary(_class())

    errored = _section(page, "Submissions that could not be graded normally")
    assert page.index("could not be graded normally") < page.index("Score distribution")
    assert "<strong>s4</strong>" in errored and "<strong>s1</strong>" not in errored
    assert "<code>numpy.relu.backward</code>: timeout: your code did not finish within 20 s" in errored
    assert '<a href="s4/report.html">open</a>' in errored
    assert re.findall(r"<strong>([^<]+)</strong>", errored) == ["s4"]


def test_summary_has_no_errored_section_when_nothing_errored() -> None:
    assert "could not be graded normally" not in render_summary(_class()[:3])


def test_summary_draws_the_histogram_as_inline_svg() -> None:
    histogram = _section(render_summary(_class()), "Score distribution")

    bars = re.findall(r"<rect [^>]*><title>(\d+-\d+%): (\d+)</title>", histogram)
    assert [(label, int(n)) for label, n in bars if n != "0"] == [("0-10%", 1), ("50-60%", 2), ("90-100%", 1)]


def test_summary_shows_pass_rate_bars_and_common_diagnoses() -> None:
    page = render_summary(_class())

    rates = _section(page, "Pass rate per check")
    assert re.findall(r"<code>([^<]+)</code><span class=\"num\">([^<]+)</span>.*?width: ([\d.]+)%", rates) == [
        ("numpy.relu.backward", "1 of 4 passed", "25.0"), ("numpy.matmul.backward", "3 of 4 passed", "75.0")]
    diagnoses = _section(page, "Most common diagnoses")
    assert re.findall(r'<td class="num">(\d+)</td><td>([^<]+)</td>', diagnoses) == [("2", str(MASK)), ("1", str(SIGN))]


def test_summary_table_comes_sorted_by_student_and_by_score() -> None:
    page = render_summary(_class())

    by_student, by_score = re.findall(r'<table class="students">.*?</table>', page, flags=re.S)
    assert re.findall(r'<th scope="row">([^<]+)</th>', by_student) == ["s1", "s2", "s3", "s4"]
    assert re.findall(r'<th scope="row">([^<]+)</th>', by_score) == ["s1", "s2", "s4", "s3"]
    assert 'id="order-student" checked' in page and "#order-score:checked ~ .view.by-score { display: block; }" in page


def test_summary_row_has_score_framework_status_counts_and_link() -> None:
    page = render_summary(_class())

    row = re.search(r'<th scope="row">s2</th>(.*?)</tr>', page, flags=re.S)
    assert row is not None
    cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row[1], flags=re.S)]
    assert cells == ["10 / 20 (50.0%)", "pytorch", "1", "1", "0", "0", "open"]
    assert '<a href="s2/report.html">' in row[1]


def test_summary_in_chinese() -> None:
    page = render_summary(_class(), lang="zh")

    assert '<html lang="zh-CN">' in page and "<h1>全班汇总</h1>" in page
    assert "未能正常评分的提交" in page and "超时：你的代码没有在 20 秒内运行完" in page
    assert "4 人中 1 人通过" in page and "按得分排序（从低到高）" in page


def test_summary_escapes_hostile_student_names_and_messages() -> None:
    quoted = m("test.raised", where="Relu.backward", error=verbatim(SCRIPT + IMG))
    hostile = _report(SCRIPT + IMG, _check("numpy.relu.backward", "error", message=quoted, diagnosis=m("test.student_said", text=verbatim(IMG)),
                                              evidence=ErrorEvidence(failure="exception")))

    page = render_summary([*_class(), hostile])

    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    assert "raised <code>&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;</code>" in page
    assert f'href="{quote(student_folder(SCRIPT + IMG), safe="")}/report.html"' in page


def test_summary_loads_nothing_from_outside_the_file() -> None:
    page = render_summary(_class())

    assert re.search(r"\bsrc\s*=", page) is None
    assert set(re.findall(r'href="([^"]+)"', page)) == {f"s{i}/report.html" for i in range(1, 5)}
    assert "url(" not in page and "@import" not in page and "<script" not in page
    assert '<meta name="viewport"' in page and "@media print" in page


def test_summary_of_no_reports_says_so() -> None:
    page = render_summary([])

    assert "No submissions were graded." in page and "0 students" in page


def test_write_summary_writes_utf8(tmp_path: Path) -> None:
    write_summary(_class(), tmp_path / "summary.html", lang="zh")

    assert "全班汇总" in (tmp_path / "summary.html").read_text(encoding="utf-8")
