"""TA review without a browser: the store's validation and staleness, the gradebook migration, the CLI twins
(`grade override`, `grade comment`, `grade history`), and every export taking the final points while no
staff-only note reaches a file a student receives.  The review app's pages through Starlette's test client:
the token, the CSRF token, the loopback Host check, Chinese pages, no script allowed."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from grader.gradebook_db import FILENAME, SCHEMA_VERSION, Gradebook
from grader.records import CheckResult, GradeReport
from grader.reports.gradescope import gradescope_results
from grader.decisions.final import Reviews, final_report, final_reports, needs_another_look
from grader.decisions.store import Override, ReviewError, ReviewStore, StaleForm
from grader.text import msg, verbatim

from grader.cli import main

from .conftest import CORPUS, CliRun
from .course_site_helpers import csv_text, moodle_import, write_zip
from .review_helpers import FAST, STAFF_SECRETS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def graded_once(tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path) -> tuple[Path, Path]:
    """A Moodle download of three students graded with a worksheet (moodle.csv), once per module."""
    root = tmp_path_factory.mktemp("review-cli")
    archive = write_zip(root / "moodle.zip", {
        "Ann_1000001_assignsubmission_file_/report.md": (CORPUS / "correct_md_torch" / "report.md").read_bytes(),
        "Bo_1000002_assignsubmission_file_/report.md": (CORPUS / "mutant_relu" / "report.md").read_bytes(),
        "Cy_1000003_assignsubmission_file_/report.md": (CORPUS / "correct_md_torch" / "report.md").read_bytes(),
    })
    worksheet = root / "worksheet.csv"
    worksheet.write_text(csv_text([
        ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade", "Grade can be changed",
         "Last modified (submission)", "Last modified (grade)", "Feedback comments"],
        *([f"Participant {n}", name, f"{n}@example.edu", "Submitted for grading", "", "100.00", "Yes", "-", "-", ""]
          for n, name in (("1000001", "Ann"), ("1000002", "Bo"), ("1000003", "Cy"))),
    ]), encoding="utf-8")
    out = root / "out"
    args = [str(archive), "--out", str(out), "--roster", str(worksheet), "--mnist", str(mnist_dir), "--no-color", "--jobs", "2", *FAST]
    done = subprocess.run([sys.executable, "-m", "grader.cli", *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return root, out


@pytest.fixture
def graded(graded_once: tuple[Path, Path], tmp_path: Path) -> tuple[list[str], Path]:
    """A fresh copy of the graded class: (the command that regrades it, its output folder)."""
    root, out = graded_once
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    args = [str(root / "moodle.zip"), "--out", str(copy), "--roster", str(root / "worksheet.csv"), "--jobs", "2", *FAST]
    return args, copy


@pytest.fixture
def review(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run `grade <review subcommand> ARGS...` in-process (no --mnist: the subcommands grade nothing)."""

    def run(*args: str | Path) -> CliRun:
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliRun(code, captured.out, captured.err)

    return run


def _history(out: Path) -> int:
    store = ReviewStore(out)
    try:
        return len(store.history())
    finally:
        store.close()


# --------------------------------------------------------------------------- store and migration


def test_an_older_gradebook_gets_the_review_tables_and_keeps_its_results(graded: tuple[list[str], Path]) -> None:
    _, out = graded
    with sqlite3.connect(out / FILENAME) as db:
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE name LIKE 'review_%'").fetchall():
            db.execute(f"DROP TABLE {table}")
        db.execute("PRAGMA user_version = 0")
    store = ReviewStore(out)
    try:
        assert store.students() == ["1000001", "1000002", "1000003"]
        store.set_override("1000002", "numpy.relu.backward", 5, reason="partial", staff_only=False, author="Ana")
    finally:
        store.close()
    with sqlite3.connect(out / FILENAME) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert db.execute("SELECT points, author FROM review_overrides").fetchall() == [(5.0, "Ana")]


