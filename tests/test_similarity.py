"""Code similarity (grader/similarity/): copies found in every disguise, honest students never flagged.

The class is tests/similarity_corpus.py: 60 template-faithful students with the
usual one-line fills, five students with code of their own, a copy of them for
each disguise, and copies of two published solutions.  It is compared through
the real sandboxed workers, once per method; the reports are built from the
corpus directly (what grading would keep of each student), so no check runs.
"""

from __future__ import annotations

import csv
import importlib.util
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.checks.builtin import BUILTIN
from grader.errors import RubricError, UsageError
from grader.records import RunError, RunResult
from grader.text import msg
from grader.reports.similarity import CSV_COLUMNS, STAFF_KEY, line_ranges, write_similarity_csv, write_staff_notes
from grader.reports.json_ import write_result_json
from grader.rubric import SimilaritySettings, load_rubric
from grader.sandbox.limits import Limits
from grader.sandbox import Job
from grader.sandbox.pool import WarmRunner
from grader.similarity import SimilarityOptions, SimilarityResult, find_similarity, similarity_options
from grader.similarity.worker import TASK as FINGERPRINT
from grader.similarity.tokens import kgram_hashes, python_symbols

from .conftest import require_or_skip
from .similarity_corpus import (
    GRAD_W, GRAD_X, MATMUL_T, RELU_FILLS, RELU_T, Corpus, Student, as_report, build_class, honest_student, put,
    template_files, template_numpy, write_folder,
)

pytestmark = pytest.mark.slow
HONEST = 60


@pytest.fixture(scope="module")
def runner() -> Iterator[WarmRunner]:
    with WarmRunner(3) as pool:
        yield pool


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return build_class(honest=HONEST, seed=7)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory, corpus: Corpus) -> SimilarityOptions:
    root = tmp_path_factory.mktemp("staff")
    return SimilarityOptions(template=write_folder(template_files(), root / "template"), known=write_folder(corpus.known, root / "known"))


@pytest.fixture(scope="module", params=["tokens", "copydetect"])
def found(request: pytest.FixtureRequest, corpus: Corpus, folders: SimilarityOptions, runner: WarmRunner) -> SimilarityResult:
    """The corpus compared with the default rubric settings and the method of the parameter."""
    if request.param == "copydetect":
        require_or_skip(importlib.util.find_spec("copydetect") is not None, "copydetect is not installed: pip install -e '.[test]'")
    settings = SimilaritySettings(method=request.param)
    return find_similarity([as_report(s) for s in corpus.students], folders, settings=settings, runner=runner)


def scores(result: SimilarityResult) -> dict[tuple[str, str, str], float]:
    return {(p.part, p.student, p.other): p.score for p in result.pairs}


def flagged(result: SimilarityResult) -> set[tuple[str, str, str]]:
    return {(p.part, p.student, p.other) for p in result.flagged}


def compare(students: list[Student], runner: WarmRunner, options: SimilarityOptions = SimilarityOptions(),
            **settings: object) -> SimilarityResult:
    return find_similarity([as_report(s) for s in students], options, settings=SimilaritySettings.model_validate(settings), runner=runner)


# --------------------------------------------------------------------------- what must be found, and what must not


def _flag_id(flag: tuple[str, str, str]) -> str:
    return "-".join(flag)


@pytest.mark.parametrize("flag", sorted(build_class(honest=0).flagged), ids=_flag_id)
def test_copy_in_each_disguise_is_flagged_in_its_part(found: SimilarityResult, flag: tuple[str, str, str]) -> None:
    assert flag in flagged(found), f"{flag} scored {scores(found).get(flag, 'below the floor')}"


def test_no_pair_of_independent_students_is_flagged(found: SimilarityResult, corpus: Corpus) -> None:
    assert flagged(found) == corpus.flagged


def test_known_solution_copiers_are_flagged_against_the_solution_file(found: SimilarityResult) -> None:
    known = {(p.student, p.other) for p in found.flagged if p.other.startswith("known:")}

    assert known == {("copy_known_numpy", "known:csdn_answer.md"), ("copy_known_numpy2", "known:csdn_answer.md"),
                     ("copy_known_tf", "known:github_solution.ipynb")}
    assert found.known == ("known:csdn_answer.md", "known:github_solution.ipynb")


def test_a_copy_is_flagged_only_in_the_part_that_was_copied(found: SimilarityResult) -> None:
    parts = {p.part for p in found.flagged if {p.student, p.other} == {"copy_everything", "orig_d"}}

    assert parts == {"framework"}


def test_every_student_is_compared_in_both_parts(found: SimilarityResult, corpus: Corpus) -> None:
    assert found.students == {"numpy": len(corpus.students), "framework": len(corpus.students)}
    assert found.template == ("tutorial_minst_fnn-numpy-exercise.ipynb", "tutorial_minst_fnn-tf2.0-exercise.ipynb")
    assert found.notes == ()


