"""A class graded on a Dask cluster: a real scheduler and single-thread worker processes on loopback.

The class mixes correct, buggy, endless-loop and memory-bomb students, graded with the attack
suite's rubric (5 s gradient timeouts) and two checks each, so every student is cheap.  One
worker finds MNIST itself (GRADER_MNIST_DIR), the other gets the client's copy.  The cluster
runs must give the local run's reports, field for field but for timings; a client killed with
SIGKILL resumes, and a worker killed with SIGKILL mid-task costs nobody.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from grader.checks.builtin import BUILTIN
from grader.cli import main
from grader.gradebook_db import FILENAME
from grader.intake import load_submission
from grader.intake.archive import ArchiveCaps
from grader.text import render, verbatim

from .conftest import CORPUS, REPO, require_or_skip

pytestmark = pytest.mark.slow

ATTACKS = REPO / "tests" / "attacks"
CLASS = {
    "b1": CORPUS / "mutant_relu", "b2": CORPUS / "mutant_matmul", "bomb": ATTACKS / "memory_bomb",
    "c1": ATTACKS / "zz_correct", "c2": CORPUS / "correct_md_torch", "c3": CORPUS / "correct_ipynb_torch",
    "loop": ATTACKS / "loop_in_backward", "syntax": CORPUS / "syntax_error",
}
ARGS = ("--rubric", str(ATTACKS / "rubric.toml"), "--seed", "11", "--only", "numpy.relu.backward", "numpy.matmul.backward")
"""The attack rubric times a gradient check out after 5 s: the endless loop costs 5 s, not 20."""
WAIT_S = 120.0
"""The longest any single wait in this file may take."""
VOLATILE = ("created", "mnist_source")
"""Report fields that differ between any two runs (a worker with the client's MNIST names it so)."""


def _need_distributed() -> None:
    require_or_skip(importlib.util.find_spec("distributed") is not None,
                    "Dask's distributed is not installed: pip install -e '.[cluster]'")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Cluster:
    """A scheduler and named single-thread workers, each a `dask` process of its own."""

    address: str
    logs: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, *args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> None:
        log: IO[bytes] = open(self.logs / f"{name}.log", "wb")
        self.procs[name] = subprocess.Popen([sys.executable, "-m", "dask", *args], cwd=cwd, env=env,
                                            stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def worker(self, name: str, env: dict[str, str], cwd: Path) -> None:
        # --no-nanny: the worker is this very process, so killing it kills the worker (no restart);
        # --death-timeout: a worker whose scheduler is gone exits by itself.
        self.start(name, "worker", self.address, "--name", name, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                   "--memory-limit", "0", "--host", "127.0.0.1", "--death-timeout", "60", env=env, cwd=cwd)

    def stop(self) -> None:
        for name in sorted(self.procs, key=lambda n: n == "scheduler"):  # workers first, then the scheduler
            proc = self.procs[name]
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(encoding="utf-8", errors="replace")[-3000:]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path) -> Iterator[Cluster]:
    """`dask scheduler` and two workers: `own` finds MNIST itself, `sent` has none and gets the client's."""
    _need_distributed()
    from distributed import Client

    logs = tmp_path_factory.mktemp("dask")
    cluster = Cluster(f"tcp://127.0.0.1:{_free_port()}", logs)
    cluster.start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", cluster.address.rsplit(":", 1)[1],
                  "--no-dashboard", "--idle-timeout", "600")
    bare = tmp_path_factory.mktemp("bare-home")  # no ~/.keras, no caches, no ./data: nothing to find
    own = os.environ | {"GRADER_MNIST_DIR": str(mnist_dir)}
    sent = {k: v for k, v in os.environ.items() if k != "GRADER_MNIST_DIR"} | {"HOME": str(bare), "XDG_CACHE_HOME": str(bare)}
    try:
        cluster.worker("own", own, REPO)
        cluster.worker("sent", sent, bare)
        with Client(cluster.address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=WAIT_S)
        yield cluster
    finally:
        cluster.stop()


def make_class(root: Path, students: dict[str, Path]) -> Path:
    root.mkdir(parents=True)
    for student, case in students.items():
        (root / student).mkdir()
        for file in case.iterdir():
            if file.is_file():
                (root / student / file.name).write_bytes(file.read_bytes())
    return root


