"""Hostile files beside correct ones: each costs only itself, and the class around it is graded.

Every student below hands in the correct `tests/attacks/zz_correct/homework.py` plus one hostile
file (a parser bomb, a JSON bomb, a truncated notebook, a 30 MB source file, bytes in no text
encoding, ...), or a notebook that is hostile only in part.  They are graded as one class with two
correct neighbours, through the `grade` command: the hostile file must be one finding naming it,
the student keeps full marks, the neighbours too, and no grader process is left behind.

The grader's own process must never parse a student's text: `test_grader_process_never_parses_student_text`
grades a submission in-process with `ast.parse`, `compile` and `json.loads` watched.
"""

from __future__ import annotations

import ast
import builtins
import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import numpy as np

from grader.cli import main
from grader.intake import _default_runner, load_submission
from grader.records import Phase, RunError, RunResult
from grader.sandbox.limits import Limits
from grader.sandbox import Job
from grader.intake.worker.task import IntakeParams
from grader.text import Message, Verbatim, msg, render, verbatim

pytestmark = pytest.mark.slow

BASE = (Path(__file__).resolve().parent / "attacks" / "zz_correct" / "homework.py").read_text(encoding="utf-8")
SELECTED = ("numpy.matmul.backward", "numpy.relu.backward", "numpy.softmax.backward", "numpy.log.backward",
            "numpy.model.backward", "framework.model.forward", "framework.model.architecture")
NEIGHBOURS = ("aa_correct", "zz_correct")