def test_a_stale_version_is_refused_and_nothing_is_stored(graded: tuple[list[str], Path]) -> None:
    _, out = graded
    first, second = ReviewStore(out), ReviewStore(out)
    try:
        loaded = first.state("1000002").version
        second.set_override("1000002", "numpy.relu.backward", 6, reason="Bo's", staff_only=False, author="Bo", version=loaded)
        with pytest.raises(StaleForm, match="Bo changed this"):
            first.set_override("1000002", "numpy.relu.backward", 2, reason="Ana's", staff_only=False, author="Ana", version=loaded)
        assert [(o.points, o.author) for o in first.overrides("1000002")] == [(6.0, "Bo")]
        assert len(first.history("1000002")) == 1
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize(("student", "check", "points", "reason", "error"), [
    ("1000002", "numpy.relu.backward", "10.5", "x", "points_range"),
    ("1000002", "numpy.relu.backward", "-1", "x", "points_range"),
    ("1000002", "numpy.relu.backward", "nan", "x", "points_range"),
    ("1000002", "numpy.relu.backward", "ten", "x", "points_not_number"),
    ("1000002", "numpy.relu.backward", "5", "   ", "reason_missing"),
    ("9999999", "numpy.relu.backward", "5", "x", "unknown_student"),
    ("1000002", "numpy.nothing", "5", "x", "unknown_check"),
])
def test_bad_overrides_are_refused_by_name_and_store_nothing(graded: tuple[list[str], Path], student: str, check: str,
                                                               points: str, reason: str, error: str) -> None:
    _, out = graded
    store = ReviewStore(out)
    try:
        with pytest.raises(ReviewError) as raised:
            store.set_override(student, check, points, reason=reason, staff_only=False, author="Ana")
        assert raised.value.key == error
        assert store.overrides() == [] and store.history() == []
    finally:
        store.close()


def test_review_needs_a_gradebook() -> None:
    with pytest.raises(ReviewError, match="no gradebook.sqlite here; grade the class first"):
        ReviewStore(Path("/nonexistent/out"))


# --------------------------------------------------------------------------- the CLI twins and the exports


def test_cli_twins_store_changes_refuse_bad_input_and_print_the_history(review, graded: tuple[list[str], Path]) -> None:  # type: ignore[no-untyped-def]
    _, out = graded
    ok = review("override", out, "1000002", "numpy.relu.backward", "7", "--reason", "mask fine", "--by", "Ana")
    assert ok.code == 0, ok.err
    for bad, expected in ((("override", out, "1000002", "numpy.relu.backward", "70", "--reason", "x"), "outside 0 to 10"),
                          (("override", out, "1000002", "numpy.relu.backward", "7", "--reason", ""), "needs a reason"),
                          (("override", out, "nobody", "numpy.relu.backward", "7", "--reason", "x"), "No graded student nobody"),
                          (("comment", out, "1000002", "report.md:9999", "x"), "has no line report.md:9999"),
                          (("comment", out, "1000002", "numpy.none", "x"), "has no check numpy.none")):
        run = review(*bad)
        assert run.code == 2 and expected in run.err
    assert review("comment", out, "1000002", "report.md:45", "this line", "--by", "Ana").code == 0
    history = review("history", out, "1000002")
    lines = history.out.strip().splitlines()
    assert len(lines) == 2
    assert "Ana  1000002  override numpy.relu.backward: 0 (failed 0/10) -> 7  (mask fine)" in lines[0]
    assert "comment report.md:45" in lines[1]
    assert review("history", out).out == history.out  # one student's history is the class's here


