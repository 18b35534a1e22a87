"""`grade review` in a real browser: headless Chromium (the suite's /usr/bin/chromium) through Playwright.

One class is graded for real (`grade` on corpus submissions, two checks) and served by
`grade review` in a subprocess, as a TA starts it.  The tests run in order on that one
server: open the URL with the token, give a name, filter, override with a reason,
comment on a line, decide a similarity pair, be refused on bad input, race a second
browser context, regrade with --force after a resubmission, and download canvas.csv.
Nothing a student wrote may run: every page is checked for dialogs, page errors and
the `window.pwned` flag the hostile submission tries to set.  Two screenshots go to
docs/ (docs/review-class.png, docs/review-student.png) for docs/review.md.
"""

from __future__ import annotations

import csv
import io
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grader.decisions.store import ReviewStore

from .conftest import REPO, require_or_skip
from .review_helpers import FAST, HOSTILE, IMG, SCRIPT, STAFF_SECRETS, build_class, resubmit_fixed
from .test_browser import CHROMIUM

pytestmark = pytest.mark.slow
DOCS = REPO / "docs"


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path) -> tuple[Path, Path]:
    """(class folder, output folder) of the graded class, with similarity.csv."""
    require_or_skip(CHROMIUM is not None, "no chromium binary on PATH: apt-get install chromium")
    root = tmp_path_factory.mktemp("review")
    klass = build_class(root / "class")
    out = root / "out"
    done = _grade(klass, out, mnist_dir, "--similarity")
    assert done.returncode == 0, done.stderr
    return klass, out


def _grade(klass: Path, out: Path, mnist_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grader.cli", str(klass), "--out", str(out), "--mnist", str(mnist_dir),
                           "--no-color", "--jobs", "2", *FAST, *extra], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def server(graded: tuple[Path, Path]) -> Iterator[str]:
    """`grade review OUT --port P` running; yields the URL it printed (with the token)."""
    _, out = graded
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "grader.cli", "review", str(out), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"(http://127\.0\.0\.1:\d+/\?token=\S+)", line)
        assert found, f"no URL printed: {line!r}"
        _wait_for(port)
        yield found.group(1)
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_for(port: int) -> None:
    import time

    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"grade review did not listen on port {port}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


class Watch:
    """What a page did that it must not: dialogs, script errors."""

    def __init__(self, page: Any) -> None:
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(str(dialog.message))
        dialog.dismiss()


def _assert_nothing_ran(page: Any, watch: Watch) -> None:
    assert page.evaluate("() => window.pwned === undefined"), "a student's or a TA's text ran as script"
    assert watch.dialogs == [] and watch.errors == []


def _signed_in(browser: Any, url: str, name: str) -> tuple[Any, Any, Watch]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    page.goto(url)
    assert "/name" in page.url  # the name is asked once ...
    page.fill("input[name=name]", name)
    page.click("#save-name")
    assert page.url.endswith("/")
    page.goto(url.split("?")[0])  # ... and kept in a cookie, with the token
    assert page.locator("#students").count() == 1
    return context, page, watch


def _students(page: Any) -> list[str]:
    return [str(s) for s in page.locator("#students tbody tr[data-student]").evaluate_all("rows => rows.map(r => r.dataset.student)")]


def _card(page: Any, check: str) -> Any:
    return page.locator(f"div.card[id='check-{check}']")


