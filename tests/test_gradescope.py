"""Tests of the Gradescope export: results.json, autograder.zip and its run_autograder script.

`GradescopeResults` below is Gradescope's documented results.json format
("Autograder Specifications") as a pydantic model: every documented key, its
type and its allowed values, and nothing else.  It is stricter than Gradescope
in one way, on purpose: a test may not score more than its max_score (the grader
gives no extra credit), and the top-level score may not exceed the tests' total.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any, Literal, Self

import pytest
from pydantic import BaseModel, ConfigDict, NonNegativeFloat, ValidationError, model_validator

from grader.errors import RubricError, UsageError
from grader.gradescope_autograder import SOURCE_ROOT, build_autograder_zip, main
from grader.evidence import ErrorEvidence, NoEvidence
from grader.records import CheckResult, Finding, GradedPart, GradeReport, Status, Visibility
from grader.reports.gradescope import gradescope_results, write_gradescope_results
from grader.text import verbatim

from .conftest import CORPUS, REPO
from .report_messages import m

GRADE = Path(sys.executable).parent / "grade"
SUBMISSION = CORPUS / "correct_md_torch"
FAST_CHECKS = "numpy.relu.backward numpy.softmax.stability framework.model.forward"
TRACEBACK = "Traceback (most recent call last):\n" + "".join(f"  line {i}\n" for i in range(40)) + "ValueError: boom"

# --------------------------------------------------------------------------- the documented format

GsVisibility = Literal["hidden", "after_due_date", "after_published", "visible"]
GsFormat = Literal["text", "html", "simple_format", "md", "ansi"]


class _Strict(BaseModel):
    # strict: no "10" for 10, no true for 1; a float field still takes a JSON integer.
    model_config = ConfigDict(extra="forbid", strict=True)


class GradescopeTest(_Strict):
    """One entry of `tests`; Gradescope makes every key optional."""

    score: NonNegativeFloat | None = None
    max_score: NonNegativeFloat | None = None
    status: Literal["passed", "failed"] | None = None
    name: str | None = None
    name_format: GsFormat | None = None
    number: str | None = None
    output: str | None = None
    output_format: GsFormat | None = None
    tags: list[str] | None = None
    visibility: GsVisibility | None = None
    extra_data: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _score_within_max(self) -> Self:
        if self.score is not None and self.max_score is not None and self.score > self.max_score:
            raise ValueError(f"test {self.name!r}: score {self.score} > max_score {self.max_score}")
        return self


class LeaderboardEntry(_Strict):
    name: str
    value: float | str
    order: Literal["asc", "desc"] | None = None


class GradescopeResults(_Strict):
    """The whole results.json: a top-level score, or a score on every test, is required."""

    score: NonNegativeFloat | None = None
    execution_time: NonNegativeFloat | None = None
    output: str | None = None
    output_format: GsFormat | None = None
    test_output_format: GsFormat | None = None
    test_name_format: GsFormat | None = None
    visibility: GsVisibility | None = None
    stdout_visibility: GsVisibility | None = None
    extra_data: dict[str, Any] | None = None
    tests: list[GradescopeTest] | None = None
    leaderboard: list[LeaderboardEntry] | None = None

    @model_validator(mode="after")
    def _has_a_score_within_the_total(self) -> Self:
        tests = self.tests or []
        if self.score is None and (not tests or any(test.score is None for test in tests)):
            raise ValueError("no top-level score and not every test has one")
        total = sum(test.max_score or 0 for test in tests)
        if self.score is not None and tests and all(t.max_score is not None for t in tests) and self.score > total:
            raise ValueError(f"score {self.score} > the tests' total max_score {total}")
        return self


def _validate(content: dict[str, Any] | str) -> GradescopeResults:
    __tracebackhide__ = True
    text = content if isinstance(content, str) else json.dumps(content)
    return GradescopeResults.model_validate_json(text)


# --------------------------------------------------------------------------- a report to export


def _check(check_id: str, status: Status, points: float, **changes: Any) -> CheckResult:
    fields: dict[str, Any] = {"id": check_id, "status": status, "score": points if status == "passed" else 0.0,
                              "max_score": points, "message": m("test.check_was", check=check_id, status=status)}
    return CheckResult(**(fields | changes))


def _report(*checks: CheckResult) -> GradeReport:
    checks = checks or (
        _check("numpy.relu.backward", "passed", 10, evidence=NoEvidence(details={"max_rel_err": 1e-16}), duration_s=0.4),
        _check("numpy.matmul.backward", "failed", 10, diagnosis=m("test.looks_transposed", grad="grad_W"),
               evidence=NoEvidence(details={"worst_index": [3, 7], "max_rel_err": math.nan}), duration_s=0.5),
        _check("framework.model.train", "error", 15, evidence=ErrorEvidence(failure="exception", detail=TRACEBACK), duration_s=2.2),
        _check("numpy.model.train", "skipped", 20, message=m("test.no_numpy")),
        _check("numpy.softmax.stability", "failed", 0, advisory=True),
        _check("numpy.model.backward", "passed", 15, visibility="hidden", released=True),
        _check("framework.model.forward", "failed", 5, visibility="hidden"),
    )
    return GradeReport(
        student="2151131", submission="submissions/2151131", checks=checks,
        parts=(GradedPart(kind="numpy", file="hw.ipynb"), GradedPart(kind="framework", file="hw.ipynb", framework="pytorch")),
        findings=(Finding(severity="warning", file="hw.ipynb", line=3, message=m("test.cell_invalid", cell=3)),
                  Finding(severity="info", file="notes.txt", message=m("test.not_code"))),
        grader_version="0.1.0", rubric_name="chap4", rubric_hash="3f2a9c", seed=42,
    )


def _tests_by_name(content: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {test["name"]: test for test in content["tests"]}


# --------------------------------------------------------------------------- the schema itself can fail


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"bogus": 1}, "Extra inputs are not permitted"),
        ({"visibility": "students"}, "visibility"),
        ({"score": "10"}, "score"),
        ({"tests": [{"score": 11, "max_score": 10}]}, "score 11.0 > max_score 10.0"),
        ({"tests": [{"score": 1, "max_score": 1, "status": "error"}]}, "status"),
        ({"tests": [{"score": 1, "max_score": 1, "colour": "red"}]}, "Extra inputs"),
        ({"score": 30, "tests": [{"score": 10, "max_score": 10}]}, "score 30.0 > the tests' total max_score 10.0"),
        ({"score": None, "tests": [{"max_score": 10}]}, "no top-level score"),
    ],
    ids=["extra-key", "bad-visibility", "string-score", "test-over-max", "bad-status", "extra-test-key",
         "total-over-max", "no-score"],
)
def test_schema_rejects_what_gradescope_does_not_document(change: dict[str, Any], match: str) -> None:
    content = {"score": 10, "tests": [{"score": 10, "max_score": 10}]} | change

    with pytest.raises(ValidationError, match=match):
        _validate(content)


# --------------------------------------------------------------------------- results.json content


def test_results_of_every_status_and_visibility_validate_and_add_up() -> None:
    content = gradescope_results(_report())

    results = _validate(content)

    assert results.tests is not None and len(results.tests) == 7
    assert results.score == sum(test.score or 0 for test in results.tests) == 25
    assert [test.number for test in results.tests] == ["1", "2", "3", "4", "5", "6", "7"]


@pytest.mark.parametrize(
    ("name", "status", "score", "max_score"),
    [
        ("numpy.relu.backward", "passed", 10, 10),
        ("numpy.matmul.backward", "failed", 0, 10),
        ("framework.model.train", "failed", 0, 15),
        ("numpy.model.train", "failed", 0, 20),
        ("numpy.softmax.stability (advisory)", "failed", 0, 0),
    ],
    ids=["passed", "failed", "error", "skipped", "advisory"],
)
def test_each_check_becomes_a_test_with_its_points_and_a_passed_or_failed_status(
    name: str, status: str, score: float, max_score: float
) -> None:
    test = _tests_by_name(gradescope_results(_report()))[name]

    assert (test["status"], test["score"], test["max_score"]) == (status, score, max_score)


@pytest.mark.parametrize(
    ("visibility", "released", "want"),
    [("public", False, "visible"), ("hidden", True, "after_published"), ("hidden", False, "hidden")],
    ids=["public", "hidden-released", "hidden-unreleased"],
)
def test_check_visibility_maps_to_gradescope_visibility(visibility: Visibility, released: bool, want: str) -> None:
    report = _report(_check("numpy.log.backward", "passed", 10, visibility=visibility, released=released))

    assert gradescope_results(report)["tests"][0]["visibility"] == want


def test_test_output_has_message_likely_cause_and_evidence_excerpt() -> None:
    output = _tests_by_name(gradescope_results(_report()))["numpy.matmul.backward"]["output"]

    assert output.splitlines() == [
        "numpy.matmul.backward was failed",
        "Likely cause: grad_W looks transposed",
        "",
        "Evidence (excerpt):",
        "  worst_index: [3, 7]",
        '  max_rel_err: "nan"',
    ]


def test_test_output_quotes_student_text_as_it_is_and_adds_the_notes() -> None:
    check = _check("numpy.relu.backward", "failed", 5, message=m("test.raised", where="Relu.forward", error=verbatim("<b>ValueError</b>")),
                   evidence=NoEvidence(notes=(m("test.float32", grad="grad_x"),)))

    output = gradescope_results(_report(check))["tests"][0]["output"]

    assert output.splitlines() == ["`Relu.forward` raised <b>ValueError</b>", "Note: grad_x is float32; float64 keeps more digits"]


def test_skipped_and_error_outputs_say_so_and_quote_the_end_of_a_traceback() -> None:
    tests = _tests_by_name(gradescope_results(_report()))

    assert tests["numpy.model.train"]["output"] == "Not run, no points: no numpy part was found"
    error_lines = tests["framework.model.train"]["output"].splitlines()
    assert error_lines[0] == "Error, no points: framework.model.train was error"
    assert error_lines[-1] == "    ValueError: boom"
    assert "  line 39" in error_lines[-2] and not any("line 10\n" in line for line in error_lines)
    assert len(error_lines) <= 30


@pytest.mark.parametrize(("points", "want"), [(0, True), (2, False)], ids=["no-points", "with-points"])
def test_advisory_output_says_it_is_worth_no_points_only_when_it_is(points: float, want: bool) -> None:
    report = _report(_check("numpy.softmax.stability", "failed", points, advisory=True))

    test = gradescope_results(report)["tests"][0]

    assert test["name"] == "numpy.softmax.stability (advisory)"
    assert ("Advisory: this check is worth no points." in test["output"].splitlines()) is want


def test_evidence_excerpt_clips_long_values_and_counts_the_keys_left_out() -> None:
    evidence = NoEvidence(details={f"key{i}": list(range(100)) for i in range(15)})

    lines = gradescope_results(_report(_check("numpy.log.backward", "failed", 5, evidence=evidence)))["tests"][0]["output"].splitlines()

    excerpt = lines[lines.index("Evidence (excerpt):") + 1 : -1]
    assert len(excerpt) == 12 and all(len(line) <= 170 and line.endswith("...") for line in excerpt)
    assert lines[-1] == "  ... and 3 more"


def test_top_level_output_names_the_graded_parts_and_intake_problems_only() -> None:
    output = gradescope_results(_report())["output"]

    assert output.splitlines() == [
        "Framework: pytorch.",
        "Graded the numpy part from hw.ipynb.",
        "Graded the framework part (pytorch) from hw.ipynb.",
        "Intake warning: hw.ipynb:3: cell 3 is not valid Python; skipped",
    ]


def test_results_keep_the_grader_run_in_extra_data_and_hide_stdout() -> None:
    content = gradescope_results(_report())

    assert content["extra_data"]["seed"] == 42 and content["extra_data"]["rubric"] == {"name": "chap4", "hash": "3f2a9c"}
    assert (content["visibility"], content["stdout_visibility"]) == ("visible", "hidden")
    assert content["execution_time"] == 4  # 0.4 + 0.5 + 2.2 s, rounded up


def test_written_results_are_strict_json(tmp_path: Path) -> None:
    path = tmp_path / "results.json"

    write_gradescope_results(_report(), path)

    content = json.loads(path.read_text(encoding="utf-8"), parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
    assert _validate(content).score == 25


# --------------------------------------------------------------------------- autograder.zip


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_autograder_zip(tmp_path_factory.mktemp("zip") / "autograder.zip", rubric=None)


def _names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def _read(path: Path, name: str) -> str:
    with zipfile.ZipFile(path) as archive:
        return archive.read(name).decode("utf-8")


def _unzip(path: Path, dest: Path) -> Path:
    # zipfile drops permissions; apply them as unzip does on Gradescope.
    with zipfile.ZipFile(path) as archive:
        archive.extractall(dest)
        for info in archive.infolist():
            (dest / info.filename).chmod((info.external_attr >> 16) & 0o777)
    return dest


def test_zip_holds_the_scripts_rubric_and_grader_source_only(autograder_zip: Path) -> None:
    names = _names(autograder_zip)

    assert {"setup.sh", "run_autograder", "rubric.toml", "pyproject.toml", "README.md", "rubrics/default.toml",
            "grader/cli.py", "grader/reports/gradescope.py", "grader/gradescope_files/ensure_results.py",
            "reference/numpy_model.py"} <= set(names)
    assert {name.split("/")[0] for name in names} == {
        "setup.sh", "run_autograder", "rubric.toml", "pyproject.toml", "README.md", "rubrics", "grader", "reference"}
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc") or "/." in name]


def test_zip_scripts_are_executable_and_other_files_are_not(autograder_zip: Path) -> None:
    with zipfile.ZipFile(autograder_zip) as archive:
        modes = {info.filename: (info.external_attr >> 16) & 0o777 for info in archive.infolist()}

    assert (modes.pop("setup.sh"), modes.pop("run_autograder")) == (0o755, 0o755)
    assert set(modes.values()) == {0o644}


def test_zip_bundles_the_chosen_rubric_and_its_total_for_the_crash_report(tmp_path: Path) -> None:
    text = (REPO / "rubrics" / "default.toml").read_text(encoding="utf-8")
    rubric = tmp_path / "short.toml"
    rubric.write_text(text.replace('[checks."numpy.model.train"]\npoints = 20', '[checks."numpy.model.train"]\npoints = 7.5'))

    path = build_autograder_zip(tmp_path / "out" / "autograder.zip", rubric=rubric)

    assert _read(path, "rubric.toml") == rubric.read_text()
    assert 'MAX_SCORE="87.5"' in _read(path, "run_autograder")


def test_zip_build_is_reproducible(tmp_path: Path, autograder_zip: Path) -> None:
    again = build_autograder_zip(tmp_path / "again.zip", rubric=None)

    assert again.read_bytes() == autograder_zip.read_bytes()


def test_zip_build_refuses_an_invalid_rubric_and_writes_nothing(tmp_path: Path) -> None:
    rubric = tmp_path / "bad.toml"
    rubric.write_text('name = "x"\n[checks."numpy.relu.backward"]\npoints = -1\n')

    with pytest.raises(RubricError, match=r"bad.toml: "):
        build_autograder_zip(tmp_path / "autograder.zip", rubric=rubric)
    assert list(tmp_path.iterdir()) == [rubric]


def test_zip_build_refuses_a_folder_that_is_not_the_grader_source(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"build_autograder_zip: .* lacks grader, reference, rubrics, pyproject.toml, README.md"):
        build_autograder_zip(tmp_path / "autograder.zip", rubric=None, source_root=tmp_path)


def test_zip_build_names_a_missing_torch_pin(tmp_path: Path) -> None:
    for name in ("grader", "reference", "rubrics"):
        (tmp_path / name).mkdir()
    (tmp_path / "README.md").write_text("x")
    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["torch>=2"]\n')

    with pytest.raises(UsageError, match=r"pyproject.toml must pin torch exactly once .* found none"):
        build_autograder_zip(tmp_path / "autograder.zip", rubric=None, source_root=tmp_path)


def test_grade_autograder_command_writes_the_zip_or_names_the_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--out", str(tmp_path / "a.zip")]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {tmp_path / 'a.zip'}; upload it")
    assert main(["--out", str(tmp_path / "b.zip"), "--rubric", str(tmp_path / "missing.toml")]) == 2
    assert capsys.readouterr().err.startswith(f"RubricError: {tmp_path / 'missing.toml'}: cannot read the rubric")


# --------------------------------------------------------------------------- setup.sh and run_autograder, statically


@pytest.mark.parametrize("script", ["setup.sh", "run_autograder"])
def test_script_is_valid_bash_with_every_placeholder_filled(autograder_zip: Path, tmp_path: Path, script: str) -> None:
    path = tmp_path / script
    path.write_text(_read(autograder_zip, script))

    assert subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True).stderr == ""
    assert re.findall(r"@[A-Z_]+@", path.read_text()) == []


@pytest.mark.parametrize("script", ["setup.sh", "run_autograder"])
def test_script_uses_only_bundled_files(autograder_zip: Path, script: str) -> None:
    # "$SOURCE" alone is `pip install "$SOURCE"`, which needs pyproject.toml.
    referenced = re.findall(r'"\$SOURCE(?:/([^"$]+))?"', _read(autograder_zip, script))

    assert referenced  # the pattern still finds the references
    assert {name or "pyproject.toml" for name in referenced} <= set(_names(autograder_zip))


def test_setup_installs_the_packages_torch_pin_grader_and_mnist_run_autograder_expects(autograder_zip: Path) -> None:
    setup, run = _read(autograder_zip, "setup.sh"), _read(autograder_zip, "run_autograder")
    pinned = [d for d in tomllib.loads((SOURCE_ROOT / "pyproject.toml").read_text())["project"]["dependencies"] if d.startswith("torch")]

    assert re.search(r"apt-get install .*\bbubblewrap\b.*\bpython3-venv\b", setup)
    assert f'--index-url "$TORCH_INDEX" "{pinned[0]}"' in setup and 'TORCH_INDEX="${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"' in setup
    assert '"$VENV/bin/pip" install "$SOURCE"' in setup and "pyproject.toml" in _names(autograder_zip)
    assert 'VENV="$ROOT/venv"' in setup and 'GRADE="${GRADE:-$ROOT/venv/bin/grade}"' in run
    assert 'MNIST_CACHE="$ROOT/cache"' in setup and "from grader.mnist import load_mnist" in setup
    assert '"$MNIST_CACHE/nn-grader/mnist"' in setup and "$ROOT/cache/nn-grader/mnist" in run


# --------------------------------------------------------------------------- run_autograder, run


@pytest.fixture
def autograder_root(tmp_path: Path, autograder_zip: Path) -> Path:
    """tmp_path laid out as Gradescope's /autograder: source (the zip), submission (files at top level), results."""
    _unzip(autograder_zip, tmp_path / "source")
    shutil.copytree(SUBMISSION, tmp_path / "submission")
    (tmp_path / "results").mkdir()
    return tmp_path