def notebook(*cells: str, outputs: list[dict[str, Any]] | None = None) -> str:
    """An nbformat-4 notebook with one code cell per text (the last one carrying `outputs`)."""
    code: list[dict[str, Any]] = [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": c}
                                  for c in cells]
    if outputs is not None:
        code[-1]["outputs"] = outputs
    return json.dumps({"cells": code, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def big_outputs() -> list[dict[str, Any]]:
    """About 100 MB of display output, as a notebook that plotted a lot carries it."""
    return [{"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBORw0KGgo" * 1_000_000}}
            for _ in range(9)]


@dataclass(frozen=True)
class Case:
    """One hostile student: the extra file and what the grader must say about it."""

    file: str
    content: Callable[[], str | bytes]
    finding: str | None
    """A regex an error finding about `file` must match; None: the file is read without error."""
    graded: str = "homework.py"
    """The file the numpy part must be graded from."""


CASES: dict[str, Case] = {
    "deep_unary": Case("extra.py", lambda: "x = " + "not " * 200_000 + "1\n", r"nested too deeply or is far too long"),
    "long_binary_chain": Case("extra.py", lambda: "x = " + " + ".join(["a"] * 300_000) + "\n",
                              r"nested too deeply or is far too long"),
    "nested_calls": Case("extra.py", lambda: "x = " + "f(" * 100_000 + ")" * 100_000 + "\n", r"SyntaxError: too many nested parentheses"),
    "nested_lists": Case("extra.py", lambda: "x = " + "[" * 100_000 + "]" * 100_000 + "\n", r"SyntaxError: too many nested parentheses"),
    "json_bomb_notebook": Case("scratch.ipynb", lambda: "[" * 200_000 + "]" * 200_000, r"not a valid notebook: its JSON is nested too deeply"),
    "truncated_notebook": Case("scratch.ipynb", lambda: notebook(BASE)[:1500], r"not a valid notebook: JSON error at line \d+"),
    "markdown_bomb": Case("notes.md", lambda: "# notes\n\n```python\nx = " + "not " * 200_000 + "1\n```\n",
                          r"nested too deeply or is far too long \(\w+Error\).*\(code block at line 3\)"),
    "source_30mb": Case("extra.py", lambda: "x = 1\n" * 5_000_000, r"extra\.py was left out: it is 28\.6 MiB, over the 16 MiB"),
    "undecodable": Case("extra.py", lambda: b"x = '\xff\xfe\x80\xff'\n" * 10, r"could not decode the file as UTF-8 or GBK"),
    # Hostile in part: the bomb cell is skipped, the notebook's other cells are graded.
    "bomb_cell": Case("homework.ipynb", lambda: notebook(BASE, "y = " + " + ".join(["b"] * 300_000)),
                      r"nested too deeply or is far too long.*\(cell 2\)", graded="homework.ipynb"),
    # Not hostile, only big: 100 MB of outputs in the notebook that holds the code.
    "outputs_100mb": Case("homework.ipynb", lambda: notebook(BASE, outputs=big_outputs()), None, graded="homework.ipynb"),
}


@dataclass(frozen=True)
class ClassRun:
    code: int
    results: dict[str, dict[str, Any]]
    left_running: set[int]


def _forkservers() -> set[int]:
    """Templates (and their bwrap) of pools this process started: other test processes run pools of their own."""
    found = subprocess.run(["pgrep", "-f", f"nn-grader-pool-{os.getpid()}-.*grader.sandbox.forkserver"],
                           capture_output=True, text=True)
    return {int(pid) for pid in found.stdout.split()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path) -> ClassRun:
    root = tmp_path_factory.mktemp("hostile")
    klass, out = root / "class", root / "out"
    for name, case in {**{n: None for n in NEIGHBOURS}, **CASES}.items():
        folder = klass / name
        folder.mkdir(parents=True)
        (folder / "homework.py").write_text(BASE, encoding="utf-8")
        if case is not None:
            content = case.content()
            (folder / case.file).write_bytes(content.encode() if isinstance(content, str) else content)
    before = _forkservers()
    code = main([str(klass), "--out", str(out), "--mnist", str(mnist_dir), "--only", *SELECTED, "--seed", "3",
                 "--jobs", "2", "--no-color"])
    results = {p.name: json.loads((p / "result.json").read_text(encoding="utf-8")) for p in out.iterdir()
               if (p / "result.json").is_file()}
    return ClassRun(code, results, _forkservers() - before)


def _statuses(result: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["status"] for c in result["checks"]}


def test_class_with_hostile_files_is_graded_whole(graded: ClassRun) -> None:
    assert graded.code == 0
    assert sorted(graded.results) == sorted([*NEIGHBOURS, *CASES])


@pytest.mark.parametrize("name", NEIGHBOURS)
def test_correct_neighbours_get_full_marks(graded: ClassRun, name: str) -> None:
    assert _statuses(graded.results[name]) == {check: "passed" for check in SELECTED}


@pytest.mark.parametrize("name", sorted(CASES))
def test_student_beside_a_hostile_file_keeps_full_marks(graded: ClassRun, name: str) -> None:
    result = graded.results[name]
    assert _statuses(result) == {check: "passed" for check in SELECTED}, result["checks"]
    assert result["score"] == result["max_score"] > 0
    assert {p["kind"]: p["file"] for p in result["parts"]}["numpy"] == CASES[name].graded


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_file_is_one_finding_that_names_it(graded: ClassRun, name: str) -> None:
    case = CASES[name]
    errors = [f for f in graded.results[name]["findings"] if f["severity"] == "error"]
    if case.finding is None:
        assert errors == []
        return
    assert len(errors) == 1, errors
    assert errors[0]["file"] == case.file and re.search(case.finding, errors[0]["message"]), errors[0]
    assert "internal grader error" not in errors[0]["message"]


def test_no_grader_process_is_left_running(graded: ClassRun) -> None:
    alive = {pid for pid in graded.left_running if Path(f"/proc/{pid}").exists()}
    assert alive == set()


# --------------------------------------------------------------------------- the grader's own process

MARKER = "NN_GRADER_PARSE_MARKER_5e2a"


@pytest.fixture
def watched_parsers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Record every ast.parse / compile / json.loads of text holding MARKER in this process."""
    calls: list[str] = []

    def watch(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def watched(source: Any, *args: Any, **kwargs: Any) -> Any:
            text = source.decode("utf-8", "replace") if isinstance(source, (bytes, bytearray)) else source
            if isinstance(text, str) and MARKER in text:
                calls.append(name)
            return real(source, *args, **kwargs)

        return watched

    monkeypatch.setattr(ast, "parse", watch("ast.parse", ast.parse))
    monkeypatch.setattr(builtins, "compile", watch("compile", builtins.compile))
    monkeypatch.setattr(json, "loads", watch("json.loads", json.loads))
    yield calls


def test_grader_process_never_parses_student_text(watched_parsers: list[str], tmp_path: Path, mnist_dir: Path) -> None:
    student = tmp_path / "2150001"
    student.mkdir()
    marked = f"# {MARKER}\n{BASE}"
    (student / "homework.py").write_text(marked, encoding="utf-8")
    (student / "scratch.ipynb").write_text(notebook(marked), encoding="utf-8")
    (student / "notes.md").write_text(f"```python\n{marked}```\n", encoding="utf-8")

    code = main([str(student), "--out", str(tmp_path / "out"), "--mnist", str(mnist_dir), "--only", "numpy.relu.backward",
                 "--no-color"])

    assert code == 0
    result = json.loads((tmp_path / "out" / "2150001" / "result.json").read_bytes().decode())
    assert _statuses(result) == {"numpy.relu.backward": "passed"}
    assert watched_parsers == []


def test_the_parser_watch_sees_an_in_process_parse(watched_parsers: list[str]) -> None:
    ast.parse(f"# {MARKER}\nx = 1\n")
    json.loads(json.dumps(MARKER))
    seen = set(watched_parsers)  # ast.parse calls compile itself
    assert seen == {"ast.parse", "compile", "json.loads"}


class FailingOn:
    """A real intake runner, except that any job reading `file` fails as a worker killed by `error` would."""

    def __init__(self, file: str, error: RunError) -> None:
        self.file, self.error = file, error
        self.jobs: list[list[str]] = []
        self.isolation = _default_runner().isolation

    def run(self, job: Job, arrays: dict[str, np.ndarray], limits: Limits, *, phase: Phase) -> RunResult:
        files = job.params_as(IntakeParams).files
        self.jobs.append(list(files))
        if self.file in files:
            return RunResult(job.task_name, error=self.error)
        return _default_runner().run(job, arrays, limits, phase=phase)


@pytest.mark.parametrize(
    ("error", "reason"),
    [(RunError("crash", "intake", msg("sandbox.died", signal="SIGSEGV")), r"the process reading it stopped \(SIGSEGV\)"),
     (RunError("exit", "intake", msg("sandbox.exited", status=1)), r"the process reading it stopped \(status 1\)"),
     (RunError("timeout", "intake", msg("sandbox.timeout", seconds=30.0)), r"reading it took longer than 30 s"),
     (RunError("memory", "intake", msg("sandbox.memory", mib=3072)), r"reading it needed more than 3072 MiB")],
    ids=["crash", "exit", "timeout", "memory"],
)
def test_a_file_that_kills_the_intake_worker_is_left_out_and_the_rest_is_read_alone(tmp_path: Path, error: RunError, reason: str) -> None:
    (tmp_path / "a_bomb.py").write_text("x = 1\n", encoding="utf-8")
    (tmp_path / "homework.py").write_text(BASE, encoding="utf-8")
    runner = FailingOn("a_bomb.py", error)

    submission = load_submission(tmp_path, runner=runner)

    assert runner.jobs == [["a_bomb.py", "homework.py"], ["a_bomb.py"], ["homework.py"]]
    [finding] = [f for f in submission.findings if f.severity == "error"]
    assert finding.file == "a_bomb.py" and re.search(f"a_bomb.py was left out: {reason}", str(finding.message)), finding.message
    assert finding.message.id == "intake.left_out"
    assert submission.numpy_part is not None and submission.numpy_part.file == "homework.py"
    assert submission.framework_part is not None and submission.framework_part.framework == "pytorch"


def test_a_malformed_intake_reply_costs_only_that_file(tmp_path: Path) -> None:
    (tmp_path / "homework.py").write_text(BASE, encoding="utf-8")
    (tmp_path / "odd.py").write_text("x = 1\n", encoding="utf-8")

    class Forging(FailingOn):
        def run(self, job: Job, arrays: dict[str, np.ndarray], limits: Limits, *, phase: Phase) -> RunResult:
            if "odd.py" in job.params_as(IntakeParams).files:
                return RunResult(job.task_name, report='{"files": [{"file": "odd.py", "findings": "not a list"}]}')
            return _default_runner().run(job, arrays, limits, phase=phase)

    submission = load_submission(tmp_path, runner=Forging("odd.py", RunError("crash", "intake", msg("sandbox.template_died"))))

    [finding] = [f for f in submission.findings if f.severity == "error"]
    assert finding.file == "odd.py" and "returned malformed data" in str(finding.message)
    assert submission.numpy_part is not None and submission.numpy_part.file == "homework.py"


def test_links_out_pipes_and_undecodable_names_are_one_finding_each(tmp_path: Path) -> None:
    (tmp_path / "homework.py").write_text(BASE, encoding="utf-8")
    (tmp_path / "secret.py").symlink_to("/etc/passwd")
    (tmp_path / "loop.py").symlink_to("loop.py")
    os.mkfifo(tmp_path / "pipe.py")  # reading it would block the grader forever
    (Path(os.fsdecode(bytes(tmp_path) + b"/\xff\xfe.py"))).write_bytes(b"x = 1\n")

    submission = load_submission(tmp_path)

    errors = {f.file: str(f.message) for f in submission.findings if f.severity == "error"}
    assert sorted(errors) == ["loop.py", "pipe.py", "secret.py", "\ufffd\ufffd.py"]
    assert "link to a file outside the submission" in errors["secret.py"]
    assert "not a regular file" in errors["pipe.py"] and "not valid UTF-8" in errors["\ufffd\ufffd.py"]
    assert submission.numpy_part is not None and submission.numpy_part.file == "homework.py"
    assert all("root:" not in u.source for u in submission.numpy_part.units)


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.finding is not None))
def test_hostile_file_finding_reads_in_chinese(graded: ClassRun, name: str) -> None:
    [error] = [f for f in graded.results[name]["findings"] if f["severity"] == "error"]
    message = Message.model_validate({"id": error["message_id"], "args": error["message_args"]})
    assert str(message) == error["message"]
    chinese = render(message, "zh")
    # Python's and json's own wording is quoted as it is (verbatim): everything else is Chinese.
    prose = render(quotes_blanked(message), "zh")
    assert re.search(r"[\u4e00-\u9fff]", chinese) and not re.search(r"\b[a-z]{3,} [a-z]{3,}\b", prose), chinese


def quotes_blanked(message: Message) -> Message:
    """`message` with every verbatim argument (Python's or the student's own text) emptied, nested ones too."""
    args = {key: quotes_blanked(value) if isinstance(value, Message) else verbatim("") if isinstance(value, Verbatim) else value
            for key, value in message.args.items()}
    return message.model_copy(update={"args": args})