def test_token_name_filters_override_comment_similarity_and_screenshots(browser: Any, server: str, graded: tuple[Path, Path]) -> None:
    _, out = graded
    context, page, watch = _signed_in(browser, server, "Ana")
    assert set(_students(page)) == {"s1", "s2", "s3", HOSTILE}
    assert page.locator(f"tr[data-student='{HOSTILE}'] a").inner_text() == HOSTILE  # the name is text

    page.select_option("select[name=check]", "numpy.relu.backward")
    page.click("#apply-filters")
    assert _students(page) == ["s2"]
    page.select_option("select[name=check]", "")
    page.select_option("select[name=show]", "flagged")
    page.click("#apply-filters")
    assert {"s1", "s2", "s3"} <= set(_students(page))

    page.goto(server.split("?")[0] + "student/s2")
    relu = _card(page, "numpy.relu.backward")
    relu.locator("input[name=points]").fill("8")
    relu.locator("form.override input[name=reason]").fill("mask is right; the 0 came from a transposed test input")
    relu.locator("form.override button").click()
    assert page.locator("#saved").is_visible()
    assert page.locator("#total").inner_text().startswith("18")
    matmul = _card(page, "numpy.matmul.backward")
    matmul.locator("input[name=points]").fill("9")
    matmul.locator("form.override input[name=reason]").fill("STAFF-SECRET-REASON")
    matmul.locator("form.override select[name=visibility]").select_option("staff")
    matmul.locator("form.override button").click()
    assert page.locator("#total").inner_text().startswith("17")

    first_relu_line = page.locator("table.code tr").filter(has_text="class Relu").first
    first_relu_line.locator("summary").click()
    first_relu_line.locator("input[name=text]").fill(f"look here {SCRIPT}{IMG}")
    first_relu_line.locator("button").click()
    line = page.locator("table.code tr").filter(has_text="class Relu").first
    line.locator("summary").click()
    line.locator("input[name=text]").fill("STAFF-SECRET-COMMENT")
    line.locator("select[name=visibility]").select_option("staff")
    line.locator("button").click()
    assert page.locator("table.code div.comment").filter(has_text=f"look here {SCRIPT}{IMG}").count() == 1
    assert page.locator("#history tbody tr").count() == 4
    page.click("#toggle-reviewed")
    _assert_nothing_ran(page, watch)
    page.set_viewport_size({"width": 1100, "height": 1900})  # the override and the first lines of code
    page.screenshot(path=str(DOCS / "review-student.png"), full_page=False)
    page.set_viewport_size({"width": 1100, "height": 900})

    page.goto(server.split("?")[0] + "similarity")
    pair = page.locator("div.card[data-pair='s1|s3']").first
    pair.locator("input[value=copied]").check()
    pair.locator("input[name=note]").fill("STAFF-SECRET-NOTE")
    pair.locator("button").click()
    assert "STAFF-SECRET-NOTE" in page.locator("div.card[data-pair='s1|s3']").first.inner_text()

    page.goto(server.split("?")[0])
    row = page.locator("tr[data-student=s2]")
    assert "reviewed" in row.inner_text() and row.locator("td").nth(1).inner_text().startswith("17")
    page.select_option("select[name=show]", "unreviewed")
    page.click("#apply-filters")
    assert "s2" not in _students(page)
    page.goto(server.split("?")[0])
    assert "grade " in page.locator("#stale-exports").inner_text()  # canvas.csv still has the old totals
    page.screenshot(path=str(DOCS / "review-class.png"), full_page=False)

    page.goto(server.split("?")[0] + "student/" + page.evaluate("n => encodeURIComponent(n)", HOSTILE))
    assert page.locator("h1").inner_text().startswith(HOSTILE)
    assert page.locator("table.code").filter(has_text=SCRIPT).count() == 1  # the code, as text
    page.goto(server.split("?")[0] + "student/" + page.evaluate("n => encodeURIComponent(n)", HOSTILE) + "/files/report.html")
    _assert_nothing_ran(page, watch)
    context.close()

    store = ReviewStore(out)
    try:
        assert [(o.check_id, o.points, o.staff_only) for o in store.overrides("s2")] == [
            ("numpy.matmul.backward", 9.0, True), ("numpy.relu.backward", 8.0, False)]
        assert [c.author for c in store.comments("s2")] == ["Ana", "Ana"]
        assert store.state("s2").reviewed
        assert store.decisions()[("numpy", "s1", "s3")].decision == "copied"
    finally:
        store.close()


def test_bad_input_is_refused_with_a_clear_error_and_nothing_stored(browser: Any, server: str, graded: tuple[Path, Path]) -> None:
    _, out = graded
    base = server.split("?")[0]
    before = _history_count(out)
    context, page, _ = _signed_in(browser, server, "Bo")
    page.goto(base + "student/s1")
    card = _card(page, "numpy.relu.backward")
    card.locator("input[name=points]").fill("11")
    card.locator("form.override input[name=reason]").fill("too many")
    card.locator("form.override button").click()
    assert "outside 0 to 10" in page.locator("#error").inner_text()
    page.goto(base + "student/s1")
    card = _card(page, "numpy.relu.backward")
    card.locator("input[name=points]").fill("5")
    card.locator("form.override button").click()  # no reason
    assert "needs a reason" in page.locator("#error").inner_text()

    page.goto(base + "student/s1")
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    version = page.locator("input[name=version]").first.get_attribute("value")
    form = {"csrf": csrf, "version": version, "check": "numpy.relu.backward", "points": "5", "reason": "r"}
    unknown_student = context.request.post(base + "student/nobody/override", form=form)
    assert unknown_student.status == 400 and "No graded student nobody" in unknown_student.text()
    unknown_check = context.request.post(base + "student/s1/override", form=form | {"check": "numpy.nope"})
    assert unknown_check.status == 400 and "has no check numpy.nope" in unknown_check.text()
    wrong_csrf = context.request.post(base + "student/s1/override", form=form | {"csrf": "0" * 64})
    assert wrong_csrf.status == 403 and "security token" in wrong_csrf.text()
    stranger = browser.new_context()
    no_token = stranger.request.post(base + "student/s1/override", form=form)
    assert no_token.status == 403 and "access token" in no_token.text()
    assert stranger.request.get(base).status == 403
    stranger.close()
    context.close()
    assert _history_count(out) == before