def _run_autograder(root: Path, grade: Path, grade_args: str = "") -> subprocess.CompletedProcess[str]:
    env = os.environ | {"AUTOGRADER_ROOT": str(root), "GRADE": str(grade), "GRADE_ARGS": grade_args,
                        "GRADER_MNIST_DIR": os.environ.get("GRADER_MNIST_DIR", str(REPO.parent / "shared" / "data" / "mnist"))}
    return subprocess.run([str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True, timeout=120)


def _fake_grade(folder: Path, body: str) -> Path:
    path = folder / "fake-grade"
    path.write_text("#!/usr/bin/env bash\n" + body + "\n")
    path.chmod(0o755)
    return path


def test_run_autograder_grades_the_submission_into_valid_results_that_match_result_json(autograder_root: Path) -> None:
    done = _run_autograder(autograder_root, GRADE, f"--only {FAST_CHECKS}")

    assert done.returncode == 0, done.stdout + done.stderr
    results = _validate((autograder_root / "results" / "results.json").read_text(encoding="utf-8"))
    graded = json.loads((autograder_root / "results" / "submission" / "result.json").read_text(encoding="utf-8"))
    assert results.tests is not None
    assert [(t.name, t.score, t.max_score) for t in results.tests] == [
        (c["id"] + (" (advisory)" if c["advisory"] else ""), c["score"], c["max_score"]) for c in graded["checks"]]
    assert [c["id"] for c in graded["checks"]] == FAST_CHECKS.split()
    assert results.score == graded["score"] == 15
    assert "submission: 15 / 15" in (autograder_root / "results" / "grade.log").read_text()


def test_run_autograder_writes_failing_results_with_the_error_when_grade_crashes(autograder_root: Path) -> None:
    grade = _fake_grade(autograder_root, 'echo "DataError: MNIST not found in /nowhere" >&2; exit 3')

    done = _run_autograder(autograder_root, grade)

    assert done.returncode == 0, done.stderr
    results = _validate((autograder_root / "results" / "results.json").read_text(encoding="utf-8"))
    assert results.score == 0 and results.tests is not None
    assert [(t.status, t.score, t.max_score, t.visibility) for t in results.tests] == [("failed", 0, 100, "visible")]
    assert results.output is not None and "exited with status 3" in results.output
    assert results.output.endswith("DataError: MNIST not found in /nowhere")


def test_run_autograder_replaces_a_stale_results_file_when_grade_writes_none(autograder_root: Path) -> None:
    (autograder_root / "results" / "results.json").write_text('{"score": 100}')
    grade = _fake_grade(autograder_root, "echo looked at \"$1\"")

    _run_autograder(autograder_root, grade)

    results = _validate((autograder_root / "results" / "results.json").read_text(encoding="utf-8"))
    assert results.score == 0
    assert results.output is not None and results.output.endswith(f"looked at {autograder_root / 'submission'}")


def test_run_autograder_replaces_a_results_file_gradescope_could_not_read(autograder_root: Path) -> None:
    grade = _fake_grade(autograder_root, 'printf \'{"score": "x"\' > "$AUTOGRADER_ROOT/results/results.json"')

    _run_autograder(autograder_root, grade)

    assert _validate((autograder_root / "results" / "results.json").read_text(encoding="utf-8")).score == 0


def test_run_autograder_passes_the_bundled_rubric_and_gradescope_format(autograder_root: Path) -> None:
    grade = _fake_grade(autograder_root, 'printf "%s\\n" "$@" > "$AUTOGRADER_ROOT/args"; echo \'{"score": 1}\' > "$AUTOGRADER_ROOT/results/results.json"')

    _run_autograder(autograder_root, grade, "--only numpy.*")

    assert (autograder_root / "args").read_text().splitlines() == [
        str(autograder_root / "submission"), "--format", "gradescope", "--out", str(autograder_root / "results"),
        "--rubric", str(autograder_root / "source" / "rubric.toml"), "--no-color", "--only", "numpy.*"]
    assert json.loads((autograder_root / "results" / "results.json").read_text()) == {"score": 1}
