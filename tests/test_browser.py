"""report.html and summary.html in a real browser: headless Chromium driven by Playwright.

Each page is opened from a file:// URL with every other request recorded and
blocked.  A page passes when it requested nothing but itself, logged no console
error, opened no dialog, ran no script, and fits a phone's width without
scrolling sideways.  Screenshots (PNG) go to artifacts/screenshots/ at the
repository root, for a person to look at.

The reports are built directly as `GradeReport` objects (no grading run), so the
whole file takes a few seconds.  It is skipped only when no Chromium binary is
on PATH (`apt-get install chromium`; .ci/run installs it), and in CI (CI=true) it
fails instead.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from grader.evidence import ArrayComparison, Curve, ErrorEvidence, GradientComparison, GradientEvidence, TrainingEvidence
from grader.records import CheckResult, Finding, GradedPart, GradedSource, GradeReport, Location, Status
from grader.reports import write_html, write_summary
from grader.reports.i18n import LANGS, Lang
from grader.text import Message, msg, verbatim

from .conftest import REPO, outline_of, require_or_skip
from .report_messages import m

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = REPO / "artifacts" / "screenshots"
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1000, "height": 900}


@pytest.fixture(scope="module", autouse=True)
def chromium_on_path() -> None:
    """Skip every test here without Chromium, or fail them in CI (a skipif mark could not fail)."""
    require_or_skip(CHROMIUM is not None, "no chromium binary on PATH: apt-get install chromium")


# --------------------------------------------------------------------------- the reports


def _check(check_id: str, status: Status, points: float, message: Message, **extra: Any) -> CheckResult:
    return CheckResult(id=check_id, status=status, score=points if status == "passed" else 0, max_score=points,
                       message=message, **extra)


def _gradient(name: str, wrong: bool) -> GradientComparison:
    expected = [[0.0155, -0.0868, -0.0107, 0.0475, 0.0344], [-0.0364, 0.2154, 0.0161, -0.2106, 0.0155], [-0.0014, 0.0137, -0.0016, -0.0089, 0.0011]]
    got = [[-v if wrong and (i + j) % 2 else v for j, v in enumerate(row)] for i, row in enumerate(expected)]
    rel: list[list[float | str]] = [[2.0 if a != b else 1e-13 for a, b in zip(r1, r2)] for r1, r2 in zip(expected, got)]
    rel[0][0] = "inf" if wrong else rel[0][0]
    compare = ArrayComparison(max_rel_err=2.0 if wrong else 1e-13, mismatched=8 if wrong else 0, total=15, worst_index=(0, 1),
                              expected_at_worst=-0.0868, got_at_worst=0.0868 if wrong else -0.0868)
    return GradientComparison(name=name, vs_autograd=compare, vs_finite_difference=compare, expected_excerpt=expected,
                              got_excerpt=got, rel_err_map=rel, rel_err_tol=1e-6)


SOFTMAX = '''class Softmax:
    """softmax over the last axis"""
    def __init__(self):
        self.mem = {}

    def forward(self, x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        self.mem['out'] = e / e.sum(axis=-1, keepdims=True)
        return self.mem['out']

    def backward(self, grad_y):
        s = self.mem['out']
        # softmax 的导数 s * (1 - s)
        return grad_y * s * (1 - s)
'''
DIAGONAL = m("test.diagonal")
TRAIN: dict[str, Any] = {"threshold": 0.75, "epochs": 10, "batch_size": 100, "lr": 0.003, "optimizer": "sgd", "seed": 0,
                         "train_images": 5000, "test_images": 10000, "train_seconds": 1.3}


def _sources(sources: dict[str, str], origins: dict[str, tuple[str, int]]) -> tuple[GradedSource, ...]:
    return tuple(GradedSource(name=name, source=source, file_label=origins.get(name, ("", 1))[0], line=origins.get(name, ("", 1))[1],
                              outline=outline_of(source)) for name, source in sources.items())


def _report(student: str, checks: tuple[CheckResult, ...], *, sources: dict[str, str] | None = None,
            origins: dict[str, tuple[str, int]] | None = None, **changes: Any) -> GradeReport:
    fields: dict[str, Any] = {
        "student": student, "submission": f"class/{student}", "checks": checks,
        "parts": (GradedPart(kind="numpy", file="hw4.ipynb", definitions=("Matmul", "Relu", "Softmax", "Log", "myModel")),
                  GradedPart(kind="framework", file="hw4.ipynb", framework="pytorch", definitions=("myModel",))),
        "rubric_name": "chap4-simple-nn (default)", "rubric_hash": "463d77922597", "grader_version": "0.1.0",
        "mnist_source": "/data/mnist (IDX)", "created": "2026-11-27T08:00:00+00:00", "seed": 1234,
        "isolation": ("bwrap", "seccomp", "rlimits", "timeout"),
        "versions": {"grader": "0.1.0", "python": "3.11.7", "numpy": "2.4.6", "torch": "2.13.0+cpu"},
    }
    fields |= changes
    fields["sources"] = _sources(sources or {"Softmax": SOFTMAX}, origins or {"Softmax": ("hw4.ipynb [cell 3]", 12)})
    return GradeReport(**fields)


def passing() -> GradeReport:
    curve = Curve(step=tuple(range(0, 500, 25)), loss=tuple(2.3 * math.exp(-i / 6) + 0.2 for i in range(20)),
                  accuracy=tuple(min(0.1 + i * 0.05, 0.93) for i in range(20)))
    return _report("2151131", (
        _check("numpy.softmax.backward", "passed", 10, m("test.layer_passed", name="Softmax"),
               evidence=GradientEvidence(seed=5, gradients=(_gradient("grad_x (unit)", False),))),
        _check("numpy.softmax.stability", "passed", 0, m("test.stable", value=1000), advisory=True),
        _check("numpy.model.train", "passed", 20, m("test.accuracy", accuracy=0.88, epochs=10),
               evidence=TrainingEvidence(**(TRAIN | {"losses": (14.4, 6.9, 3.5, 2.6, 2.1, 1.7, 1.5, 1.3, 1.2, 1.0), "accuracy": 0.88}))),
        _check("framework.model.train", "passed", 15, m("test.accuracy", accuracy=0.941, epochs=5),
               evidence=TrainingEvidence(**(TRAIN | {"epochs": 5, "curve": curve, "losses": (0.57, 0.22, 0.13, 0.08, 0.05),
                                                     "accuracy": 0.941}))),
    ))


def failing() -> GradeReport:
    return _report("softmax_diagonal", (
        _check("numpy.softmax.backward", "failed", 10, m("test.grad_failed", name="Softmax", wrt="x", bad=8, total=15),
               diagnosis=DIAGONAL, evidence=GradientEvidence(seed=5, points=("unit", "typical"), gradients=(_gradient("grad_x (unit)", True),),
                                                             notes=(m("test.float32", grad="grad_x"),))),
        _check("numpy.model.train", "failed", 20, m("test.below", accuracy=0.098, threshold=0.75, epochs=10),
               diagnosis=m("test.diverged", epoch=4),
               evidence=TrainingEvidence(**(TRAIN | {"losses": (2.3, 2.2, 9.7, "nan", "nan", "nan", "nan", "nan", "nan", "nan"),
                                                     "accuracy": 0.098}))),
        _check("framework.model.architecture", "failed", 5, m("test.bias_missing", formula="relu(x W1) W2 + b2"),
               diagnosis=m("test.add_bias", formula="relu(x W1 + b1) W2 + b2"), visibility="hidden", released=True),
        _check("numpy.log.backward", "failed", 10, m("test.secret"), visibility="hidden", diagnosis=m("test.secret")),
    ))


def erroring() -> GradeReport:
    traceback = ('Traceback (most recent call last):\n  File "hw4.ipynb [cell 3]", line 25, in backward\n'
                 "ValueError: operands could not be broadcast together with shapes (3,5) (5,3)")
    return _report("syntax_error", (
        _check("numpy.softmax.backward", "error", 10,
               m("test.raised", where="Softmax.backward",
                 error=verbatim("ValueError: operands could not be broadcast together with shapes (3,5) (5,3)")),
               evidence=ErrorEvidence(failure="exception", phase="backward", detail=traceback,
                                      location=Location(file="hw4.ipynb", cell=3, line=25))),
        _check("numpy.model.train", "error", 20, m("test.timeout", seconds=60), diagnosis=msg("error_hint.timeout"),
               evidence=ErrorEvidence(failure="timeout", phase="train")),
        _check("framework.model.train", "skipped", 15, msg("pipeline.no_framework")),
    ), parts=(GradedPart(kind="numpy", file="hw4.ipynb", definitions=("Matmul", "Relu", "Softmax", "Log", "myModel")),),
        findings=(Finding(severity="error", file="hw4.ipynb", line=16,
                          message=m("test.syntax", error=verbatim("SyntaxError: '(' was never closed"), cell=3)),))


def hostile() -> GradeReport:
    bad = SCRIPT + IMG
    return _report(bad, (
        _check("numpy.softmax.backward", "failed", 10, m("test.raised", where="Softmax.backward", error=verbatim(bad)),
               diagnosis=m("test.student_said", text=verbatim(bad)),
               evidence=GradientEvidence(gradients=(_gradient(f"grad_{bad}", True),), import_warnings=(bad,) * 5,
                                         details={bad: bad, "printed": f"{bad}\n" * 5},
                                         notes=(m("test.student_said", text=verbatim(bad)),))),
        _check("numpy.model.train", "failed", 20, m("test.student_said", text=verbatim(bad)), diagnosis=DIAGONAL,
               evidence=TrainingEvidence(**(TRAIN | {"losses": (bad, 1.0, IMG), "accuracy": None, "optimizer": bad,
                                                     "curve": Curve(step=(bad,), loss=(bad,), accuracy=())}))),
    ), submission=bad, sources={"Softmax": f"class Softmax:\n    doc = '{bad}'\n    def backward(self, grad_y):\n        return '{IMG}'\n"},
        origins={"Softmax": (bad, 3)}, findings=(Finding(severity="warning", file=bad, message=m("test.student_said", text=verbatim(bad))),),
        parts=(GradedPart(kind="numpy", file=bad, definitions=(bad,), supplied_imports=(bad,)),), mnist_source=bad)


REPORTS = {"passing": passing, "failing": failing, "erroring": erroring, "hostile": hostile}


# --------------------------------------------------------------------------- the browser


@dataclass
class Visit:
    """What a page did in the browser."""

    url: str
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    scripts: int = 0
    handlers: int = 0
    overflow: int = 0
    """How many CSS pixels the page is wider than the window (sideways scrolling)."""
    h1: str = ""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, Lang], Path]:
    """Every page, in both languages: the four reports as <case>/report.html beside summary.html."""
    written: dict[tuple[str, Lang], Path] = {}
    reports = {case: build() for case, build in REPORTS.items()}
    for lang in LANGS:
        root = tmp_path_factory.mktemp(f"class-{lang}")
        for case, report in reports.items():
            (root / case).mkdir()
            write_html(report, root / case / "report.html", lang=lang)
            written[(case, lang)] = root / case / "report.html"
        write_summary(list(reports.values()), root / "summary.html", lang=lang)
        written[("summary", lang)] = root / "summary.html"
    return written


def visit(browser: Any, path: Path, shot: str, *, viewport: dict[str, int] = DESKTOP, media: str = "screen") -> Visit:
    """Open `path` with every other request blocked; record what happened and save a full-page screenshot."""
    seen = Visit(url=path.as_uri())
    page = browser.new_page(viewport=viewport)
    page.on("request", lambda request: seen.requests.append(request.url))
    page.on("console", lambda message: seen.console_errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: seen.console_errors.append(str(error)))
    def on_dialog(dialog: Any) -> None:
        seen.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.route("**/*", lambda route: route.continue_() if route.request.url == seen.url else route.abort())
    page.emulate_media(media=media)
    page.goto(seen.url, wait_until="load")
    seen.scripts = page.evaluate("document.scripts.length")
    seen.handlers = page.evaluate("document.querySelectorAll('[onerror], [onload], [onclick], [onmouseover]').length")
    seen.overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    seen.h1 = page.inner_text("h1")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)
    page.close()
    return seen


def assert_self_contained(seen: Visit) -> None:
    """Nothing loaded but the page itself, no console error, no dialog, no script, no inline handler."""
    __tracebackhide__ = True
    assert seen.requests == [seen.url]
    assert seen.console_errors == []
    assert seen.dialogs == []
    assert (seen.scripts, seen.handlers) == (0, 0)


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("case", [*REPORTS, "summary"])
def test_page_loads_only_itself_without_errors_or_scripts(browser: Any, pages: dict[tuple[str, Lang], Path], case: str, lang: Lang) -> None:
    seen = visit(browser, pages[(case, lang)], f"{case}-{lang}")

    assert_self_contained(seen)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("case", ["failing", "hostile", "summary"])
def test_page_fits_a_phone_without_sideways_scrolling(browser: Any, pages: dict[tuple[str, Lang], Path], case: str, lang: Lang) -> None:
    seen = visit(browser, pages[(case, lang)], f"{case}-{lang}-phone", viewport=PHONE)

    assert_self_contained(seen)
    assert seen.overflow <= 0


@pytest.mark.parametrize("lang", LANGS)
def test_hostile_name_source_output_and_messages_are_shown_as_text_and_never_run(
    browser: Any, pages: dict[tuple[str, Lang], Path], lang: Lang
) -> None:
    for case in ("hostile", "summary"):
        html = pages[(case, lang)].read_text(encoding="utf-8").lower()
        assert "<script" not in html and "<img" not in html

    seen = visit(browser, pages[("hostile", lang)], f"hostile-{lang}-text")

    assert seen.h1 == SCRIPT + IMG
    assert_self_contained(seen)


def test_failing_report_prints(browser: Any, pages: dict[tuple[str, Lang], Path]) -> None:
    seen = visit(browser, pages[("failing", "zh")], "failing-zh-print", media="print")

    assert_self_contained(seen)
    assert seen.overflow <= 0


# --------------------------------------------------------------------------- similarity.html (issue 13)


class _InProcess:
    """Runs the intake and fingerprinting tasks in this process: the corpus is trusted test text, and this file stays fast."""

    def run(self, job: Any, arrays: dict[str, Any], limits: Any, *, phase: str) -> Any:
        from grader.records import RunResult
        from grader.sandbox.tasks import find
        from grader.sandbox.wire import encode_result
        from grader.sandbox.workspace import Workspace

        task = find(job.task)  # the intake's or the fingerprinting task: both typed
        assert task.run is not None
        report, out = encode_result(task.run(Workspace(job, arrays), job.params))
        return RunResult(job.task_name, arrays=out, report=report)


@pytest.fixture(scope="module")
def similarity_pages(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, Lang], Path]:
    """similarity.html in both languages: a small class with two copies and a published answer copied ("class", the
    README's screenshot), the same with a hostile student name and code ("hostile"), and summary.html linking to it."""
    from dataclasses import replace

    from grader.reports.similarity import summary_links, write_similarity_html
    from grader.rubric import SimilaritySettings
    from grader.similarity import SimilarityOptions, find_similarity

    from .similarity_corpus import as_report, build_class, template_files, write_folder

    corpus = build_class(honest=4, seed=11)
    keep = ("orig_a", "copy_rename", "orig_d", "copy_everything", "copy_known_tf")
    students = [*corpus.students[:4], *(s for s in corpus.students if s.name in keep)]
    original = next(s for s in corpus.students if s.name == "orig_b")
    hostile = replace(original, name=SCRIPT + IMG, numpy=tuple((n, src.replace("'s'", repr(IMG))) for n, src in original.numpy))
    root = tmp_path_factory.mktemp("similarity")
    options = SimilarityOptions(template=write_folder(template_files(), root / "template"), known=write_folder(corpus.known, root / "known"))
    written: dict[tuple[str, Lang], Path] = {}
    for case, members in (("class", students), ("hostile", [*students, original, hostile])):
        result = find_similarity([as_report(s) for s in members], options, settings=SimilaritySettings(), runner=_InProcess())  # type: ignore[arg-type]
        assert len(result.flagged) == {"class": 3, "hostile": 4}[case], result.flagged
        for lang in LANGS:
            written[(case, lang)] = root / case / lang / "similarity.html"
            written[(case, lang)].parent.mkdir(parents=True)
            write_similarity_html(result, written[(case, lang)], lang=lang)
            write_summary([passing(), failing()], written[(case, lang)].parent / "summary.html", lang=lang, similarity=summary_links(result))
    return written


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("case", ["class", "hostile"])
def test_similarity_page_loads_only_itself_and_fits_a_phone(browser: Any, similarity_pages: dict[tuple[str, Lang], Path],
                                                            case: str, lang: Lang) -> None:
    name = "similarity" if case == "class" else "similarity-hostile"

    seen = visit(browser, similarity_pages[(case, lang)], f"{name}-{lang}")
    phone = visit(browser, similarity_pages[(case, lang)], f"{name}-{lang}-phone", viewport=PHONE)

    assert_self_contained(seen)
    assert_self_contained(phone)
    assert phone.overflow <= 0
    assert seen.h1 == ("Code similarity" if lang == "en" else "代码相似度")


@pytest.mark.parametrize("lang", LANGS)
def test_similarity_page_shows_a_hostile_name_and_code_as_text(similarity_pages: dict[tuple[str, Lang], Path], lang: Lang) -> None:
    html = similarity_pages[("hostile", lang)].read_text(encoding="utf-8")

    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(2)&gt;" in html


@pytest.mark.parametrize("lang", LANGS)
def test_summary_links_the_flagged_pairs_and_still_fits_a_phone(browser: Any, similarity_pages: dict[tuple[str, Lang], Path], lang: Lang) -> None:
    summary = similarity_pages[("hostile", lang)].parent / "summary.html"

    seen = visit(browser, summary, f"summary-similarity-{lang}-phone", viewport=PHONE)

    assert_self_contained(seen)
    assert seen.overflow <= 0
    assert summary.read_text(encoding="utf-8").count('href="similarity.html#pair-') == 4
