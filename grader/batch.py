"""Grading one submission or a whole class folder, and writing each student's files.

Every submission gets a report, whatever it did: a submission the grader cannot
even load still gets a result.json and report.html that say why.  A class is
graded several submissions at a time (threads sharing one pool of warm workers,
see sandbox/pool.py), and every result goes into the SQLite gradebook
(gradebook_db.py) as soon as it is done; the class outputs are written from it,
with the TAs' overrides applied (decisions/final.py: the final points everywhere).
"""

from __future__ import annotations

import re
import traceback
from importlib import import_module
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from . import __version__
from .errors import DataError, UsageError
from .intake.layout import class_members, is_class_folder
from .gradebook_db import Gradebook, GradeKey, content_hash, options_key
from .identity import refresh_identities, with_identity
from .decisions.final import final_reports
from .outnames import student_folder
from .roster import ClassMember, ClassRoll
from .evidence import ErrorEvidence
from .records import CheckResult, FailureKind, Finding, GradeReport
from .text import Message, msg, verbatim
from .settings import GradeSettings
from .reports import write_gradebook, write_html, write_result_json, write_summary
from .reports.i18n import Lang, text
from .reports.similarity import summary_links, write_similarity_outputs
from .similarity import SimilarityOptions, SimilarityResult, find_similarity
from .reports.course_site import write_site_files
from .reports.xlsx import write_gradebook_xlsx
from .rubric import AdvisoryCheck
from .versions import library_versions

def grade_one(path: Path, settings: GradeSettings, *, out: Path | None, student: str | None = None,
              lang: Lang = "en", identity: ClassMember | None = None) -> GradeReport:
    """Grade one submission and, when `out` is given, write out/<student>/{result.json,report.html} in `lang`.

    `identity` (from the class roll) gives the report the student's name and late mark.
    """
    from .pipeline import grade_submission  # imports PyTorch: paid only when something is graded

    try:
        report = grade_submission(path, settings, student=student)
    except DataError:
        raise  # no student can be graded without MNIST: stop and say how to fix it
    except UsageError as exc:
        report = unreadable_report(student or path.stem, path, msg("intake.not_gradable", error=verbatim(str(exc))), settings,
                                   failure="missing")
    except Exception as exc:  # noqa: BLE001 - a grader bug must not cost the rest of the class their reports
        detail = "".join(traceback.format_exception(exc))
        message = msg("grader.internal_error", error=verbatim(f"{type(exc).__name__}: {exc}"))
        report = unreadable_report(student or path.stem, path, message, settings, detail)
    report = with_renamed_folder(with_identity(report, identity))
    if out is not None:
        write_student_files(report, out, lang=lang)
    return report


@dataclass
class BatchResult:
    """What one batch run did, and the class's current reports (read back from the gradebook)."""

    reports: list[GradeReport]
    """Every student of the class folder that has a stored result, sorted by student."""
    graded: list[str] = field(default_factory=list)
    """Students graded by this run."""
    unchanged: list[str] = field(default_factory=list)
    """Students skipped because their stored result is current."""
    gradebook: Path = Path()
    similarity: SimilarityResult | None = None
    """What `--similarity` found (similarity.csv, similarity.html), when it was asked for."""

    @property
    def errored(self) -> list[GradeReport]:
        """Reports with a check that could not run to a verdict (crash, timeout, unreadable, ...)."""
        return [r for r in self.reports if r.errored]


def grade_class(folder: Path, settings: GradeSettings, *, out: Path, jobs: int = 1, force: bool = False, lang: Lang = "en",
                on_done: Callable[[GradeReport, int, int], None] = lambda report, done, total: None,
                roll: ClassRoll | None = None, similarity: SimilarityOptions | None = None) -> BatchResult:
    """Grade every submission of `folder` that is not graded yet, `jobs` at a time, into `out`.

    Each result is stored in out/gradebook.sqlite the moment it is done, so a run
    that is killed loses only the submissions in progress.  A submission whose
    content, rubric, grader version and check selection match its stored result
    is skipped unless `force`.  `on_done(report, done, total)` is called in this
    thread after each graded submission.  `roll` says who each folder belongs to
    (names, late marks, the roster for missing students and the site's import file).
    `similarity` compares the class's code afterwards (grader/similarity/): staff-only files, no score changes.
    """
    members = class_members(folder)
    book = Gradebook(out)
    try:
        run_id, keys, todo, result = start_class_run(book, folder, members, settings, out=out, force=force, lang=lang, roll=roll)
        if todo:
            # PyTorch's first import, here in this thread: two grading threads importing it at once
            # can see a half-initialised module.
            import_module(".pipeline", __package__)
        with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="grade") as pool:
            futures = {pool.submit(grade_one, sub, settings, out=out, student=sub.name, lang=lang,
                                   identity=roll.member(sub.name) if roll else None): sub for sub in todo}
            try:
                for done, future in enumerate(as_completed(futures), start=1):
                    report = future.result()
                    book.save(report, keys[futures[future].name], run_id)
                    result.graded.append(report.student)
                    on_done(report, done, len(todo))
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)  # Ctrl-C: stop queued students, keep saved ones
                raise
        result.reports = final_reports(book, [sub.name for sub in members])
    finally:
        book.close()
    write_reviewed_files(result.reports, out, lang=lang)
    if similarity is not None:
        result.similarity = find_similarity(result.reports, similarity, settings=settings.rubric.rubric.similarity,
                                            runner=settings.runner, jobs=jobs)
    write_class_outputs(result.reports, out, assignment=settings.rubric.rubric.name, lang=lang, roll=roll,
                        similarity=result.similarity)
    return result


