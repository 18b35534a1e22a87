"""The `grade` command end to end: real submissions, real workers, real MNIST."""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from grader.batch import is_class_folder
from grader.cli import main

from .conftest import CORPUS, REPO

pytestmark = pytest.mark.slow

ALL_CHECKS = [
    "numpy.matmul.backward",
    "numpy.relu.backward",
    "numpy.softmax.backward",
    "numpy.log.backward",
    "numpy.softmax.stability",
    "numpy.model.backward",
    "numpy.model.train",
    "framework.model.forward",
    "framework.model.architecture",
    "framework.model.train",
]
NO_FRAMEWORK = {f"framework.model.{c}": "skipped" for c in ("forward", "architecture", "train")}

# Every corpus case: the checks that must NOT pass, with their status.  Every other check must pass.
EXPECTED: dict[str, dict[str, str]] = {
    "correct_md_torch": {},
    "correct_py_tf": {},
    "correct_ipynb_torch": {},
    "torch_mutant_no_relu": {"framework.model.architecture": "failed"},
    "mutant_matmul": {"numpy.matmul.backward": "failed"},
    "mutant_relu": {"numpy.relu.backward": "failed"},
    "mutant_softmax": {"numpy.softmax.backward": "failed"},
    "mutant_log": {"numpy.log.backward": "failed"},
    "model_sign_flip": {"numpy.model.backward": "failed", "numpy.model.train": "failed"},
    "syntax_error": {"numpy.relu.backward": "error"},
    "infinite_loop": {"numpy.relu.backward": "error"},
    "sys_exit_import": {"numpy.log.backward": "error"},
    "numpy_only": NO_FRAMEWORK,
    "missing_classes": {
        "numpy.softmax.backward": "error",
        "numpy.log.backward": "error",
        "numpy.softmax.stability": "error",
        "numpy.model.backward": "error",
        "numpy.model.train": "error",
        **NO_FRAMEWORK,
    },
}


def load_result(out: Path, student: str) -> dict[str, Any]:
    return json.loads((out / student / "result.json").read_text(encoding="utf-8"))


OWN_STEP = "framework.model.own_step"
"""The advisory run of the student's own training step: its verdicts are tests/test_own_training_step.py's."""


def statuses(result: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["status"] for c in result["checks"] if c["id"] != OWN_STEP}


def check(result: dict[str, Any], check_id: str) -> dict[str, Any]:
    return next(c for c in result["checks"] if c["id"] == check_id)


@pytest.fixture(scope="module")
def graded_corpus(tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path) -> tuple[Path, int, str]:
    """Grade the whole corpus once, as a class folder, through the CLI."""
    out = tmp_path_factory.mktemp("grades")
    code = main([str(CORPUS), "--out", str(out), "--mnist", str(mnist_dir), "--no-color"])
    return out, code, ""


