"""Tests of grader/reports: result.json, report.html, gradebook.csv and terminal text.

The reports are built by hand from messages of the test catalog (tests/report_messages.py),
so a check rewording its own text changes nothing here.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest

from grader.checks.builtin import BUILTIN
from grader.evidence import ArrayComparison, Curve, ErrorEvidence, GradientComparison, GradientEvidence, NoEvidence, TrainingEvidence
from grader.records import CheckOutcome, CheckResult, Finding, GradedPart, GradedSource, GradeReport, Location
from grader.reports import (
    format_batch_table,
    format_summary,
    render_html,
    result_dict,
    write_gradebook,
    write_html,
    write_result_json,
)
from grader.reports.json_ import strict_jsonable
from grader.reports.source_view import error_lines, suspicious_lines
from grader.rubric import DEFAULT_RUBRIC, load_rubric
from grader.scoring import score_outcomes
from grader.text import Message, msg, verbatim

from .conftest import outline_of
from .report_messages import m

SCRIPT = "<script>alert(1)</script>"
DIAGNOSIS = m("test.transposed_shape", grad="grad_W", got="(10, 784)", param="W", want="(784, 10)")
DIAGNOSIS_EN = "grad_W has shape (10, 784) but W has shape (784, 10): return x.T @ grad_y, not grad_y.T @ x"
TRACEBACK = 'Traceback (most recent call last):\n  File "hw.py", line 12, in fit\nValueError: shapes (32,784) and (10,) not aligned'
RELU_SOURCE = "class Relu:\n    def backward(self, grad_y):\n        return grad_y * (self.mem['x'] > 0)\n"
Framework = Literal["pytorch", "tensorflow"]


def _make_checks(message: Message | None = None) -> tuple[CheckResult, ...]:
    return (
        CheckResult(
            id="numpy.relu.backward", status="passed", score=10, max_score=10,
            message=message or m("test.layer_passed", name="Relu"), evidence=NoEvidence(details={"max_abs_diff": 1.5e-9}),
        ),
        CheckResult(
            id="numpy.matmul.backward", status="failed", score=0, max_score=10,
            message=m("test.grad_failed", name="Matmul", wrt="W", bad=12, total=64),
            diagnosis=DIAGNOSIS,
            evidence=NoEvidence(details={"max_abs_diff": math.nan, "rel_diff": math.inf, "low": -math.inf, "worst_index": [3, 7]}),
        ),
        CheckResult(
            id="framework.model.train", status="error", score=0, max_score=20,
            message=m("test.training_raised", error=verbatim("ValueError")),
            evidence=ErrorEvidence(failure="exception", phase="train", detail=TRACEBACK), duration_s=1.25,
        ),
        CheckResult(
            id="numpy.model.train", status="skipped", score=0, max_score=10,
            message=m("test.not_run", check="numpy.model.forward"),
        ),
        CheckResult(
            id="numpy.softmax.stability", status="failed", score=0, max_score=0,
            message=m("test.overflow", value=1000), advisory=True,
        ),
    )


def _sources(sources: dict[str, str], origins: dict[str, tuple[str, int]] | None = None) -> tuple[GradedSource, ...]:
    """GradeReport.sources from {name: source} and {name: (file label, first line)}, outlines as the intake makes them."""
    origins = origins or {}
    return tuple(GradedSource(name=name, source=source, file_label=origins.get(name, ("", 1))[0], line=origins.get(name, ("", 1))[1],
                              outline=outline_of(source)) for name, source in sources.items())


def _parts(framework: Framework | None) -> tuple[GradedPart, ...]:
    numpy = GradedPart(kind="numpy", file="hw.ipynb", definitions=("Matmul", "Relu", "Softmax", "Log", "myModel"))
    if framework is None:
        return (numpy,)
    return (numpy, GradedPart(kind="framework", file="hw.ipynb", framework=framework, definitions=("myModel",),
                              supplied_imports=("import tensorflow as tf",)))


def _make_report(student: str = "2151131", *, framework: Framework | None = "tensorflow", sources: dict[str, str] | None = None,
                 origins: dict[str, tuple[str, int]] | None = None, **changes: Any) -> GradeReport:
    fields: dict[str, Any] = {
        "student": student,
        "submission": f"submissions/{student}",
        "checks": _make_checks(),
        "parts": _parts(framework),
        "findings": (
            Finding(severity="warning", file="hw.ipynb", line=3, message=m("test.cell_invalid", cell=3)),
            Finding(severity="info", file="notes.txt", message=m("test.not_code")),
            Finding(severity="error", file="old.py", message=m("test.not_utf8")),
        ),
        "rubric_name": "chap4",
        "rubric_hash": "3f2a9c",
        "grader_version": "0.1.0",
        "mnist_source": "/data/mnist.npz",
        "created": "2025-03-01T12:00:00+00:00",
    }
    fields |= changes
    if sources is None:
        sources = {"Relu": RELU_SOURCE, "framework:myModel": "class myModel(tf.keras.Model):\n    pass\n"}
    fields["sources"] = _sources(sources, origins)
    return GradeReport(**fields)


def _scored(check: CheckResult, score: float) -> CheckResult:
    return check.model_copy(update={"score": score})


def _reject_constant(name: str) -> None:
    raise ValueError(f"non-strict JSON constant {name}")


# --------------------------------------------------------------------------- result.json


def test_result_json_has_exactly_the_documented_top_level_names() -> None:
    assert list(result_dict(_make_report())) == [
        "student", "score", "max_score", "framework", "checks", "parts", "findings",
        "rubric", "grader_version", "mnist_source", "created", "self_check", "seed", "isolation", "versions",
        "adjustments", "comments",
    ]


def test_result_json_keeps_every_check_with_all_its_fields() -> None:
    content = result_dict(_make_report())

    assert [c["status"] for c in content["checks"]] == ["passed", "failed", "error", "skipped", "failed"]
    assert list(content["checks"][2]) == [
        "id", "status", "score", "max_score", "message", "message_id", "message_args", "visibility", "released", "advisory",
        "diagnosis", "diagnosis_id", "diagnosis_args", "evidence", "duration_s",
    ]
    assert content["checks"][1]["diagnosis"] == DIAGNOSIS_EN
    assert content["checks"][4]["advisory"] is True
    assert content["rubric"] == {"name": "chap4", "hash": "3f2a9c"}
    assert (content["score"], content["max_score"], content["framework"]) == (10, 50, "tensorflow")


def test_result_json_writes_each_message_as_english_text_id_and_arguments() -> None:
    matmul = result_dict(_make_report())["checks"][1]

    assert matmul["message"] == "gradient check failed for `Matmul.backward` w.r.t. `W`: 12 / 64 elements differ"
    assert matmul["message_id"] == "test.grad_failed"
    assert matmul["message_args"] == {"name": "Matmul", "wrt": "W", "bad": 12, "total": 64}
    assert (matmul["diagnosis_id"], matmul["diagnosis_args"]["got"]) == ("test.transposed_shape", "(10, 784)")


def test_result_json_writes_nested_messages_and_student_text_as_objects() -> None:
    message = m("test.clause", what=m("test.raised", where="Relu.forward", error=verbatim(SCRIPT)), clause=m("test.ok"))
    check = CheckResult(id="numpy.relu.backward", status="error", score=0, max_score=5, message=message)

    [written] = result_dict(_make_report(checks=(check,)))["checks"]

    assert written["message"] == f"`Relu.forward` raised {SCRIPT}; ok"
    assert written["message_args"] == {
        "what": {"id": "test.raised", "args": {"where": "Relu.forward", "error": {"verbatim": SCRIPT}}},
        "clause": {"id": "test.ok", "args": {}},
    }
    assert (written["diagnosis"], written["diagnosis_id"], written["diagnosis_args"]) == (None, None, None)


def test_result_json_writes_findings_with_text_id_and_arguments() -> None:
    [warning, *_] = result_dict(_make_report())["findings"]

    assert warning == {"severity": "warning", "file": "hw.ipynb", "line": 3, "message": "cell 3 is not valid Python; skipped",
                       "message_id": "test.cell_invalid", "message_args": {"cell": 3}}


def test_result_json_writes_the_typed_evidence_with_its_kind_first() -> None:
    checks = result_dict(_make_report())["checks"]

    error = checks[2]["evidence"]
    assert list(error)[0] == "kind"
    assert (error["kind"], error["failure"], error["phase"], error["detail"]) == ("error", "exception", "train", TRACEBACK)
    assert error["location"] is None and error["notes"] == []
    assert checks[3]["evidence"]["kind"] == "none"


def test_result_json_writes_evidence_notes_as_messages() -> None:
    check = CheckResult(id="numpy.relu.backward", status="passed", score=5, max_score=5, message=m("test.ok"),
                        evidence=NoEvidence(notes=(m("test.float32", grad="grad_x"),)))

    [written] = result_dict(_make_report(checks=(check,)))["checks"]

    assert written["evidence"]["notes"] == [{"id": "test.float32", "args": {"grad": "grad_x"}}]


def test_result_json_writes_framework_null_when_none_was_found() -> None:
    assert result_dict(_make_report(framework=None))["framework"] is None


def test_result_json_file_is_strict_json_with_non_finite_floats_as_strings(tmp_path: Path) -> None:
    path = tmp_path / "result.json"

    write_result_json(_make_report(), path)

    content = json.loads(path.read_text(encoding="utf-8"), parse_constant=_reject_constant)
    assert content["checks"][1]["evidence"]["details"] == {"max_abs_diff": "nan", "rel_diff": "inf", "low": "-inf", "worst_index": [3, 7]}
    assert content["checks"][0]["evidence"]["details"] == {"max_abs_diff": 1.5e-9}


def test_strict_jsonable_turns_numpy_values_into_plain_json() -> None:
    value = {"worst": np.float64("nan"), "rows": np.array([[1.0, np.inf]]), "count": np.int64(3), "shape": (2, 3)}

    assert json.loads(json.dumps(strict_jsonable(value), allow_nan=False)) == {"worst": "nan", "rows": [[1.0, "inf"]], "count": 3,
                                                                                "shape": [2, 3]}


def test_result_json_keeps_non_ascii_text_readable(tmp_path: Path) -> None:
    path = tmp_path / "result.json"

    write_result_json(_make_report(student="张三"), path)

    assert '"student": "张三"' in path.read_text(encoding="utf-8")


def test_a_report_read_back_from_json_says_the_same(tmp_path: Path) -> None:
    # gradebook.sqlite and the cluster keep reports as JSON; a NaN argument must come back a float, or its
    # {value:.3f} no longer fits and the sentence is worded differently from the report written before.
    check = CheckResult(id="numpy.model.train", status="failed", score=0, max_score=20,
                        message=m("test.accuracy", accuracy=math.nan, epochs=5))
    report = _make_report(checks=(check,))

    again = GradeReport.model_validate_json(report.model_dump_json())

    assert result_dict(again)["checks"] == result_dict(report)["checks"]
    assert render_html(again) == render_html(report)


def test_write_result_json_replaces_the_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text("old", encoding="utf-8")

    write_result_json(_make_report(), path)

    assert json.loads(path.read_text(encoding="utf-8"))["student"] == "2151131"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


# --------------------------------------------------------------------------- report.html


def test_html_shows_student_score_framework_and_rubric() -> None:
    page = render_html(_make_report())

    assert "<h1>2151131</h1>" in page
    assert "10 / 50 points (20.0%)" in page
    assert "width: 20.0%" in page
    assert "<dd>tensorflow</dd>" in page
    assert "chap4 <code>3f2a9c</code>" in page
    assert "/data/mnist.npz" in page


def test_html_shows_every_check_with_its_status_badge_and_points() -> None:
    page = render_html(_make_report())

    for check in _make_checks():
        assert f"<code>{check.id}</code>" in page
        assert f'<span class="badge {check.status}">{check.status}</span>' in page
    assert '<span class="points">0 / 20</span>' in page
    assert 'class="tag advisory"' in page
    assert f"<strong>Likely cause:</strong> {DIAGNOSIS_EN}</p>" in page


def test_html_shows_text_from_student_code_in_a_code_element() -> None:
    page = render_html(_make_report())

    assert '<p class="message">training raised <code>ValueError</code></p>' in page


def test_html_formats_numbers_as_the_template_says() -> None:
    check = CheckResult(id="numpy.relu.backward", status="failed", score=0, max_score=5, message=m("test.rel_err", err=0.123456))

    assert '<p class="message">worst relative error 0.12</p>' in render_html(_make_report(checks=(check,)))


def test_html_shows_the_notes_of_the_evidence_as_sentences() -> None:
    check = CheckResult(id="numpy.relu.backward", status="passed", score=5, max_score=5, message=m("test.ok"),
                        evidence=NoEvidence(notes=(m("test.float32", grad="grad_x"),)))

    assert '<p class="note">grad_x is float32; float64 keeps more digits</p>' in render_html(_make_report(checks=(check,)))
    assert '<p class="note">grad_x 是 float32；float64 能保留更多位数</p>' in render_html(_make_report(checks=(check,)), lang="zh")


def test_html_escapes_script_tags_in_student_name_message_evidence_and_source() -> None:
    quoted = m("test.raised", where="Relu.forward", error=verbatim(SCRIPT))
    report = _make_report(
        student=SCRIPT,
        checks=(
            *_make_checks(message=quoted),
            CheckResult(
                id="numpy.relu.forward", status="failed", score=0, max_score=5, message=quoted,
                diagnosis=m("test.student_said", text=verbatim(SCRIPT)),
                evidence=NoEvidence(details={SCRIPT: SCRIPT, "items": [SCRIPT], "long": SCRIPT * 20}, import_warnings=(SCRIPT,),
                                    notes=(m("test.student_said", text=verbatim(SCRIPT)),)),
            ),
        ),
        findings=(Finding(severity="error", file=SCRIPT, message=m("test.student_said", text=verbatim(SCRIPT))),),
        sources={"Relu": f"class Relu:\n    doc = '{SCRIPT}'\n"},
    )

    page = render_html(report)

    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "raised <code>&lt;script&gt;alert(1)&lt;/script&gt;</code>" in page


def test_html_loads_nothing_from_outside_the_file() -> None:
    page = render_html(_make_report())

    assert re.search(r"\b(src|href)\s*=", page) is None
    assert "url(" not in page
    assert "@import" not in page
    assert "http://" not in page and "https://" not in page
    assert '<meta name="viewport"' in page


def test_html_collapses_a_traceback_in_details() -> None:
    page = render_html(_make_report())

    assert "<details><summary>show 3 lines</summary><pre>Traceback (most recent call last):" in page


def test_html_shows_the_fields_of_error_evidence_as_rows() -> None:
    page = render_html(_make_report())

    assert re.search(r"<th scope=\"row\">failure</th><td>\s*exception\s*</td>", page)
    assert re.search(r"<th scope=\"row\">phase</th><td>\s*train\s*</td>", page)


def test_html_shows_list_evidence_as_json_and_nan_as_text() -> None:
    page = render_html(_make_report())

    assert "<pre>[3, 7]</pre>" in page
    assert re.search(r"<th scope=\"row\">max_abs_diff</th><td>\s*nan\s*</td>", page)


def test_html_shows_the_source_of_the_class_a_check_is_about_with_line_numbers() -> None:
    page = render_html(_make_report())

    assert "Your code: <code>Relu</code>" in page
    assert '<span class="ln">3</span>        return grad_y * (self.mem[&#39;x&#39;] &gt; 0)' in page


@pytest.mark.parametrize(
    ("check_id", "source_key", "shown"),
    [
        ("numpy.relu.backward", "Relu", "<code>Relu</code>"),
        ("numpy.matmul.backward.W", "Matmul", "<code>Matmul</code>"),
        ("numpy.softmax.forward", "Softmax", "<code>Softmax</code>"),
        ("numpy.log.backward", "Log", "<code>Log</code>"),
        ("numpy.model.train", "myModel", "<code>myModel</code></summary>"),
        ("framework.model.forward", "framework:myModel", "<code>myModel</code> (framework part)"),
    ],
    ids=["relu", "matmul", "softmax", "log", "numpy-model", "framework-model"],
)
def test_html_finds_the_source_for_each_kind_of_check_id(check_id: str, source_key: str, shown: str) -> None:
    check = CheckResult(id=check_id, status="passed", score=1, max_score=1, message=m("test.ok"))
    report = _make_report(checks=(check,), sources={source_key: "class X:\n    pass\n"})

    assert f"Your code: {shown}" in render_html(report)


def test_html_omits_source_when_the_submission_lacks_the_definition() -> None:
    check = CheckResult(id="numpy.softmax.forward", status="error", score=0, max_score=5,
                        message=msg("pipeline.missing_class", name="Softmax", file="hw.ipynb"))

    assert "Your code" not in render_html(_make_report(checks=(check,), sources={}))


def test_html_lists_intake_errors_before_warnings() -> None:
    page = render_html(_make_report())

    assert page.index("file is not UTF-8") < page.index("cell 3 is not valid Python") < page.index("not a code file")


def test_html_lists_graded_parts_with_definitions_and_supplied_imports() -> None:
    page = render_html(_make_report())

    assert "numpy part: <code>hw.ipynb</code>" in page
    assert "<code>Matmul</code>, <code>Relu</code>" in page
    assert "<code>import tensorflow as tf</code>" in page


def test_write_html_writes_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "report.html"

    write_html(_make_report(student="张三"), path)

    assert "<h1>张三</h1>" in path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- report.html: gradient heat map

REL_ERR_3X4: list[list[float | str]] = [[0.0, 1e-13, 2.0, 0.0], [0.0, 0.0, "inf", 1e-9], [3e-1, 0.0, 0.0, 0.0]]
COMPARISON = ArrayComparison(max_rel_err=2.0, mismatched=3, total=12, worst_index=(0, 2), expected_at_worst=0.5, got_at_worst=-0.5)


def _gradient(name: str = "grad_W", rel_err: Any = None, **extra: Any) -> GradientComparison:
    fields: dict[str, Any] = {
        "name": name, "vs_autograd": COMPARISON, "vs_finite_difference": COMPARISON,
        "expected_excerpt": [[0.5]], "got_excerpt": [[-0.5]],
        "rel_err_map": REL_ERR_3X4 if rel_err is None else rel_err, "rel_err_tol": 1e-06,
    }
    return GradientComparison(**(fields | extra))


def _gradient_evidence(*gradients: GradientComparison) -> GradientEvidence:
    return GradientEvidence(seed=123, gradients=gradients or (_gradient(),))


def _gradient_check(status: Literal["passed", "failed"] = "failed", evidence: GradientEvidence | None = None) -> CheckResult:
    return CheckResult(
        id="numpy.matmul.backward", status=status, score=0 if status == "failed" else 10, max_score=10,
        message=m("test.grad_wrong", name="Matmul", grad="grad_W"), diagnosis=DIAGNOSIS if status == "failed" else None,
        evidence=_gradient_evidence() if evidence is None else evidence,
    )


def _svgs(page: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", page, flags=re.S)


def test_html_draws_a_heat_map_of_a_failed_gradient_with_a_cell_per_entry_and_the_count() -> None:
    page = render_html(_make_report(checks=(_gradient_check(),)))

    [svg] = _svgs(page)
    assert svg.count("<rect") == 12
    assert "<title>[0, 2] relative error 2.0e+00</title>" in svg
    assert "<title>[1, 2] relative error inf</title>" in svg
    assert re.search(r'fill="#000000"><title>\[1, 2\]', svg)
    assert "grad_W: 3 of 12 entries over tolerance 1e-06</figcaption>" in page
    assert "rows (i)" in svg and "columns (j)" in svg
    assert "inf / NaN</li>" in page


def test_html_puts_the_heat_map_after_the_diagnosis_and_before_the_evidence_table() -> None:
    page = render_html(_make_report(checks=(_gradient_check(),)))

    assert page.index("Likely cause:") < page.index("<svg") < page.index('<table class="evidence">')


def test_html_draws_no_heat_map_for_a_passed_gradient_check() -> None:
    page = render_html(_make_report(checks=(_gradient_check("passed"),)))

    assert "<svg" not in page
    assert "<ul class=\"heatmap-legend\">" not in page


def test_html_draws_a_map_for_every_gradient_of_a_failed_check_even_one_within_tolerance() -> None:
    evidence = _gradient_evidence(_gradient("W2_grad"), _gradient("W1_grad", rel_err=[[0.0, 1e-9], [0.0, 0.0]]))

    page = render_html(_make_report(checks=(_gradient_check(evidence=evidence),)))

    assert [svg.count("<rect") for svg in _svgs(page)] == [12, 4]
    assert "W1_grad: 0 of 4 entries over tolerance 1e-06" in page
    assert page.count("<ul class=\"heatmap-legend\">") == 1


def test_html_draws_a_one_dimensional_map_as_one_row() -> None:
    evidence = _gradient_evidence(_gradient("grad_b", rel_err=[[0.0, 2.0, "inf"]]))

    [svg] = _svgs(render_html(_make_report(checks=(_gradient_check(evidence=evidence),))))

    assert len(set(re.findall(r'<rect [^>]*y="(\d+)"', svg))) == 1
    assert "<title>[0, 2] relative error inf</title>" in svg


def test_html_leaves_the_raw_map_out_of_the_evidence_table_but_keeps_the_rest() -> None:
    page = render_html(_make_report(checks=(_gradient_check(), _gradient_check("passed"))))

    assert "rel_err_map" not in page
    assert "1e-13" not in page
    assert page.count("&#34;rel_err_tol&#34;: 1e-06") == 2
    assert page.count("&#34;worst_index&#34;: [0, 2]") == 4


def test_html_notes_when_the_map_shows_only_a_corner_of_the_gradient() -> None:
    evidence = _gradient_evidence(_gradient(vs_autograd=COMPARISON.model_copy(update={"total": 7840})))

    page = render_html(_make_report(checks=(_gradient_check(evidence=evidence),)))

    assert "(the map shows 12 of the 7840 entries, from the top-left corner)" in page


@pytest.mark.parametrize(
    "gradient",
    [{"rel_err_map": None}, {"rel_err_map": [[1.0]], "rel_err_tol": None}, {"rel_err_map": [[1.0]], "rel_err_tol": math.nan},
     {"rel_err_map": [], "rel_err_tol": 1e-6}, {"rel_err_map": [[]], "rel_err_tol": 1e-6}],
    ids=["no-map", "no-tolerance", "tolerance-not-finite", "empty", "empty-row"],
)
def test_html_skips_a_missing_or_empty_map_without_failing(gradient: dict[str, Any]) -> None:
    page = render_html(_make_report(checks=(_gradient_check(evidence=_gradient_evidence(_gradient(**gradient))),)))

    assert "<svg" not in page
    assert "rel_err_map" not in page


def test_html_draws_odd_map_entries_black_without_failing() -> None:
    evidence = _gradient_evidence(_gradient(rel_err=[["oops", "nan", "-inf"], [0.0]]))

    [svg] = _svgs(render_html(_make_report(checks=(_gradient_check(evidence=evidence),))))

    assert svg.count('fill="#000000"') == 3


def test_html_escapes_a_script_tag_in_a_gradient_name() -> None:
    page = render_html(_make_report(checks=(_gradient_check(evidence=_gradient_evidence(_gradient(SCRIPT))),)))

    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;: 3 of 12 entries over tolerance 1e-06" in page
    assert 'aria-label="relative error of &lt;script&gt;alert(1)&lt;/script&gt; per entry, 3 x 4"' in page


def test_html_with_a_heat_map_loads_nothing_from_outside_the_file() -> None:
    page = render_html(_make_report(checks=(*_make_checks(), _gradient_check())))

    assert "<svg" in page
    assert re.search(r"\b(src|href)\s*=", page) is None
    assert "url(" not in page
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.lower()


# --------------------------------------------------------------------------- report.html: parts, versions, hints, language

SIGN_FLIPPED = m("test.sign_flipped")


def _check(check_id: str, status: Literal["passed", "failed", "error", "skipped"], score: float, max_score: float,
           **extra: Any) -> CheckResult:
    return CheckResult(id=check_id, status=status, score=score, max_score=max_score, message=extra.pop("message", m("test.ok")),
                       **extra)


def test_html_shows_one_bar_per_part_with_its_points() -> None:
    checks = (
        _check("numpy.relu.backward", "passed", 10, 10), _check("numpy.matmul.backward", "failed", 0, 10),
        _check("numpy.softmax.stability", "failed", 0, 0, advisory=True), _check("numpy.model.backward", "passed", 15, 15),
        _check("numpy.model.train", "failed", 0, 20), _check("framework.model.train", "passed", 15, 15),
    )

    page = render_html(_make_report(checks=checks))

    bars = re.findall(r"<li><span>([^<]+)</span><span class=\"part-points\">([^<]+)</span>.*?width: ([\d.]+)%", page)
    assert bars == [("numpy layers", "10 / 20", "50.0"), ("numpy model", "15 / 35", "42.9"), ("framework", "15 / 15", "100.0")]


def test_html_shows_versions_isolation_seed_and_date() -> None:
    report = _make_report(versions={"grader": "0.1.0", "numpy": "2.4.6"}, isolation=("bwrap", "seccomp"), seed=77)

    page = render_html(report)

    assert "grader <code>0.1.0</code>, numpy <code>2.4.6</code>" in page
    assert "<dd>bwrap, seccomp</dd>" in page
    assert "<code>grade --seed 77</code>; training checks use their own pinned seed" in page
    assert "<dd>2025-03-01T12:00:00+00:00</dd>" in page


def test_html_shows_the_static_hint_of_each_check() -> None:
    page = render_html(_make_report(checks=(_check("numpy.matmul.backward", "failed", 0, 10),)))

    assert "<strong>Hint:</strong> grad_x = grad_y @ W.T, grad_W = x.T @ grad_y" in page


def test_html_in_chinese_has_chinese_page_text_statuses_messages_and_diagnoses() -> None:
    check = _check("numpy.matmul.backward", "failed", 0, 10, diagnosis=SIGN_FLIPPED,
                   message=m("test.grad_failed", name="Matmul", wrt="W", bad=12, total=12))

    page = render_html(_make_report(checks=(check,)), lang="zh")

    assert '<html lang="zh-CN">' in page
    assert '<span class="badge failed">未通过</span>' in page
    assert "<strong>可能原因：</strong> 符号反了：你的梯度正好是正确梯度的相反数</p>" in page
    assert "`Matmul.backward` 对 `W` 的梯度检查未通过：12 个元素中有 12 个不一致" in page
    assert "<strong>提示：</strong> grad_x = grad_y @ W.T，grad_W = x.T @ grad_y" in page
    assert "0 / 10 分（0.0%）" in page
    assert "第 3 个单元格不是有效的 Python 代码，已跳过" in page
    assert "Likely cause" not in page and "Hint:" not in page


def test_html_in_chinese_keeps_student_text_verbatim_in_a_code_element() -> None:
    check = _check("numpy.relu.backward", "error", 0, 10, message=m("test.raised", where="Relu.forward",
                                                                    error=verbatim("ValueError: shapes (3,5) and (4,) not aligned")))

    page = render_html(_make_report(checks=(check,)), lang="zh")

    assert "`Relu.forward` 抛出了异常 <code>ValueError: shapes (3,5) and (4,) not aligned</code>" in page


def test_html_in_chinese_renders_nested_clauses_in_chinese() -> None:
    check = _check("numpy.relu.backward", "failed", 0, 10, message=m("test.clause", what=m("test.sign_flipped"), clause=m("test.ok")))

    assert "符号反了：你的梯度正好是正确梯度的相反数；通过" in render_html(_make_report(checks=(check,)), lang="zh")


def test_write_html_writes_the_requested_language(tmp_path: Path) -> None:
    write_html(_make_report(), tmp_path / "report.html", lang="zh")

    assert "评分内容" in (tmp_path / "report.html").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- report.html: hidden checks


SECRET = "the secret message of a hidden check"


def _hidden(released: bool) -> CheckResult:
    return _check("numpy.log.backward", "failed", 0, 10, visibility="hidden", released=released, message=m("test.secret"),
                  diagnosis=SIGN_FLIPPED, evidence=NoEvidence(details={"secret_evidence": 1.5}))


def test_html_shows_only_status_and_points_of_a_hidden_unreleased_check() -> None:
    page = render_html(_make_report(checks=(_hidden(False),), sources={"Log": "class Log:\n    pass\n"}))

    assert '<span class="badge failed">failed</span>' in page and '<span class="points">0 / 10</span>' in page
    assert "The details of this hidden check are not released." in page
    for withheld in (SECRET, "the sign is flipped", "secret_evidence", "Your code", "Hint:"):
        assert withheld not in page


def test_html_shows_the_details_of_a_hidden_check_the_rubric_releases() -> None:
    page = render_html(_make_report(checks=(_hidden(True),)))

    assert SECRET in page and str(SIGN_FLIPPED) in page and "secret_evidence" in page
    assert '<span class="tag hidden">hidden</span>' in page


def test_scoring_copies_release_from_the_rubric(tmp_path: Path) -> None:
    text = DEFAULT_RUBRIC.read_text(encoding="utf-8").replace(
        '[checks."numpy.log.backward"]\n', '[checks."numpy.log.backward"]\nvisibility = "hidden"\nrelease = true\n')
    (tmp_path / "rubric.toml").write_text(text, encoding="utf-8")
    rubric = load_rubric(tmp_path / "rubric.toml", BUILTIN).rubric
    outcomes = [CheckOutcome(id=cid, status="passed", message=m("test.ok")) for cid in ("numpy.log.backward", "numpy.relu.backward")]

    log, relu = score_outcomes(outcomes, rubric)

    assert (log.visibility, log.released) == ("hidden", True)
    assert (relu.visibility, relu.released) == ("public", False)


# --------------------------------------------------------------------------- report.html: source with real lines and marks

SOFTMAX_SOURCE = '''class Softmax:
    def forward(self, x):
        s = np.exp(x) / np.exp(x).sum(axis=-1, keepdims=True)
        self.mem['s'] = s
        return s

    def backward(self, grad_y):
        """grad_y: same shape as x (1 - s)"""
        s = self.mem['s']
        # derivative s * (1 - s)
        return grad_y * s * (1 - s)
'''
RELU_NO_MASK = '''class Relu:
    def forward(self, x):
        self.mem['x'] = x
        return np.maximum(x, 0)

    def backward(self, grad_y):
        x = self.mem['x']
        grad_x = grad_y  # relu 在正半轴导数为 1
        return grad_x
'''
MATMUL_TRANSPOSED = '''class Matmul:
    def backward(self, grad_y):
        x, W = self.mem['x'], self.mem['W']
        grad_x = grad_y @ W.T
        grad_W = grad_y.T @ x
        return grad_x, grad_W
'''
RELU_STALE = '''class Relu:
    def forward(self, x):
        if 'x' not in self.mem: self.mem['x'] = x
        return np.maximum(x, 0)
'''


_SOFTMAX_DIAGONAL = msg("layers.diag.softmax_diagonal_only")


@pytest.mark.parametrize(
    ("source", "ids", "message", "marked"),
    [
        (SOFTMAX_SOURCE, {"layers.diag.softmax_diagonal_only"}, "", {11}),
        (RELU_NO_MASK, {"layers.diag.relu_mask_missing"}, "", {8}),
        (RELU_NO_MASK, {"layers.diag.passthrough"}, "", {8}),
        (MATMUL_TRANSPOSED, {"compare.diag.transposed"}, "Matmul.backward: grad_W at the unit input point has shape (5, 4), "
                                                          "expected (4, 5)", {5}),
        (RELU_STALE, {"layers.diag.stale_input"}, "", {3}),
        (SOFTMAX_SOURCE, {"training.diag.learns_too_little"}, "", set()),
        (RELU_NO_MASK, {"compare.diag.sign_flipped"}, "", set()),
        ("class Relu(:\n", {"layers.diag.relu_mask_missing"}, "", set()),
    ],
    ids=["softmax-diagonal", "relu-no-mask", "relu-passthrough", "matmul-transposed-names-grad_W", "relu-stale-cache-in-forward",
         "no-rule", "rule-without-matching-line", "unparsable"],
)
def test_suspicious_lines_marks_the_line_a_diagnosis_points_at(source: str, ids: set[str], message: str, marked: set[int]) -> None:
    assert suspicious_lines(source, outline_of(source), frozenset(ids), message) == marked


@pytest.mark.parametrize("log_id", ["layers.diag.log_derivative_neg_sq", "layers.diag.log_derivative_sq"])
def test_both_log_derivative_diagnoses_mark_the_squared_line(log_id: str) -> None:
    source = "class Log:\n    def backward(self, grad_y):\n        x = self.mem['x']\n        return -grad_y / x ** 2\n"

    assert suspicious_lines(source, outline_of(source), frozenset({log_id})) == {4}


def test_html_numbers_source_lines_as_in_the_students_file_and_marks_the_diagnosed_line() -> None:
    check = _check("numpy.softmax.backward", "failed", 0, 10, diagnosis=_SOFTMAX_DIAGONAL)
    report = _make_report(checks=(check,), sources={"Softmax": SOFTMAX_SOURCE}, origins={"Softmax": ("hw.ipynb [cell 4]", 40)})

    page = render_html(report)

    assert "<summary>Your code: <code>Softmax</code> <span class=\"origin\">hw.ipynb [cell 4], line 40</span></summary>" in page
    assert '<span class="line"><span class="ln">40</span>class Softmax:' in page
    assert '<span class="line marked"><span class="ln">50</span>        return grad_y * s * (1 - s)' in page
    assert page.count("line marked") == 1
    assert "<details open>" in page and "The marked line is the one the diagnosis points at." in page


def test_html_marks_the_line_of_a_diagnosis_nested_in_a_clause() -> None:
    wrapped = m("test.clause", what=m("test.ok"), clause=_SOFTMAX_DIAGONAL)
    check = _check("numpy.softmax.backward", "failed", 0, 10, message=wrapped)

    page = render_html(_make_report(checks=(check,), sources={"Softmax": SOFTMAX_SOURCE}))

    assert re.findall(r'<span class="line marked"><span class="ln">(\d+)</span>', page) == ["11"]


def test_html_marks_the_line_where_an_errored_check_says_the_code_raised() -> None:
    check = _check("numpy.softmax.backward", "error", 0, 10,
                   message=m("test.raised", where="Softmax.backward", error=verbatim("ValueError: shapes (3,5) (5,3)")),
                   evidence=ErrorEvidence(failure="exception", phase="backward", location=Location(file="hw.ipynb", cell=4, line=49)))
    report = _make_report(checks=(check,), sources={"Softmax": SOFTMAX_SOURCE}, origins={"Softmax": ("hw.ipynb [cell 4]", 40)})

    page = render_html(report)

    assert re.findall(r'<span class="line marked"><span class="ln">(\d+)</span>', page) == ["49"]
    assert "The marked line is where your code raised the error." in page


_SHOWN = GradedSource(name="Softmax", source=SOFTMAX_SOURCE, file_label="hw.ipynb [cell 4]", line=40)


@pytest.mark.parametrize(
    ("location", "marked"),
    [(Location(file="hw.ipynb", cell=4, line=48), {9}),
     (Location(file="other.py", line=48), set()),
     (Location(file="hw.ipynb", cell=3, line=48), set()),
     (Location(file="hw.ipynb", cell=4, line=39), set()),
     (Location(file="hw.ipynb", cell=4), set()),
     (None, set())],
    ids=["in-the-class", "other-file", "other-cell", "before-the-class", "no-line", "no-location"],
)
def test_error_lines_maps_the_raising_line_into_the_source(location: Location | None, marked: set[int]) -> None:
    assert error_lines(location, _SHOWN, 11) == marked


def test_html_marks_nothing_in_the_source_of_a_passed_check() -> None:
    check = _check("numpy.softmax.backward", "passed", 10, 10, diagnosis=_SOFTMAX_DIAGONAL)

    page = render_html(_make_report(checks=(check,), sources={"Softmax": SOFTMAX_SOURCE}))

    assert "line marked" not in page and "<details open>" not in page


# --------------------------------------------------------------------------- report.html: expected and yours


def test_html_shows_expected_and_yours_side_by_side_with_wrong_entries_marked() -> None:
    evidence = _gradient_evidence(_gradient(expected_excerpt=[[0.5, 1.0, 2.0, 3.0]], got_excerpt=[[0.5, 1.0, -2.0, 3.0]]))

    page = render_html(_make_report(checks=(_gradient_check(evidence=evidence),)))

    assert "grad_W: expected and yours (top-left corner; wrong entries marked)" in page
    [expected, got] = re.findall(r'<table class="matrix">(.*?)</table>', page, flags=re.S)
    assert re.findall(r"<td>([^<]+)</td>", expected) == ["0.5", "1", "2", "3"]
    assert re.findall(r'<td class="wrong">([^<]+)</td>', got) == ["-2"]


def test_html_leaves_out_the_excerpt_of_a_gradient_that_is_within_tolerance() -> None:
    evidence = _gradient_evidence(_gradient("W1_grad", rel_err=[[0.0, 1e-9]]), _gradient("W2_grad"))

    page = render_html(_make_report(checks=(_gradient_check(evidence=evidence),)))

    assert "W2_grad: expected and yours" in page and "W1_grad: expected and yours" not in page


# --------------------------------------------------------------------------- report.html: training charts


def _training_check(status: Literal["passed", "failed"] = "failed", **evidence: Any) -> CheckResult:
    base: dict[str, Any] = {"threshold": 0.75, "epochs": 3, "batch_size": 100, "lr": 0.1, "optimizer": "sgd", "seed": 0,
                            "losses": [2.0, 1.0, 0.5], "accuracy": 0.5}
    return _check("numpy.model.train", status, 0, 20, evidence=TrainingEvidence(**(base | evidence)))


def _charts(page: str) -> list[str]:
    return [svg for svg in _svgs(page) if 'class="chart"' in svg]


def test_html_draws_loss_per_epoch_and_the_final_accuracy_against_the_threshold() -> None:
    loss, accuracy = _charts(render_html(_make_report(checks=(_training_check(),))))

    assert re.search(r'<polyline points="([\d.]+,[\d.]+ ){2}[\d.]+,[\d.]+"', loss)
    assert ">epoch</text>" in loss and ">training loss</text>" in loss
    assert 'stroke-dasharray="5 3"><title>threshold 0.75</title>' in accuracy
    assert re.search(r'<circle [^>]*fill="#cf222e"[^>]*><title>final test accuracy 0.500</title>', accuracy)


def test_html_names_the_pinned_seed_of_a_training_check() -> None:
    page = render_html(_make_report(checks=(_training_check(seed=3),), seed=99))

    assert "The grader&#39;s training run, with its own pinned seed 3." in page


def test_html_shows_the_training_protocol_as_evidence_rows() -> None:
    page = render_html(_make_report(checks=(_training_check(),)))

    assert re.search(r"<th scope=\"row\">optimizer</th><td>\s*sgd\s*</td>", page)
    assert re.search(r"<th scope=\"row\">losses</th><td>\s*<pre>\[2.0, 1.0, 0.5\]</pre>", page)


def test_html_draws_the_curve_per_step_when_the_evidence_has_one() -> None:
    curve = Curve(step=(0, 10, 20, 30), loss=(2.3, 1.5, 1.0, 0.8), accuracy=(0.1, 0.5, 0.7, 0.8))

    loss, accuracy = _charts(render_html(_make_report(checks=(_training_check("passed", curve=curve, accuracy=0.9),))))

    assert ">step</text>" in loss and ">30</text>" in loss
    assert len(re.search(r'<polyline points="([^"]+)"', loss)[1].split()) == 4  # type: ignore[index]
    assert ">training-batch accuracy</text>" in accuracy
    assert re.search(r'<circle [^>]*fill="#1a7f37"[^>]*><title>final test accuracy 0.900</title>', accuracy)


def test_html_breaks_the_loss_line_at_nan_and_marks_it() -> None:
    [loss, _] = _charts(render_html(_make_report(checks=(_training_check(losses=[2.0, 1.0, "nan", "inf", 0.5]),))))

    assert loss.count("<polyline") == 1 and loss.count("<circle") == 1  # epochs 1-2 a line, epoch 5 a dot
    assert loss.count("loss NaN or infinite</title>") == 2


def test_html_draws_training_charts_in_chinese() -> None:
    loss, accuracy = _charts(render_html(_make_report(checks=(_training_check(),)), lang="zh"))

    assert ">训练损失</text>" in loss and ">轮次 (epoch)</text>" in loss
    assert "<title>阈值 0.75</title>" in accuracy and "最终测试准确率 0.500" in accuracy


def test_html_draws_no_chart_for_a_training_check_without_losses() -> None:
    errored = _check("framework.model.train", "error", 0, 15, evidence=ErrorEvidence(failure="exception"))
    no_losses = _training_check(losses=[])

    assert _charts(render_html(_make_report(checks=(errored, no_losses)))) == []


def test_html_chart_survives_odd_evidence() -> None:
    check = _training_check(losses=[SCRIPT, "oops", "nan"], curve=Curve(step=("x",), loss=(SCRIPT,), accuracy=()), accuracy=None,
                            threshold=math.inf)

    page = render_html(_make_report(checks=(check,)))

    assert "<script" not in page.lower()
    assert "no loss values were recorded" in page


# --------------------------------------------------------------------------- gradebook.csv


def test_gradebook_has_one_sorted_row_per_student_and_blank_for_a_missing_check(tmp_path: Path) -> None:
    path = tmp_path / "gradebook.csv"
    relu, matmul, train, *rest = _make_checks()
    later = _make_report(student="2151200", framework="pytorch", checks=(relu, _scored(matmul, 2.5), _scored(train, 20), *rest))
    earlier = _make_report(student="2151131", checks=(relu, matmul))

    write_gradebook([later, earlier], path)

    assert path.read_bytes().decode("utf-8").splitlines() == [
        "student,name,score,max_score,framework,late,numpy.relu.backward,numpy.matmul.backward,"
        "framework.model.train,numpy.model.train,numpy.softmax.stability,errors,missing",
        "2151131,,10,20,tensorflow,,10,0,,,,0,",
        "2151200,,32.5,50,pytorch,,10,2.5,20,0,0,1,",
    ]


def test_gradebook_has_no_byte_order_mark_and_blank_framework_when_none(tmp_path: Path) -> None:
    path = tmp_path / "gradebook.csv"

    write_gradebook([_make_report(framework=None)], path)

    data = path.read_bytes()
    assert data.startswith(b"student,")
    assert data.splitlines()[1].startswith(b"2151131,,10,50,,,")


# --------------------------------------------------------------------------- terminal


def test_summary_plain_has_header_one_line_per_check_diagnosis_and_findings() -> None:
    text = format_summary(_make_report(), color=False)

    assert "\x1b" not in text
    assert text.splitlines() == [
        "2151131: 10 / 50  (framework: tensorflow)",
        "PASS   10/10  numpy.relu.backward      Relu.backward matches the numerical gradient",
        "FAIL    0/10  numpy.matmul.backward    "
        "gradient check failed for `Matmul.backward` w.r.t. `W`: 12 / 64 elements differ",
        f"      {DIAGNOSIS_EN}",
        "ERROR   0/20  framework.model.train    training raised ValueError",
        "SKIP    0/10  numpy.model.train        not run because numpy.model.forward failed",
        "NOTE     0/0  numpy.softmax.stability  advisory softmax overflows for inputs near 1000",
        "graded: numpy part from hw.ipynb; framework part (tensorflow) from hw.ipynb",
        "intake error: old.py: file is not UTF-8; skipped",
        "intake warning: hw.ipynb:3: cell 3 is not valid Python; skipped",
    ]


def test_summary_truncates_a_long_diagnosis_to_one_line() -> None:
    check = CheckResult(
        id="numpy.log.backward", status="failed", score=0, max_score=5, message=m("test.wrong"),
        diagnosis=m("test.student_said", text=verbatim("x\n" + "y" * 300)),
    )

    lines = format_summary(_make_report(checks=(check,)), color=False).splitlines()

    assert lines[2] == "      your code printed x " + "y" * 77 + "..."


def test_summary_keeps_a_long_message_on_one_line() -> None:
    check = CheckResult(id="numpy.log.backward", status="failed", score=0, max_score=5,
                        message=m("test.student_said", text=verbatim("m" * 150)))

    assert format_summary(_make_report(checks=(check,), findings=()), color=False).splitlines()[1].endswith("m" * 150)


def test_summary_shows_rich_markup_in_student_text_literally() -> None:
    check = CheckResult(id="numpy.log.backward", status="failed", score=0, max_score=5,
                        message=m("test.student_said", text=verbatim("[bold red]x[/]")))

    assert "[bold red]x[/]" in format_summary(_make_report(checks=(check,)), color=True)


def test_summary_in_colour_contains_ansi_codes() -> None:
    text = format_summary(_make_report(), color=True)

    assert "\x1b[" in text
    assert "numpy.matmul.backward" in text


def test_batch_table_has_one_line_per_student_a_totals_line_and_counts_by_status() -> None:
    relu, matmul, train, *rest = _make_checks()
    reports = [_make_report(student="2151200", checks=(relu, _scored(matmul, 10), _scored(train, 20), *rest)),
               _make_report(student="2151131")]

    lines = format_batch_table(reports, color=False).splitlines()

    assert lines == [
        "student  score    passed  failed  error  skipped",
        "2151131  10 / 50  1       2       1      1",
        "2151200  40 / 50  1       2       1      1",
        "2 students, mean score 50.0%; checks: 2 passed, 4 failed, 2 error, 2 skipped",
        "",
        "check                    passed  failed  error  skipped",
        "numpy.relu.backward      2       0       0      0",
        "numpy.matmul.backward    0       2       0      0",
        "framework.model.train    0       0       2      0",
        "numpy.model.train        0       0       0      2",
        "numpy.softmax.stability  0       2       0      0",
        "students by worst check  0       0       2      0",
    ]


def test_batch_table_plain_has_no_ansi_and_colour_has_ansi() -> None:
    reports = [_make_report()]

    assert "\x1b" not in format_batch_table(reports, color=False)
    assert "\x1b[" in format_batch_table(reports, color=True)


def test_batch_table_of_no_reports_says_so() -> None:
    assert format_batch_table([], color=False).splitlines()[-1] == (
        "0 students, mean score -; checks: 0 passed, 0 failed, 0 error, 0 skipped"
    )