def write_reviewed_files(reports: list[GradeReport], out: Path, *, lang: Lang) -> None:
    """Rewrite the files of the students whose final report a TA changed (an override, a visible comment):
    grading wrote the autograder's own verdict, and a regrade must not undo what people decided."""
    for report in reports:
        if report.adjustments or report.comments:
            write_student_files(report, out, lang=lang)


def start_class_run(book: Gradebook, folder: Path, members: list[Path], settings: GradeSettings, *, out: Path,
                    force: bool, lang: Lang, roll: ClassRoll | None
                    ) -> tuple[int, dict[str, GradeKey], list[Path], BatchResult]:
    """Record a class run in `book` and find what to grade: (run id, each member's key, the members to grade,
    the result so far).  Unchanged members are skipped unless `force`; their identities and files are brought
    up to date from the gradebook.  Shared by local and cluster runs (grader/cluster/client.py)."""
    run_id = book.start_run(str(folder))
    options = options_key(only=sorted(settings.only), self_check=settings.self_check)
    keys = {sub.name: GradeKey(content_hash(sub), settings.rubric.sha256, __version__, options) for sub in members}
    todo = [sub for sub in members if force or not book.is_current(sub.name, keys[sub.name])]
    result = BatchResult(reports=[], unchanged=[s.name for s in members if s not in todo], gradebook=book.path)
    refresh_identities(book, result.unchanged, roll, keys, run_id, write=lambda r: write_student_files(r, out, lang=lang))
    _restore_files(book, result.unchanged, out, lang)
    return run_id, keys, todo, result


def write_class_outputs(reports: list[GradeReport], out: Path, *, assignment: str, lang: Lang = "en",
                        roll: ClassRoll | None = None, similarity: SimilarityResult | None = None) -> None:
    """summary.html, gradebook.csv and .xlsx, and the course site's import file (canvas.csv, moodle.csv),
    from the gradebook's reports; `roll` adds the roster's students without a submission."""
    missing = [(e.student, e.name) for e in roll.missing] if roll else []
    unknown = [m.student for m in roll.unknown] if roll else []
    if similarity is not None:
        write_similarity_outputs(reports, similarity, out, lang=lang)
    write_summary(reports, out / "summary.html", lang=lang, missing=missing, unknown=unknown,
                  similarity=summary_links(similarity) if similarity is not None else None)
    write_gradebook(reports, out / "gradebook.csv", missing=missing)
    write_gradebook_xlsx(reports, out / "gradebook.xlsx", lang=lang, missing=missing)
    points = max((r.max_score for r in reports), default=0.0)
    if points > 0:
        write_site_files(reports, out, roll=roll, assignment=assignment, points_possible=points)


def _restore_files(book: Gradebook, students: list[str], out: Path, lang: Lang) -> None:
    """An unchanged student whose report files were deleted, or are in another language, gets them
    again from the gradebook (no regrading)."""
    for student in students:
        html = out / student_folder(student) / "report.html"
        if not (out / student_folder(student) / "result.json").exists() or html_lang(html) != text(lang, "html_lang"):
            report = book.report(student)
            if report is not None:
                write_student_files(report, out, lang=lang)


def html_lang(path: Path) -> str | None:
    """The lang attribute of a report page, read from its first bytes; None when unreadable."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            head = fh.read(2000)
    except OSError:
        return None
    match = re.search(r'<html lang="([^"]+)"', head)
    return match.group(1) if match else None


def with_renamed_folder(report: GradeReport) -> GradeReport:
    """`report` with a finding naming its folder under --out, when the student's name had to be made safe
    (outnames.py: a class file's name, a dot-name, CON, too long)."""
    folder = student_folder(report.student)
    if folder == report.student:
        return report
    finding = Finding(severity="info", file=report.student,
                      message=msg("grader.folder_renamed", student=verbatim(report.student), folder=verbatim(folder)))
    return report.model_copy(update={"findings": (*report.findings, finding)})


def write_student_files(report: GradeReport, out: Path, *, lang: Lang = "en") -> None:
    """out/<student folder>/{result.json,report.html}, each replaced atomically (see outnames.student_folder)."""
    folder = out / student_folder(report.student)
    folder.mkdir(parents=True, exist_ok=True)
    write_result_json(report, folder / "result.json")
    write_html(report, folder / "report.html", lang=lang)


def unreadable_report(student: str, path: Path, message: Message, settings: GradeSettings, detail: str = "",
                      failure: FailureKind = "internal") -> GradeReport:
    """A report for a submission that could not be graded at all: every check errored, with the reason."""
    rubric = settings.rubric.rubric
    checks = []
    for check_id in rubric.checks.ids():
        spec = rubric.checks.get(check_id)
        if settings.self_check and spec.visibility != "public":
            continue
        checks.append(CheckResult(id=check_id, status="error", score=0.0, max_score=spec.points, message=message,
                                  visibility=spec.visibility, advisory=isinstance(spec, AdvisoryCheck),
                                  evidence=ErrorEvidence(failure=failure, detail=detail)))
    return GradeReport(
        student=student, submission=str(path),
        checks=tuple(checks), rubric_name=rubric.name, rubric_hash=settings.rubric.sha256[:12], grader_version=__version__,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"), self_check=settings.self_check,
        versions=library_versions(),
    )