@pytest.fixture(scope="module")
def klass(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_class(tmp_path_factory.mktemp("cluster") / "class", CLASS)


def stored(out: Path) -> dict[str, tuple[int, dict[str, Any]]]:
    """student -> (run id, report with the volatile fields removed), read from the gradebook."""
    with sqlite3.connect(out / FILENAME) as db:
        rows = db.execute("SELECT student, run_id, report FROM results").fetchall()
    return {student: (run_id, _stable(json.loads(report))) for student, run_id, report in rows}


def _stable(report: dict[str, Any]) -> dict[str, Any]:
    for key in VOLATILE:
        report.pop(key)
    for check in report["checks"]:
        check.pop("duration_s")
        check["evidence"].pop("train_seconds", None)
    return report


@pytest.fixture(scope="module")
def local(klass: Path, mnist_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The class graded on this machine, --jobs 2: the reports every cluster run must reproduce."""
    out = tmp_path_factory.mktemp("local")
    assert main([str(klass), "--out", str(out), "--jobs", "2", *ARGS, "--mnist", str(mnist_dir), "--no-color"]) == 0
    return {student: report for student, (_, report) in stored(out).items()}


def grade_cli(*args: str | Path) -> subprocess.Popen[str]:
    """`grade ARGS` in a process of its own, so that the test can kill it, or kill a worker under it."""
    return subprocess.Popen([sys.executable, "-m", "grader.cli", *map(str, args), "--no-color"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def progress_students(err: str) -> list[str]:
    """The students of the `[3/8] b1  20/20` progress lines, in order: one line per saved result."""
    return [line.split()[1] for line in err.splitlines() if line.startswith("[")]


def test_a_mixed_class_on_the_cluster_gets_the_local_reports(cluster: Cluster, klass: Path, local: dict[str, dict[str, Any]],
                                                               mnist_dir: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main([str(klass), "--out", str(out), "--scheduler", cluster.address, *ARGS, "--mnist", str(mnist_dir), "--no-color"])
    captured = capsys.readouterr()
    assert code == 0, captured.err + cluster.log("own") + cluster.log("sent")
    assert f"grading on {cluster.address}: 2 workers, 2 threads" in captured.out
    assert "MNIST: 1 with their own copy, 1 sent by this client" in captured.out
    got = {student: report for student, (_, report) in stored(out).items()}
    assert got == local
    status = {s: {c["id"]: (c["status"], c["evidence"].get("failure")) for c in r["checks"]} for s, r in got.items()}
    assert status["loop"]["numpy.relu.backward"] == ("error", "timeout")
    assert status["bomb"]["numpy.relu.backward"] == ("error", "memory")
    assert status["b1"]["numpy.relu.backward"][0] == "failed" and status["c2"]["numpy.relu.backward"][0] == "passed"
    assert got["c1"]["submission"] == str(klass / "c1")  # the client's path, not the worker's temporary folder
    assert all((out / s / "report.html").exists() for s in CLASS) and (out / "summary.html").exists()

    dead = f"tcp://127.0.0.1:{_free_port()}"  # an unchanged class is finished without any scheduler
    code = main([str(klass), "--out", str(out), "--scheduler", dead, *ARGS, "--mnist", str(mnist_dir), "--no-color"])
    assert code == 0 and f"{len(CLASS)} unchanged since they were graded" in capsys.readouterr().out


def test_a_client_killed_with_sigkill_resumes_and_grades_every_student_exactly_once(cluster: Cluster, mnist_dir: Path,
                                                                                   tmp_path: Path) -> None:
    # The endless loop keeps the batch running for at least its 5 s timeout, so the kill lands mid-batch.
    students = {f"s{i:02d}": ATTACKS / "zz_correct" for i in range(9)} | {"s99": ATTACKS / "loop_in_backward"}
    klass, out = make_class(tmp_path / "class", students), tmp_path / "out"
    command = (klass, "--out", out, "--scheduler", cluster.address, *ARGS, "--mnist", mnist_dir)
    first = grade_cli(*command)
    try:
        _wait_for(lambda: first.poll() is not None or _count(out) >= 3, "three saved results")
        assert first.poll() is None, f"the batch ended before it could be killed: {first.communicate()[1]}"
        os.kill(first.pid, signal.SIGKILL)
    finally:
        first.wait(WAIT_S)
    graded_first = {s for s, (run, _) in stored(out).items() if run == 1}
    assert 3 <= len(graded_first) < len(students)

    second = grade_cli(*command)
    _, err = second.communicate(timeout=WAIT_S)
    assert second.returncode == 0, err
    final = stored(out)
    assert set(final) == set(students)
    assert {s for s, (run, _) in final.items() if run == 1} == graded_first  # not graded again
    assert sorted(progress_students(err)) == sorted(set(students) - graded_first)


def test_a_worker_killed_mid_task_costs_nobody(cluster: Cluster, klass: Path, local: dict[str, dict[str, Any]],
                                               mnist_dir: Path, tmp_path: Path) -> None:
    from distributed import Client

    out = tmp_path / "out"
    run = grade_cli(klass, "--out", out, "--scheduler", cluster.address, *ARGS, "--mnist", mnist_dir)
    try:
        with Client(cluster.address, timeout=30, set_as_default=False) as client:
            victim = _wait_for(lambda: _worker_running(client, "-loop"), "the endless-loop student on a worker")
            pid = cluster.procs[victim].pid
            cluster.procs[victim].send_signal(signal.SIGKILL)  # mid-task: the loop runs for 5 s
        _, err = run.communicate(timeout=WAIT_S)
    finally:
        run.kill()
    assert run.returncode == 0, err + cluster.log(victim)
    got = stored(out)
    assert {student: report for student, (_, report) in got.items()} == local
    assert {run_id for run_id, _ in got.values()} == {1}
    assert sorted(progress_students(err)) == sorted(CLASS)  # each student saved exactly once
    time.sleep(0.5)  # the killed worker's templates die with it (--die-with-parent, PR_SET_PDEATHSIG)
    left = subprocess.run(["pgrep", "-af", f"nn-grader-pool-{pid}-"], capture_output=True, text=True).stdout
    assert not [line for line in left.splitlines() if "pgrep" not in line], left


def _worker_running(client: Any, key_suffix: str) -> str | None:
    """The name of the worker processing a task whose key ends with `key_suffix`, if one is."""
    names = {addr: info["name"] for addr, info in client.scheduler_info()["workers"].items()}
    for addr, keys in client.processing().items():
        if any(str(key).endswith(key_suffix) for key in keys):
            return str(names[addr])
    return None


def _wait_for(found: Any, what: str) -> Any:
    """Poll `found()` every 50 ms until it returns something truthy; fail after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {WAIT_S:g} s waiting for {what}")


def _count(out: Path) -> int:
    try:
        with sqlite3.connect(out / FILENAME, timeout=1) as db:
            return int(db.execute("SELECT COUNT(*) FROM results").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_an_unreachable_scheduler_is_one_line_and_exit_2(klass: Path, mnist_dir: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    _need_distributed()
    dead = f"tcp://127.0.0.1:{_free_port()}"
    code = main([str(klass), "--out", str(tmp_path), "--scheduler", dead, *ARGS, "--mnist", str(mnist_dir), "--no-color"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith(f"UsageError: cannot reach the Dask scheduler at {dead} (") and "\n" not in err, err
    assert err.endswith("start it with `dask scheduler`, or fix --scheduler / GRADER_SCHEDULER")


def test_a_submission_reaches_the_worker_with_the_findings_a_local_run_writes(tmp_path: Path) -> None:
    from grader.cluster.payload import pack_submission, unpack_student

    sub = tmp_path / "2151131"
    (sub / ".ipynb_checkpoints").mkdir(parents=True)
    (sub / "hw.py").write_bytes((CORPUS / "correct_md_torch" / "report.md").read_bytes())
    (sub / ".ipynb_checkpoints" / "hw-checkpoint.py").write_text("x = 1\n", encoding="utf-8")
    (tmp_path / "secret.py").write_text("STAFF = 1\n", encoding="utf-8")
    (sub / "outside.py").symlink_to(tmp_path / "secret.py")
    os.mkfifo(sub / "pipe.py")
    with open(sub / "huge.md", "wb") as fh:
        fh.truncate(17 << 20)  # over intake's 16 MiB for a .md file, sparse
    packed = pack_submission(sub)
    with zipfile.ZipFile(io.BytesIO(packed.data)) as zf:
        assert sorted(zf.namelist()) == [".ipynb_checkpoints/hw-checkpoint.py", "hw.py"]  # the secret never travels
    assert {(o.name, o.kind) for o in packed.omitted} == {("outside.py", "link_outside"), ("pipe.py", "not_regular"),
                                                          ("huge.md", "oversize")}
    (tmp_path / "worker").mkdir()
    there = unpack_student(packed.data, tmp_path / "worker", sub.name, packed.omitted)
    here, remote = load_submission(sub), load_submission(there)
    assert remote.findings == here.findings and remote.files == here.files
    assert remote.numpy_part == here.numpy_part


def _zip(path: Path, entries: dict[str, bytes], *, link: str | None = None) -> bytes:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        if link is not None:
            info = zipfile.ZipInfo(link)
            info.external_attr = 0o120777 << 16  # a symbolic link
            zf.writestr(info, "/etc/passwd")
    return path.read_bytes()


@pytest.mark.parametrize(("entries", "link", "refusal"), [
    ({"../evil.py": b"x"}, None, "outside"),
    ({"/etc/evil.py": b"x"}, None, "outside"),
    ({"hw.py": b"x"}, "link.py", "is a symbolic link"),
    ({"bomb.py": bytes(2 << 20)}, None, "unpacks to more than the per-file cap"),
], ids=["dotdot", "absolute", "link", "zip-bomb"])
def test_a_worker_refuses_an_unsafe_submission_zip(tmp_path: Path, entries: dict[str, bytes], link: str | None,
                                                   refusal: str) -> None:
    from grader.cluster.payload import unpack_student
    from grader.errors import UsageError

    data = _zip(tmp_path / "in.zip", entries, link=link)
    (tmp_path / "worker").mkdir()
    with pytest.raises(UsageError, match=refusal):
        unpack_student(data, tmp_path / "worker", "s1", (), ArchiveCaps(max_file_bytes=1 << 20))
    assert not (tmp_path / "evil.py").exists() and not Path("/etc/evil.py").exists()


def test_a_worker_refuses_a_rubric_whose_text_does_not_match_its_hash() -> None:
    _need_distributed()
    from grader.cluster.records import TaskRequest
    from grader.cluster.worker import load_rubric_text
    from grader.errors import RubricError
    from grader.rubric import load_rubric

    loaded = load_rubric(None, BUILTIN)
    text = Path(loaded.path).read_text(encoding="utf-8")
    request = TaskRequest(student="s1", plugin="p", grader_version="0", rubric_toml=text, rubric_sha256=loaded.sha256,
                          rubric_path=loaded.path, seed=0)
    assert load_rubric_text(request).rubric == loaded.rubric
    tampered = request.model_copy(update={"rubric_toml": text.replace("points = 10", "points = 100", 1)})
    with pytest.raises(RubricError, match="does not match its SHA-256"):
        load_rubric_text(tampered)


def test_the_cluster_messages_in_reports_are_translated() -> None:
    from grader.cluster import messages

    english = [
        (messages.worker_died("KilledWorker"),
         "not graded: the Dask workers that took this submission died while grading it (KilledWorker); the next run grades it again"),
        (messages.not_sent("too big"), "not sent to the cluster: too big; grade this submission without --scheduler"),
        (messages.worker_failed("tcp://10.0.0.7:4001", "UsageError: x"),
         "not graded: Dask worker tcp://10.0.0.7:4001 could not grade it (UsageError: x); fix that worker, and the next run grades it again"),
        (messages.bad_reply("tcp://10.0.0.7:4001", "invalid JSON"),
         "not graded: the answer of Dask worker tcp://10.0.0.7:4001 was not a valid report (invalid JSON); the next run grades it again"),
    ]
    for message, text in english:
        assert str(message) == text
        zh = render(message, "zh")
        assert zh.startswith(("未评分", "没有发送到集群")), zh
        # What Dask or the worker said is quoted verbatim; everything else is Chinese.
        blanked = message.model_copy(update={"args": {k: verbatim("") for k in message.args}})
        assert not re.search(r"\b[a-z]{3,} [a-z]{3,}\b", render(blanked, "zh")), zh