def test_pairs_are_listed_flagged_first_then_by_score(found: SimilarityResult) -> None:
    keys = [(not p.flagged, -p.score) for p in found.pairs]

    assert keys == sorted(keys)
    assert all(found.report_floor <= p.score <= 1 for p in found.pairs)


# --------------------------------------------------------------------------- template, common code, short fills


def _faithful(name: str, grad_x: str, grad_w: str, relu: str) -> Student:
    """A student who filled in the template's three blanks and changed nothing else."""
    numpy = dict(template_numpy())
    numpy["Matmul"] = put(MATMUL_T, fill=f"        {grad_x}\n        {grad_w}")
    numpy["Relu"] = put(RELU_T, fill=f"        {relu}")
    return Student(name, tuple(numpy.items()), None)


def test_two_students_with_the_same_rare_fills_are_not_flagged_even_alone(runner: WarmRunner, folders: SimilarityOptions) -> None:
    # Two students alone: nothing can be common in a class of two; the template and the floor of min_lines protect them.
    same = ("grad_x = grad_y @ W.transpose()", "grad_W = x.transpose() @ grad_y", "grad_x = (self.mem['x'] > 0) * grad_y")
    students = [_faithful("2151001", *same), _faithful("2151002", *same)]

    result = compare(students, runner, SimilarityOptions(template=folders.template), report_floor=0.01, threshold=0.02)

    assert [(p.score, len(p.a.matched), len(p.b.matched)) for p in result.pairs] == [(0.25, 3, 3)]