def test_example_submission_passes_every_check_and_reports_the_softmax_advisory(grade, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run = grade(REPO / "submissions" / "2151131", "--out", tmp_path)
    assert run.code == 0, run.err
    result = load_result(tmp_path, "2151131")
    assert result["framework"] == "tensorflow"
    assert {k: v for k, v in statuses(result).items() if k != "numpy.softmax.stability"} == {
        k: "passed" for k in ALL_CHECKS if k != "numpy.softmax.stability"
    }
    # Its report holds no training step of its own (report.md shows the model, not the loop): nothing to run.
    assert check(result, OWN_STEP)["status"] == "skipped"
    advisory = check(result, "numpy.softmax.stability")
    assert (advisory["status"], advisory["advisory"], advisory["max_score"]) == ("failed", True, 0)
    assert "subtract the row maximum" in advisory["diagnosis"]
    assert result["score"] == result["max_score"] == 100
    assert (tmp_path / "2151131" / "report.html").read_text(encoding="utf-8").count("numpy.model.train") >= 1
    assert run.out.splitlines()[0] == "2151131: 100 / 100  (framework: tensorflow)"
    assert result["parts"][1]["supplied_imports"] == ["import tensorflow as tf", "from tensorflow.keras import optimizers"]


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_corpus_case_fails_exactly_the_expected_checks(graded_corpus: tuple[Path, int, str], case: str) -> None:
    out, code, _ = graded_corpus
    assert code == 0
    want = {cid: EXPECTED[case].get(cid, "passed") for cid in ALL_CHECKS}
    assert statuses(load_result(out, case)) == want


@pytest.mark.parametrize(
    ("case", "check_id", "diagnosis"),
    [
        ("mutant_matmul", "numpy.matmul.backward", "the sign is flipped"),
        ("mutant_relu", "numpy.relu.backward", "the ReLU mask is missing"),
        ("mutant_softmax", "numpy.softmax.backward", "only the diagonal of the softmax Jacobian is used"),
        ("mutant_log", "numpy.log.backward", "the derivative of log(x) is 1/x, not -1/x^2"),
        ("model_sign_flip", "numpy.model.backward", "the sign is flipped"),
    ],
)
def test_mutant_gets_the_right_diagnosis(graded_corpus: tuple[Path, int, str], case: str, check_id: str, diagnosis: str) -> None:
    result = check(load_result(graded_corpus[0], case), check_id)
    assert result["diagnosis"].startswith(diagnosis)
    assert "entries differ; worst at" in result["message"]


def test_layer_that_failed_its_check_is_replaced_by_the_staff_one_in_model_checks(graded_corpus: tuple[Path, int, str]) -> None:
    model = check(load_result(graded_corpus[0], "mutant_relu"), "numpy.model.backward")
    assert model["evidence"]["reference_layers"] == ["Relu"]
    assert "graded with the staff solution's Relu" in model["message"]


@pytest.mark.parametrize(
    ("case", "check_id", "message_start", "failure"),
    [
        ("infinite_loop", "numpy.relu.backward", "timeout: your code did not finish within 20 s", "timeout"),
        ("sys_exit_import", "numpy.log.backward", "exit: `defining Log (homework.py, line", "exit"),
        ("syntax_error", "numpy.relu.backward", "missing: class `Relu` is not defined in hw4.ipynb", "missing"),
    ],
)
def test_broken_code_errors_with_a_labelled_reason(
    graded_corpus: tuple[Path, int, str], case: str, check_id: str, message_start: str, failure: str
) -> None:
    result = check(load_result(graded_corpus[0], case), check_id)
    assert result["message"].startswith(message_start)
    assert result["evidence"]["failure"] == failure


def test_syntax_error_is_reported_with_file_cell_and_line(graded_corpus: tuple[Path, int, str]) -> None:
    findings = load_result(graded_corpus[0], "syntax_error")["findings"]
    errors = [f for f in findings if f["severity"] == "error"]
    assert len(errors) == 1 and errors[0]["file"] == "hw4.ipynb"
    assert errors[0]["message"].startswith("SyntaxError: ") and "(cell 3)" in errors[0]["message"]


def test_class_folder_writes_every_report_and_a_gradebook(graded_corpus: tuple[Path, int, str]) -> None:
    out = graded_corpus[0]
    with open(out / "gradebook.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["student"] for r in rows) == sorted(EXPECTED)
    assert all((out / case / "report.html").is_file() for case in EXPECTED)
    by_student = {r["student"]: r for r in rows}
    assert by_student["mutant_relu"]["numpy.relu.backward"] == "0"
    assert by_student["correct_md_torch"]["score"] == "100"


def test_self_check_exits_1_and_says_what_failed(grade) -> None:  # type: ignore[no-untyped-def]
    run = grade("--self-check", CORPUS / "mutant_log" / "report.md")
    assert run.code == 1
    fail_line = next(line for line in run.out.splitlines() if "numpy.log.backward" in line)
    assert fail_line.startswith("FAIL")
    assert "the derivative of log(x) is 1/x, not -1/x^2" in run.out


def test_self_check_of_a_correct_notebook_exits_0_and_writes_nothing(grade, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    run = grade("--self-check", CORPUS / "correct_ipynb_torch" / "hw4.ipynb")
    assert run.code == 0, run.out
    assert run.out.count("PASS") == len(ALL_CHECKS)
    assert list(tmp_path.iterdir()) == []


def test_self_check_skips_hidden_checks(grade, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rubric = (REPO / "rubrics" / "default.toml").read_text(encoding="utf-8")
    rubric = rubric.replace('[checks."numpy.model.train"]\n', '[checks."numpy.model.train"]\nvisibility = "hidden"\n')
    rubric = rubric.replace('[checks."framework.model.train"]\n', '[checks."framework.model.train"]\nvisibility = "hidden"\n')
    (tmp_path / "hidden.toml").write_text(rubric, encoding="utf-8")
    run = grade("--self-check", CORPUS / "mutant_relu" / "report.md", "--rubric", tmp_path / "hidden.toml")
    assert run.code == 1
    assert "model.train" not in run.out
    assert "numpy.relu.backward" in run.out


def test_one_submission_file_is_graded_under_its_student_number(grade, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sub = tmp_path / "2151999_report.md"
    shutil.copy(CORPUS / "mutant_matmul" / "report.md", sub)
    run = grade(sub, "--out", tmp_path / "out")
    assert run.code == 0
    assert statuses(load_result(tmp_path / "out", "2151999"))["numpy.matmul.backward"] == "failed"


def test_missing_path_is_a_usage_error(grade, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run = grade(tmp_path / "nope")
    assert run.code == 2
    assert run.err.strip().splitlines() == [f"UsageError: {tmp_path / 'nope'}: no such file or folder; pass a submission folder, .ipynb, .py or .md file, or a class .zip"]


def test_invalid_rubric_exits_2_naming_the_key(grade, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.toml"
    bad.write_text((REPO / "rubrics" / "default.toml").read_text(encoding="utf-8").replace("points = 15", "points = -1", 1), encoding="utf-8")
    run = grade(CORPUS / "correct_md_torch", "--rubric", bad)
    assert run.code == 2
    assert run.err.strip() == f"RubricError: {bad}: checks.numpy.model.backward.points: Input should be greater than or equal to 0, got -1"


def test_unknown_option_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--frobnicate", "x"]) == 2
    assert "unrecognized arguments: --frobnicate" in capsys.readouterr().err


def test_bad_mnist_dir_exits_3_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([str(CORPUS / "correct_md_torch"), "--mnist", str(tmp_path), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 3
    assert err.startswith(f"DataError: --mnist {tmp_path}: missing") and len(err.splitlines()) == 1


def test_tensorflow_part_is_skipped_with_install_hint_when_tensorflow_is_missing(grade, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # what `import tensorflow` sees when it is not installed
    grade(REPO / "submissions" / "2151131", "--out", tmp_path)
    framework = check(load_result(tmp_path, "2151131"), "framework.model.train")
    assert framework["status"] == "skipped"
    assert "pip install 'nn-grader[tensorflow]'" in framework["message"]


@pytest.mark.parametrize(
    ("files", "is_class"),
    [
        (["a/hw.py", "b/hw.ipynb"], True),
        (["README.md", "a/hw.py"], True),
        (["hw.py", "a/hw.py"], False),
        (["report.md", ".ipynb_checkpoints/report.md"], False),
    ],
    ids=["only-folders", "readme-beside-folders", "code-at-top", "checkpoints-only"],
)
def test_class_folder_is_told_from_a_submission_folder(tmp_path: Path, files: list[str], is_class: bool) -> None:
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x = 1\n", encoding="utf-8")
    assert is_class_folder(tmp_path) is is_class


def test_folder_with_other_exercises_grades_the_mnist_notebook_and_says_so(grade, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run = grade(REPO / "submissions" / "2151132", "--out", tmp_path)
    result = load_result(tmp_path, "2151132")
    assert run.code == 0 and result["score"] == result["max_score"]
    assert [(p["kind"], p["file"], p["framework"]) for p in result["parts"]] == [
        ("numpy", "hw4_numpy_and_torch.ipynb", None),
        ("framework", "hw4_numpy_and_torch.ipynb", "pytorch"),
    ]
    skipped = [f["message"] for f in result["findings"] if "skipped for the numpy part" in f["message"]]
    assert any(m.startswith("function_fitting.ipynb: skipped") for m in skipped)
    assert any(m.startswith(".ipynb_checkpoints/hw4_numpy_and_torch-checkpoint.ipynb: skipped") for m in skipped)
    assert "hw4_numpy_and_torch.ipynb" in (tmp_path / "2151132" / "report.html").read_text(encoding="utf-8")


def test_only_pattern_that_matches_no_check_exits_2_naming_it_and_the_ids(grade, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run = grade(CORPUS / "correct_md_torch", "--only", "numpy.*", "nosuch.*", "--out", tmp_path / "out")
    assert run.code == 2
    assert run.err.startswith("UsageError: --only nosuch.*: matches no check;")
    assert "numpy.softmax.stability" in run.err and "numpy.*" not in run.err.split(";")[0]
    assert not (tmp_path / "out").exists()  # refused before grading: no report written
