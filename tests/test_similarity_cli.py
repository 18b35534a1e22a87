"""`grade CLASS --similarity [--template DIR] [--known-solutions DIR]` end to end, on a class folder and a class zip.

The class is eight students of tests/similarity_corpus.py: three honest ones, two
originals with a disguised copy each (numpy part renamed; framework part in every
disguise), and a copy of a published answer.  Grading runs one cheap check
(`--only numpy.relu.backward`); what is asserted is the similarity output, that
no score changed, and that the finding reaches no page a student sees.
"""

from __future__ import annotations

import csv
import json
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from grader.gradebook_db import Gradebook
from grader.reports.gradescope import gradescope_results
from grader.reports.similarity import STAFF_KEY

from .conftest import CliRun
from .similarity_corpus import Corpus, build_class, template_files, write_folder, write_student

pytestmark = pytest.mark.slow
ONLY = ("--only", "numpy.relu.backward")
CLASS = ("orig_a", "copy_rename", "orig_d", "copy_everything", "copy_known_numpy2")
FLAGGED = {("numpy", "copy_rename", "orig_a"), ("framework", "copy_everything", "orig_d"),
           ("numpy", "copy_known_numpy2", "known:csdn_answer.md")}
WORDS = ("similar", "known:", STAFF_KEY, "相似")
"""Nothing of the finding may appear on a student's page: not the word, not the other student (`others`)."""


def others(student: str) -> tuple[str, ...]:
    """The names a flagged student's pages must not show: whom they were found similar to."""
    return tuple(b if a == student else a for _, a, b in FLAGGED if student in (a, b))


@pytest.fixture(scope="module")
def staff(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(class folder, template folder, known-solutions folder)."""
    root = tmp_path_factory.mktemp("hw4-class")
    corpus: Corpus = build_class(honest=3, seed=11)
    # Honest students first and without a framework part, so that no worker imports a framework for this run.
    students = [replace(s, framework=None) for s in corpus.students[:3]] + [s for s in corpus.students if s.name in CLASS]
    for student in students:
        write_student(student, root / "class")
    return root / "class", write_folder(template_files(), root / "template"), write_folder(corpus.known, root / "known")


@pytest.fixture(scope="module")
def graded(staff: tuple[Path, Path, Path], tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path) -> tuple[Path, CliRun]:
    """The class folder graded once with --similarity, through the CLI."""
    from grader.cli import main
    import contextlib
    import io

    folder, template, known = staff
    out = tmp_path_factory.mktemp("grades")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main([str(folder), "--similarity", "--template", str(template), "--known-solutions", str(known),
                     "--out", str(out), *ONLY, "--mnist", str(mnist_dir), "--no-color"])
    return out, CliRun(code, stdout.getvalue(), "")


def csv_flags(out: Path) -> set[tuple[str, str, str]]:
    with open(out / "similarity.csv", newline="", encoding="utf-8") as fh:
        return {(r["part"], r["student"], r["other"]) for r in csv.DictReader(fh) if r["flagged"] == "true"}


def result_json(out: Path, student: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((out / student / "result.json").read_text(encoding="utf-8"))
    return loaded


def test_class_folder_run_flags_the_copies_in_similarity_csv(graded: tuple[Path, CliRun]) -> None:
    out, run = graded

    assert run.code == 0, run.out
    assert csv_flags(out) == FLAGGED
    assert "flagged: numpy: copy_rename ~ orig_a (1.00)" in run.out.splitlines()


def test_similarity_page_is_linked_from_the_summary(graded: tuple[Path, CliRun]) -> None:
    out, _ = graded
    summary = (out / "summary.html").read_text(encoding="utf-8")
    page = (out / "similarity.html").read_text(encoding="utf-8")

    assert 'href="similarity.html"' in summary and 'href="similarity.html#pair-' in summary
    assert "<script" not in page and 'id="pair-1"' in page
    assert page.count('class="badge flagged"') == 2 * len(FLAGGED)  # in the table and in each pair's heading


def test_flagged_students_result_json_has_the_staff_only_finding_and_no_score_changed(graded: tuple[Path, CliRun]) -> None:
    out, _ = graded
    note = result_json(out, "copy_rename")[STAFF_KEY]

    assert isinstance(note, dict) and [e["other"] for e in note["similarity"]] == ["orig_a"]
    assert STAFF_KEY not in result_json(out, "2105000")
    assert {result_json(out, s)["score"] for s in ("copy_rename", "orig_a", "2105000")} == {10.0}


@pytest.mark.parametrize("student", ["copy_rename", "orig_a", "copy_known_numpy2", "copy_everything"])
def test_the_finding_never_reaches_a_student_facing_page(graded: tuple[Path, CliRun], student: str) -> None:
    out, _ = graded
    report = Gradebook(out).report(student)
    assert report is not None
    pages = {"report.html": (out / student / "report.html").read_text(encoding="utf-8").lower(),
             "Gradescope results.json": json.dumps(gradescope_results(report), ensure_ascii=False).lower()}

    for name, page in pages.items():
        assert [w for w in (*WORDS, *others(student)) if w in page] == [], name


def test_self_check_of_a_flagged_student_says_nothing_of_it_and_refuses_similarity(grade, staff: tuple[Path, Path, Path]) -> None:  # type: ignore[no-untyped-def]
    notebook = next((staff[0] / "copy_rename").iterdir())

    checked = grade("--self-check", notebook, *ONLY)
    refused = grade("--self-check", notebook, "--similarity", *ONLY)

    assert checked.code == 0 and not any(w in checked.out.lower() for w in (*WORDS, "orig_a"))
    assert refused.code == 2 and "--similarity compares the students of a class" in refused.err


def test_class_zip_run_flags_the_same_pairs(grade, staff: tuple[Path, Path, Path], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder, template, known = staff
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, f"hw4-download/{path.relative_to(folder).as_posix()}")

    run = grade(archive, "--similarity", "--template", template, "--known-solutions", known, "--out", tmp_path / "out", *ONLY)

    assert run.code == 0, run.err
    assert csv_flags(tmp_path / "out") == FLAGGED


@pytest.mark.parametrize(("extra", "message"), [
    (("--template", "{template}"), "--template and --known-solutions go with --similarity"),
    (("--similarity", "--known-solutions", "{missing}"), "no such folder"),
    (("--similarity", "--format", "gradescope"), "--similarity compares the students of a class"),
], ids=["template-without-similarity", "missing-known-folder", "gradescope"])
def test_similarity_usage_errors_exit_2_before_grading(grade, staff: tuple[Path, Path, Path], tmp_path: Path,  # type: ignore[no-untyped-def]
                                                       extra: tuple[str, ...], message: str) -> None:
    folder, template, _ = staff
    args = [a.format(template=template, missing=tmp_path / "nowhere") for a in extra]

    run = grade(folder, *args, "--out", tmp_path / "out", *ONLY)

    assert run.code == 2 and message in run.err
    assert not (tmp_path / "out" / "gradebook.sqlite").exists()