def test_many_template_faithful_students_are_never_flagged(runner: WarmRunner, folders: SimilarityOptions) -> None:
    students = [_faithful(f"21510{i:02d}", GRAD_X[i % 6], GRAD_W[i // 6 % 6], RELU_FILLS[i % 8]) for i in range(40)]

    everything = compare(students, runner, SimilarityOptions(template=folders.template), report_floor=0.01, threshold=0.02)
    defaults = compare(students, runner, SimilarityOptions(template=folders.template))
    no_template = compare(students, runner)  # the template's code is then common: every student has it

    # Their own lines are the fills, at most four (a two-line ReLU fill): at most 4 of the 12 lines of the floor.
    assert max((p.score for p in everything.pairs), default=0.0) <= 4 / 12
    assert all(len(p.a.matched) <= 4 and len(p.b.matched) <= 4 for p in everything.pairs)
    assert defaults.pairs == ()
    assert no_template.flagged == ()


def test_template_code_is_never_evidence(runner: WarmRunner, folders: SimilarityOptions) -> None:
    blank = Student("2151001", template_numpy(), None)
    students = [blank, replace(blank, name="2151002")]

    assert compare(students, runner, SimilarityOptions(template=folders.template)).pairs == ()
    assert compare(students, runner).flagged != ()  # without the template the blank notebooks are alike


def test_code_most_of_the_class_shares_is_discounted_but_a_pair_still_stands_out(runner: WarmRunner) -> None:
    shared = "def helper(a, b):\n" + "\n".join(f"    c{i} = np.tanh(a * {i}) + np.cos(b - c{i - 1 if i else 0})" for i in range(14)) + "\n    return c13"
    pair = "def odd(q):\n" + "\n".join(f"    q = np.sqrt(np.abs(q)) + np.arctan(q * {i}) / (1 + q ** 2)" for i in range(14)) + "\n    return q"
    import random

    rng = random.Random(3)
    students = [replace(honest_student(f"2151{i:03d}", rng), numpy=(("helper", shared),), framework=None) for i in range(30)]
    students[3] = replace(students[3], numpy=(("helper", shared), ("odd", pair)))
    students[17] = replace(students[17], numpy=(("helper", shared), ("odd", pair)))

    result = compare(students, runner)

    assert flagged(result) == {("numpy", "2151003", "2151017")}


def test_a_published_answer_half_the_class_copied_is_still_evidence_against_it(runner: WarmRunner, tmp_path: Path) -> None:
    import random

    from .similarity_corpus import KNOWN_NUMPY, markdown

    rng = random.Random(5)
    students = [replace(honest_student(f"2151{i:03d}", rng), framework=None) for i in range(20)]
    students[:10] = [replace(s, numpy=KNOWN_NUMPY) for s in students[:10]]
    known = write_folder({"answer.md": markdown([s for _, s in KNOWN_NUMPY])}, tmp_path / "known")

    result = compare(students, runner, SimilarityOptions(known=known))

    assert {p.student for p in result.flagged if p.other == "known:answer.md"} == {s.name for s in students[:10]}
    assert not any(p.other.startswith("2151") for p in result.flagged)  # among themselves their code is common


# --------------------------------------------------------------------------- the tokenizer (trusted text, in-process)


def test_renamed_variables_and_other_comments_give_the_same_symbols() -> None:
    a = "def f(self, grad_y):\n    # the gradient\n    grad_x = np.matmul(grad_y, self.W.T)  # chain rule\n    return grad_x\n"
    b = 'def g(me, dout):\n    """Backward."""\n    dx = np.matmul(dout,\n                   me.weights.T,)\n    return dx'

    assert np.array_equal(python_symbols(a.replace("self", "s")).ids, python_symbols(b.replace("me", "s")).ids)


def test_library_api_and_numbers_are_normalised_as_intended() -> None:
    assert not np.array_equal(python_symbols("y = np.dot(a, b)").ids, python_symbols("y = np.matmul(a, b)").ids)
    assert np.array_equal(python_symbols("h = nn.Linear(784, 128)").ids, python_symbols("k = nn.Linear(784, 100)").ids)
    assert len(python_symbols("'''a docstring'''\n'''计算梯度'''").ids) == 0


def test_kgram_hashes_are_the_same_in_every_process() -> None:
    ids = python_symbols("grad_x = grad_y * (x > 0)").ids

    assert kgram_hashes(ids, 4)[:2].tolist() == kgram_hashes(ids.copy(), 4)[:2].tolist()
    # Fixed values: blake2b ids and the polynomial hash do not depend on PYTHONHASHSEED.
    assert int(kgram_hashes(np.arange(1, 5, dtype=np.uint64), 4)[0]) == _polynomial([1, 2, 3, 4])


def _polynomial(ids: list[int]) -> int:
    h = 0
    for v in ids:
        h = (h * 0x9E3779B97F4A7C15 + v) % 2**64
    return h - 2**64 if h >= 2**63 else h


# --------------------------------------------------------------------------- robustness


def test_a_block_that_cannot_be_tokenised_is_left_out_with_a_note(runner: WarmRunner) -> None:
    import random

    rng = random.Random(1)
    broken = replace(honest_student("2151001", rng), numpy=(("Bad", "class Bad:\n        x = 1\n    y = 2"),))

    result = compare([broken, honest_student("2151002", rng)], runner)

    assert len(result.notes) == 1
    assert result.notes[0].startswith("2151001: Bad (hw4") and "could not be tokenised" in result.notes[0]


class _FailingRunner:
    """The real runner, except that a fingerprinting job holding `poison` fails as a crashed worker would."""

    def __init__(self, runner: WarmRunner, poison: bytes) -> None:
        self.runner, self.poison, self.isolation = runner, poison, runner.isolation

    def run(self, job: Job, arrays: dict[str, np.ndarray], limits: Limits, *, phase: str) -> RunResult:
        if job.task == FINGERPRINT.ref and self.poison in arrays["text"].tobytes():
            return RunResult(job.task_name, error=RunError("crash", "intake", msg("sandbox.died", signal="SIGSEGV")))
        return self.runner.run(job, arrays, limits, phase=phase)  # type: ignore[arg-type]


def test_a_block_that_crashes_its_worker_costs_only_itself(runner: WarmRunner, corpus: Corpus) -> None:
    students = list(corpus.students)
    bomb = replace(students[0], numpy=(*students[0].numpy, ("Bomb", "x = 'POISON'")))
    reports = [as_report(s) for s in [bomb, *students[1:]]]

    result = find_similarity(reports, SimilarityOptions(), settings=SimilaritySettings(), runner=_FailingRunner(runner, b"POISON"))

    assert [n.split(":")[0] for n in result.notes] == [students[0].name]
    assert "tokenizer's worker failed on it (crash: crash: the process running your code died with SIGSEGV)" in result.notes[0]
    assert ("numpy", "copy_rename", "orig_a") in flagged(result)


# --------------------------------------------------------------------------- similarity.csv and the staff note


def test_csv_has_one_row_per_listed_pair_with_the_documented_columns(found: SimilarityResult, tmp_path: Path) -> None:
    write_similarity_csv(found, tmp_path / "similarity.csv")

    with open(tmp_path / "similarity.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))

    assert tuple(rows[0]) == CSV_COLUMNS
    assert [(r[0], r[1], r[2]) for r in rows[1:]] == [(p.part, p.student, p.other) for p in found.pairs]
    assert {(r[0], r[1], r[2]) for r in rows[1:] if r[4] == "true"} == flagged(found)
    assert all(r[4] in ("true", "false") and 0 <= float(r[3]) <= 1 and " | " in r[5] for r in rows[1:])


def test_matched_lines_are_the_students_own_line_numbers(found: SimilarityResult, corpus: Corpus) -> None:
    pair = next(p for p in found.pairs if (p.student, p.other) == ("copy_known_tf", "known:github_solution.ipynb"))
    kept = as_report(next(s for s in corpus.students if s.name == "copy_known_tf")).source("framework:myModel")
    assert kept is not None
    label, first = kept.file_label, kept.line

    # The known solution's model is cell 2 of its notebook; line 1 is `class myModel:`, line 2 `def __init__(self):`.
    assert line_ranges(pair.b).startswith("github_solution.ipynb [cell 2]:3-")
    assert line_ranges(pair.a).startswith(f"{label}:{first + 2}-")


def test_staff_note_goes_into_the_flagged_students_result_json_and_a_stale_one_is_removed(found: SimilarityResult, corpus: Corpus,
                                                                                          tmp_path: Path) -> None:
    reports = [as_report(s) for s in corpus.students]
    honest = next(r for r in reports if r.student == corpus.honest[0])
    (tmp_path / honest.student).mkdir()
    (tmp_path / honest.student / "result.json").write_text(json.dumps({STAFF_KEY: {}}), encoding="utf-8")

    write_staff_notes(reports, found, tmp_path)

    note = json.loads((tmp_path / "copy_rename" / "result.json").read_text(encoding="utf-8"))[STAFF_KEY]
    assert {e["other"] for e in note["similarity"]} == {"orig_a", "copy_reorder"}
    assert all(e["page"].startswith("../similarity.html#pair-") for e in note["similarity"])
    assert STAFF_KEY not in json.loads((tmp_path / honest.student / "result.json").read_text(encoding="utf-8"))
    write_result_json(honest, tmp_path / honest.student / "result.json")


# --------------------------------------------------------------------------- rubric and options


def test_rubric_without_a_similarity_table_gets_the_defaults_and_a_bad_table_is_refused(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[1] / "rubrics" / "default.toml").read_text(encoding="utf-8")
    older, bad = tmp_path / "older.toml", tmp_path / "bad.toml"
    older.write_text(text.split("[similarity]")[0], encoding="utf-8")
    bad.write_text(text.split("[similarity]")[0] + "[similarity]\nthreshold = 0.4\nreport_floor = 0.5\n", encoding="utf-8")

    assert load_rubric(None, BUILTIN).rubric.similarity == load_rubric(older, BUILTIN).rubric.similarity == SimilaritySettings()
    with pytest.raises(RubricError, match="report_floor 0.5 is above threshold 0.4"):
        load_rubric(bad, BUILTIN)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"enabled": False, "template": Path(".")}, "--template and --known-solutions go with --similarity"),
    ({"is_class": False}, "--similarity compares the students of a class"),
    ({"self_check": True}, "--similarity compares the students of a class"),
    ({"scheduler": True}, "without --scheduler and with --similarity"),
    ({"template": Path("/no/such/folder")}, "--template /no/such/folder: no such folder"),
], ids=["template-alone", "one-submission", "self-check", "scheduler", "missing-folder"])
def test_similarity_options_refuse_what_cannot_work_with_the_fix(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"enabled": True, "template": None, "known": None, "is_class": True, "self_check": False,
                               "scheduler": False, "settings": SimilaritySettings()} | kwargs
    with pytest.raises(UsageError, match=message):
        similarity_options(**args)  # type: ignore[arg-type]