def test_removing_an_override_gives_the_autograder_points_back_and_keeps_both_in_the_history(
        review, graded: tuple[list[str], Path]) -> None:  # type: ignore[no-untyped-def]
    _, out = graded
    assert review("override", out, "1000002", "numpy.relu.backward", "7", "--reason", "first look").code == 0
    assert json.loads((out / "1000002" / "result.json").read_text(encoding="utf-8"))["score"] == 17
    removed = review("override", out, "1000002", "numpy.relu.backward", "--remove", "--reason", "I misread the mask")
    assert removed.code == 0, removed.err
    result = json.loads((out / "1000002" / "result.json").read_text(encoding="utf-8"))
    assert (result["score"], result["adjustments"]) == (10, [])
    again = review("override", out, "1000002", "numpy.relu.backward", "--remove", "--reason", "twice")
    assert again.code == 2 and "no override of numpy.relu.backward" in again.err
    lines = review("history", out, "1000002").out.strip().splitlines()
    assert len(lines) == 2 and "override_removed numpy.relu.backward: 7 -> 0 (failed 0/10)  (I misread the mask)" in lines[1]


def test_every_export_has_the_final_points_and_no_staff_only_note(grade, review, graded: tuple[list[str], Path]) -> None:  # type: ignore[no-untyped-def]
    regrade, out = graded
    assert review("override", out, "1000002", "numpy.relu.backward", "8", "--reason", "mask is right").code == 0
    assert review("override", out, "1000001", "numpy.matmul.backward", "4", "--reason", STAFF_SECRETS[0], "--staff-only").code == 0
    assert review("comment", out, "1000002", "report.md:45", "visible remark").code == 0
    assert review("comment", out, "1000002", "report.md:46", STAFF_SECRETS[1], "--staff-only").code == 0
    again = grade(*regrade)  # nothing is regraded: the class exports are rewritten with the final points
    assert again.code == 0, again.err
    assert "3 unchanged" in again.out

    book = {row["student"]: row for row in csv.DictReader(io.StringIO((out / "gradebook.csv").read_text(encoding="utf-8")))}
    assert (book["1000001"]["score"], book["1000001"]["numpy.matmul.backward"]) == ("14", "4")
    assert (book["1000002"]["score"], book["1000002"]["numpy.relu.backward"]) == ("18", "8")
    sheet = openpyxl.load_workbook(out / "gradebook.xlsx").worksheets[0]
    rows = {row[0]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert (rows["1000001"][2], rows["1000002"][2]) == (14, 18)
    assert moodle_import(out / "moodle.csv", max_grade=100) == {"1000001": 70.0, "1000002": 90.0, "1000003": 100.0}
    assert "18 / 20" in (out / "summary.html").read_text(encoding="utf-8")
    result = json.loads((out / "1000002" / "result.json").read_text(encoding="utf-8"))
    assert result["score"] == 18 and result["adjustments"] == [
        {"check_id": "numpy.relu.backward", "autograder_score": 0.0, "reason": "mask is right"}]
    report = (out / "1000002" / "report.html").read_text(encoding="utf-8")
    assert "Adjusted by staff: mask is right" in report and "Staff comment: visible remark" in report
    staff_only = (out / "1000001" / "report.html").read_text(encoding="utf-8")
    assert "Adjusted by staff" in staff_only and "14 / 20" in staff_only

    final = Gradebook(out)
    try:
        reports = final_reports(final, ["1000001", "1000002"])
    finally:
        final.close()
    scope = [gradescope_results(r) for r in reports]
    assert [s["score"] for s in scope] == [14, 18]
    assert "Adjusted by staff: mask is right" in json.dumps(scope)
    texts = [json.dumps(scope), *(c.value for sh in openpyxl.load_workbook(out / "gradebook.xlsx").worksheets
                                  for row in sh.iter_rows() for c in row if isinstance(c.value, str))]
    texts += [p.read_text(encoding="utf-8", errors="replace") for p in out.rglob("*")
              if p.is_file() and not p.name.startswith(FILENAME) and p.suffix != ".xlsx"]
    for secret in STAFF_SECRETS:
        assert not any(secret in t for t in texts)


# --------------------------------------------------------------------------- final points


def _scored(score: float, most: float = 10, status: str = "failed") -> GradeReport:
    check = CheckResult(id="numpy.relu.backward", status="passed" if status == "passed" else "failed", score=score,
                        max_score=most, message=msg("grader.internal_error", error=verbatim("x")))
    return GradeReport(student="s", submission="s", checks=(check,))


def _override(points: float, reason: str = "why", staff_only: bool = False) -> Override:
    return Override("s", "numpy.relu.backward", points, reason, staff_only, 0.0, "failed", "hash", "Ana", "now")


def test_final_points_cap_at_a_new_maximum_and_a_changed_verdict_needs_another_look() -> None:
    assert final_report(_scored(0), Reviews((_override(8),))).score == 8
    assert not needs_another_look(_override(8), _scored(0), "hash")
    assert needs_another_look(_override(8), _scored(10, status="passed"), "hash")  # a regrade now passes it
    assert needs_another_look(_override(8), _scored(0), "other")  # a resubmission
    capped = _scored(0, most=5)
    assert final_report(capped, Reviews((_override(8),))).score == 5 and needs_another_look(_override(8), capped, "hash")


def test_a_staff_only_override_changes_the_points_but_carries_no_reason() -> None:
    report = final_report(_scored(0), Reviews((_override(6, reason="private", staff_only=True),)))
    assert report.score == 6 and report.adjustments[0].reason is None
    assert "private" not in report.model_dump_json()


# --------------------------------------------------------------------------- the app without a browser


def test_the_app_needs_the_token_and_csrf_allows_no_script_and_speaks_chinese(graded: tuple[list[str], Path]) -> None:
    from starlette.testclient import TestClient

    from grader.review.app import ReviewConfig, create_app
    from grader.review.auth import Access

    _, out = graded
    access = Access.new()
    app = create_app(ReviewConfig(out=out, access=access, lang="zh"))
    client = TestClient(app, base_url="http://127.0.0.1:8765")
    refused = client.get("/")
    assert refused.status_code == 403 and "访问令牌" in refused.text
    assert client.get(f"/?token={access.token}").status_code == 200  # -> the name page, in Chinese
    named = client.post("/name?next=/", data={"csrf": access.csrf, "name": "王老师"})
    assert named.status_code == 200 and "全班复核" in named.text and "王老师" in named.text
    assert "script-src" not in named.headers["content-security-policy"]  # default-src 'none': no script at all
    assert "default-src 'none'" in named.headers["content-security-policy"]
    wrong = client.post("/student/1000002/reviewed", data={"csrf": "x", "version": "0", "reviewed": "yes"})
    assert wrong.status_code == 403 and "安全令牌" in wrong.text
    assert _history(out) == 0
    elsewhere = TestClient(app, base_url="http://attacker.example")
    assert elsewhere.get(f"/?token={access.token}").status_code == 400
    assert client.get("/files/gradebook.sqlite").status_code == 404
    assert client.get("/student/1000002/files/..%2F..%2Fetc%2Fpasswd").status_code == 404


# --------------------------------------------------------------------------- the command line


def test_grading_never_imports_the_review_app() -> None:
    code = ("import sys, grader.cli, grader.batch; "
            "bad = [m for m in sys.modules if m.startswith(('starlette', 'uvicorn', 'multipart', 'grader.review.app'))]; "
            "assert not bad, bad")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_student_folder_named_review_is_graded_as_dot_slash_review(grade, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    shutil.copytree(CORPUS / "correct_md_torch", tmp_path / "review")
    monkeypatch.chdir(tmp_path)
    run = grade("./review", "--out", "out", *FAST)
    assert run.code == 0, run.err
    assert json.loads((tmp_path / "out" / "review" / "result.json").read_text(encoding="utf-8"))["score"] == 20
    assert "graded as ./review" in grade("--help").out