def _history_count(out: Path) -> int:
    store = ReviewStore(out)
    try:
        return len(store.history())
    finally:
        store.close()


def test_two_tas_on_one_student_at_once_the_stale_form_is_refused(browser: Any, server: str, graded: tuple[Path, Path]) -> None:
    _, out = graded
    base = server.split("?")[0]
    first, page_a, _ = _signed_in(browser, server, "Ana")
    second, page_b, _ = _signed_in(browser, server, "Bo")
    page_a.goto(base + "student/s3")
    page_b.goto(base + "student/s3")
    for page, points, reason in ((page_a, "4", "Ana's reason"), (page_b, "6", "Bo's reason")):
        card = _card(page, "numpy.relu.backward")
        card.locator("input[name=points]").fill(points)
        card.locator("form.override input[name=reason]").fill(reason)
        card.locator("form.override button").click()
    assert page_a.locator("#saved").is_visible()
    assert "Ana changed this" in page_b.locator("#error").inner_text()
    store = ReviewStore(out)
    try:
        assert [(o.points, o.author) for o in store.overrides("s3")] == [(4.0, "Ana")]
    finally:
        store.close()
    first.close()
    second.close()


def test_regrade_with_force_and_a_resubmission_keep_every_decision(browser: Any, server: str, graded: tuple[Path, Path],
                                                                    mnist_dir: Path) -> None:
    klass, out = graded
    base = server.split("?")[0]
    resubmit_fixed(klass, "s2")  # s2's ReLU now passes: the verdict under the override changed
    done = _grade(klass, out, mnist_dir, "--force", "--similarity")
    assert done.returncode == 0, done.stderr

    context, page, watch = _signed_in(browser, server, "Ana")
    row = page.locator("tr[data-student=s2]")
    assert "needs another look" in row.inner_text() and "reviewed" in row.inner_text()
    page.goto(base + "student/s2")
    assert _card(page, "numpy.relu.backward").locator(".points").inner_text().startswith("8 / 10")
    history = page.locator("#history").inner_text()
    assert "failed 0/10" in history and "passed 10/10" in history  # both verdicts
    page.goto(base + "similarity")
    assert "STAFF-SECRET-NOTE" in page.locator("div.card[data-pair='s1|s3']").first.inner_text()

    page.goto(base)
    assert page.locator("h2").filter(has_text="Exports").count() == 1
    assert page.locator("#stale-exports").count() == 0  # the regrade wrote the exports with the final points
    with page.expect_download() as download:
        page.click("a[href='/files/canvas.csv']")
    canvas = Path(download.value.path()).read_text(encoding="utf-8")
    scores = {row[0]: row[-1] for row in csv.reader(io.StringIO(canvas))}
    assert scores["s2"] == "17"  # 8 (override) + 9 (staff-only override) of 20, on the rubric's 20 points
    _assert_nothing_ran(page, watch)
    context.close()

    for path in out.rglob("*"):
        if path.is_file() and not path.name.startswith("gradebook.sqlite"):
            content = path.read_bytes().decode("utf-8", errors="replace")
            for secret in STAFF_SECRETS:
                assert secret not in content, f"{secret} in {path}"
    report = (out / "s2" / "report.html").read_text(encoding="utf-8")
    assert "Adjusted by staff: mask is right" in report and "Staff comment: look here &lt;script&gt;" in report


def test_the_pages_render_in_chinese_when_the_ta_picks_it(browser: Any, server: str) -> None:
    context, page, watch = _signed_in(browser, server, "李老师")
    page.select_option("select[name=lang]", "zh")
    page.click("nav button")
    assert page.locator("h1").inner_text() == "全班复核"
    assert "复核人：李老师" in page.locator("nav").inner_text()
    page.goto(server.split("?")[0] + "student/s2")
    assert "修改历史" in page.inner_text("body")
    _assert_nothing_ran(page, watch)
    context.close()