def test_grader_process_never_tokenises_or_parses_student_code(runner: WarmRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    import ast
    import builtins

    from grader.similarity import tokens

    marker = "NN_GRADER_SIMILARITY_MARKER_41c7"
    calls: list[str] = []

    def watch(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def watched(source: Any, *args: Any, **kwargs: Any) -> Any:
            if marker in (source.decode("utf-8", "replace") if isinstance(source, bytes) else str(source)):
                calls.append(name)
            return real(source, *args, **kwargs)

        return watched

    for module, name in ((ast, "parse"), (builtins, "compile"), (json, "loads"), (tokens, "python_symbols"),
                         (tokens, "copydetect_symbols"), (tokens, "fingerprint")):
        monkeypatch.setattr(module, name, watch(f"{module.__name__}.{name}", getattr(module, name)))
    import random

    rng = random.Random(2)
    students = [replace(honest_student(f"2151{i:03d}", rng), numpy=(("Odd", f"def odd(q):\n    # {marker}\n    return q"),))
                for i in range(3)]

    result = compare(students, runner)

    assert result.students["numpy"] == 3 and calls == []
    tokens.fingerprint(f"# {marker}\n", method="tokens", k=12, window=1)  # the watch sees an in-process tokenisation
    assert calls == ["grader.similarity.tokens.fingerprint", "grader.similarity.tokens.python_symbols"]
