"""Hostile submissions, graded through the `grade` command: an attack costs its author, never the grader.

Each `tests/attacks/<name>/homework.py` is the correct base (`tests/attacks/zz_correct`) with one
place inside `class Relu` changed; `tests/attacks/README.md` lists them. All attacks but the one
that signals the grader's own process are graded with `zz_correct` in one class batch, under
`tests/attacks/rubric.toml` (8 s per gradient check), and judged from `result.json`.

Some defences exist only with a given isolation layer (`result.json`'s `isolation`, e.g.
["bwrap", "seccomp", "rlimits", "timeout"]). Where an attack succeeded and the layer that stops it
is missing, the test is marked xfail with a reason naming that layer; with the layer present it fails.
In CI (CI=true) the strongest-isolation batch must have every layer, so there a missing layer fails
the test; the forced-fallback batch (GRADER_SANDBOX=rlimits) lacks them by design and still xfails.
"""

from __future__ import annotations

import html
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from grader.checks.builtin import BUILTIN
from grader.cli import main
from grader.rubric import load_rubric

from .conftest import REPO, require_or_skip

pytestmark = pytest.mark.slow

ATTACKS = Path(__file__).resolve().parent / "attacks"
RUBRIC = ATTACKS / "rubric.toml"
CORRECT = "zz_correct"
SELECTED = ("numpy.matmul.backward", "numpy.relu.backward", "numpy.softmax.backward", "numpy.log.backward", "numpy.model.backward")
ATTACKED = "numpy.relu.backward"
BATCH_BUDGET_S = 360.0  # measured ~100 s on 2 idle cores: 27 students x 5 workers, plus 8-s timeouts
HOST_KILLER_BUDGET_S = 120.0

# Graded in a grader process of their own: without a PID namespace they SIGKILL the grader, which
# in the main batch would be this pytest process.
HOST_KILLERS = ("kill_others",)

# Unique per test process, so a concurrent run of the suite cannot be mistaken for a survivor.
RUN_TAG = str(os.getpid())
FORK_MARKER = "3600.4242"
SETSID_MARKER = "600.4343"
LEAK_PORT_LINE = "LEAK_PORT = 0"

HUGE_FILE_NAME = "nn_grader_attack_huge_file.bin"
HUGE_BYTES = 300 << 20
STASH = Path("/tmp/nn_grader_attack_read_reference.txt")


def _outside_markers() -> tuple[Path, ...]:
    """Where `write_outside` tries to leave a file, as seen from the host."""
    name = "nn_grader_escape_marker"
    homes = {Path.home(), Path(pwd.getpwuid(os.getuid()).pw_dir)}
    return (Path("/tmp/nn_grader_attack_marker"), Path(tempfile.gettempdir()) / name, *(h / name for h in homes))


@dataclass(frozen=True)
class Expect:
    """What the grader must report for one attack."""

    relu: frozenset[str]
    """Allowed statuses of numpy.relu.backward, the attacked check."""
    failure: frozenset[str] = frozenset()
    """Allowed `evidence.failure` labels when it errors."""
    diagnosis: str | None = None
    """A regex the diagnosis must match at its start, when the check fails."""
    others: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Allowed statuses of other selected checks; every one not named must pass."""


ERROR = frozenset({"error"})
FAILED = frozenset({"failed"})
PASSED = frozenset({"passed"})
PASSED_OR_ERROR = frozenset({"passed", "error"})
# Every worker executes every definition, so a hang while defining Relu also hangs the other layers' workers.
EXPECTED: dict[str, Expect] = {
    "loop_in_backward": Expect(ERROR, frozenset({"timeout"})),
    # Each layer check loads only the class it needs, so the other layers' checks still pass.
    "sleep_at_import": Expect(ERROR, frozenset({"timeout"})),
    # 200 forks of a worker take 1-3 s on an idle machine and can pass the 8 s wall clock under load: a timeout is fair.
    "fork_bomb": Expect(PASSED_OR_ERROR, frozenset({"timeout"}), others={"numpy.model.backward": PASSED_OR_ERROR}),
    "setsid_escape": Expect(PASSED_OR_ERROR, others={"numpy.model.backward": PASSED_OR_ERROR}),
    "memory_bomb": Expect(ERROR, frozenset({"memory"})),
    "print_flood": Expect(PASSED_OR_ERROR, frozenset({"crash", "exception"})),
    "huge_file": Expect(ERROR, frozenset({"crash", "exception"})),
    "sys_exit_zero_import": Expect(ERROR, frozenset({"exit"})),
    "os_exit_zero_import": Expect(ERROR, frozenset({"exit"})),
    "os_exit_zero_in_backward": Expect(ERROR, frozenset({"exit"})),
    "keyboard_interrupt": Expect(ERROR, frozenset({"exception"})),
    "base_exception": Expect(ERROR, frozenset({"exception"})),
    "segfault": Expect(ERROR, frozenset({"crash"})),
    "ignore_sigterm": Expect(ERROR, frozenset({"timeout"})),
    "monkeypatch_numpy": Expect(FAILED, diagnosis="the ReLU mask is missing"),
    "monkeypatch_torch": Expect(FAILED, diagnosis="the ReLU mask is missing"),
    "lying_subclass": Expect(FAILED, diagnosis="backward returned ndarray, which is not a plain np.ndarray"),
    "nan_gradient": Expect(FAILED, diagnosis=r".*\bNaN\b"),
    "inplace_mutation": Expect(FAILED, diagnosis="forward modified its input in place"),
    "second_call_differs": Expect(FAILED),
    # Passes only when the staff solution could not be read: see test_read_reference_finds_nothing_to_read.
    "read_reference": Expect(frozenset({"passed", "failed"})),
    "write_outside": Expect(PASSED),
    "network": Expect(PASSED_OR_ERROR, others={"numpy.model.backward": PASSED_OR_ERROR}),
    # The template dies with the job; the pool starts a new one for the student's next check.
    "kill_template": Expect(ERROR, frozenset({"crash"})),
    "raise_rlimits_allocate": Expect(ERROR, frozenset({"memory"})),
    # The file-size limit stops the flood; a Relu that survives it may pass.
    "stderr_flood_import": Expect(PASSED_OR_ERROR, frozenset({"crash", "exception"}), others={"numpy.model.backward": PASSED_OR_ERROR}),
    # The report was sent before the threads act: passed, or "exit" when os._exit came first; never "tampered".
    "thread_exit_after": Expect(PASSED_OR_ERROR, frozenset({"exit"}), others={"numpy.model.backward": PASSED_OR_ERROR}),
    # Issue 21: what one job holds is bounded (cgroup.py, scratch.py); the student is told which bound in their terms.
    "fill_every_place": Expect(ERROR, frozenset({"memory"})),
    # Refused by seccomp where no cgroup holds ("forbidden"), else killed by the cgroup ("memory").
    "memfd_buffers": Expect(ERROR, frozenset({"memory", "forbidden"})),
    "many_small_files": Expect(ERROR, frozenset({"memory"})),
    # Under a loaded machine the 8 s wall clock can end the children's fill before the cgroup does: contained either way
    # (test_the_class_took_no_more_memory_or_disk_than_its_jobs_limits measures that it was).
    "fill_in_children": Expect(ERROR, frozenset({"memory", "timeout"})),
}
SCRATCH_MESSAGES = {
    "fill_every_place": "files: your code wrote more than 256 MiB of files",
    "many_small_files": "files: your code made more than 10240 files",  # (in /tmp or the working folder: one tmpfs)
    "memfd_buffers": "memory: your code used more than 1 GiB of memory",
    "fill_in_children": "memory: your code used more than 1 GiB of memory",
}
"""Each containment attack's message, given the layer that holds it (cgroup or scratch)."""
CONTAINED_BY = {"fill_every_place": "scratch", "many_small_files": "scratch", "memfd_buffers": "cgroup", "fill_in_children": "cgroup"}


# --------------------------------------------------------------------------- running the batch


class LeakServer:
    """A TCP server on 127.0.0.1 that records every byte sent to it."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port: int = self._sock.getsockname()[1]
        self.received = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:  # the accept timeout: look at the stop flag again
                continue
            with conn:
                conn.settimeout(2.0)
                try:
                    while chunk := conn.recv(4096):
                        self.received += chunk
                except OSError:
                    pass

    def close(self) -> bytes:
        """Stop serving; everything received."""
        self._stop.set()
        self._thread.join()
        self._sock.close()
        return bytes(self.received)


class HostSampler:
    """Samples the host's MemAvailable (/proc/meminfo) and the free space under `folders` while a batch runs."""

    def __init__(self, folders: Sequence[Path]) -> None:
        self._folders = folders
        self._memory0, self._disk0 = self._memory(), self._disk()
        self.memory_drop = self.disk_drop = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def _memory() -> int:
        with open("/proc/meminfo", encoding="ascii") as fh:
            return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("MemAvailable:"))

    def _disk(self) -> dict[int, int]:
        free = {}
        for folder in self._folders:
            st = os.statvfs(folder)
            free[os.stat(folder).st_dev] = st.f_bavail * st.f_frsize
        return free

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.memory_drop = max(self.memory_drop, self._memory0 - self._memory())
            now = self._disk()
            self.disk_drop = max(self.disk_drop, *(self._disk0[dev] - now.get(dev, self._disk0[dev]) for dev in self._disk0))

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join()


@dataclass(frozen=True)
class Batch:
    """One graded class of attacks."""

    out: Path
    code: int
    seconds: float
    started: float
    """time.time() when grading began, to tell files the batch wrote."""
    results: dict[str, dict[str, Any]]
    leaked: bytes
    """What the network attack got through to the test's server."""
    mode: str
    """GRADER_SANDBOX during the batch: the strongest isolation here, or the forced fallback."""
    memory_drop: int = 0
    """The most the host's MemAvailable fell below its value at the start, in bytes, sampled every 50 ms."""
    disk_drop: int = 0
    """The most the free space under the output and pool folders fell, in bytes, sampled with it."""

    @property
    def isolation(self) -> tuple[str, ...]:
        """The isolation layers the grader reports (a grader that predates the field: rlimits)."""
        return tuple(self.results[CORRECT].get("isolation", ["rlimits"]))


def build_class(dest: Path, names: Sequence[str], *, port: int = 0) -> Path:
    """Copy the named attack folders into `dest`, filling in the run's markers and the leak port."""
    for name in names:
        text = (ATTACKS / name / "homework.py").read_text(encoding="utf-8")
        text = text.replace(FORK_MARKER, FORK_MARKER + RUN_TAG).replace(SETSID_MARKER, SETSID_MARKER + RUN_TAG)
        if name == "network":
            assert LEAK_PORT_LINE in text
            text = text.replace(LEAK_PORT_LINE, f"LEAK_PORT = {port}")
        (dest / name).mkdir(parents=True)
        (dest / name / "homework.py").write_text(text, encoding="utf-8")
    return dest


def grade_args(class_dir: Path, out: Path, mnist_dir: Path) -> list[str]:
    only = ["--only", "numpy.*.backward"]
    return [str(class_dir), "--out", str(out), "--mnist", str(mnist_dir), "--rubric", str(RUBRIC), *only, "--seed", "1", "--no-color"]


def read_results(out: Path) -> dict[str, dict[str, Any]]:
    return {p.name: json.loads((p / "result.json").read_text(encoding="utf-8")) for p in out.iterdir() if (p / "result.json").is_file()}


def survivors(marker: str) -> list[int]:
    """Pids of processes whose command line holds `marker` (zombies have none, so they do not count)."""
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
    return [int(pid) for pid in found.split()]


def _remove_leftovers() -> None:
    """Remove what a successful attack leaves on this machine: marker files (of any run), survivors of this run."""
    for path in (*_outside_markers(), STASH):
        path.unlink(missing_ok=True)
    for folder in {Path("/tmp"), Path("/dev/shm"), Path(tempfile.gettempdir()), Path.home()}:
        for path in folder.glob("nn_grader_attack_*"):  # the fill attacks' files, where no layer held them
            if path.is_file() and path.name != HUGE_FILE_NAME:
                path.unlink(missing_ok=True)
    for pid in survivors(SETSID_MARKER + RUN_TAG):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module", params=["auto", "rlimits"], ids=["strongest", "forced-fallback"])
def batch(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path) -> Iterator[Batch]:
    """Grade every attack but the host killers, and the correct base, in one batch through the CLI,
    once with the strongest isolation available and once with the fallback forced."""
    mode = str(request.param)
    previous = os.environ.get("GRADER_SANDBOX")
    os.environ["GRADER_SANDBOX"] = mode
    try:
        yield from _graded_batch(tmp_path_factory, mnist_dir, mode)
    finally:
        if previous is None:
            os.environ.pop("GRADER_SANDBOX", None)
        else:
            os.environ["GRADER_SANDBOX"] = previous


def _graded_batch(tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path, mode: str) -> Iterator[Batch]:
    _remove_leftovers()
    root = tmp_path_factory.mktemp("attacks")
    names = sorted(p.name for p in ATTACKS.iterdir() if p.is_dir() and p.name not in HOST_KILLERS)
    server = LeakServer()
    try:
        class_dir = build_class(root / "class", names, port=server.port)
        (root / "out").mkdir()
        sampler = HostSampler([root / "out", Path(tempfile.gettempdir())])
        started, start = time.time(), time.monotonic()
        try:
            code = main(grade_args(class_dir, root / "out", mnist_dir))
        finally:
            sampler.stop()
        seconds = time.monotonic() - start
    finally:
        leaked = server.close()
    yield Batch(root / "out", code, seconds, started, read_results(root / "out"), leaked, mode, sampler.memory_drop, sampler.disk_drop)
    _remove_leftovers()


@dataclass(frozen=True)
class HostRun:
    """The host killers graded by a `grade` process of their own."""

    returncode: int
    stderr: str
    results: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def host_killers(tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path) -> HostRun:
    """Grade the host killers, then the correct base, in a separate `python -m grader.cli`."""
    root = tmp_path_factory.mktemp("host_killers")
    class_dir = build_class(root / "class", [*HOST_KILLERS, CORRECT])
    (root / "tmp").mkdir()
    env = {**os.environ, "TMPDIR": str(root / "tmp")}  # a killed grader cannot remove its job folders
    cmd = [sys.executable, "-m", "grader.cli", *grade_args(class_dir, root / "out", mnist_dir)]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=HOST_KILLER_BUDGET_S)
    results = read_results(root / "out") if (root / "out").is_dir() else {}
    return HostRun(done.returncode, done.stderr, results)


# --------------------------------------------------------------------------- helpers


def check(result: dict[str, Any], check_id: str) -> dict[str, Any]:
    return next(c for c in result["checks"] if c["id"] == check_id)


def assert_unless_layer_missing(ok: bool, batch: Batch, layers: Sequence[str], message: str) -> None:
    """Fail when an attack succeeded; xfail instead when none of `layers` held the worker.

    In CI only the forced-fallback batch xfails: it runs without the layers on purpose.
    """
    __tracebackhide__ = True
    if ok:
        return
    if not set(layers) & set(batch.isolation):
        reason = f"needs {' or '.join(layers)}, and the worker ran with {', '.join(batch.isolation)} only: {message}"
        if batch.mode == "rlimits":
            pytest.xfail(reason)
        require_or_skip(False, reason, xfail=True)
    pytest.fail(message)


def relu_class(lines: list[str]) -> tuple[int, int]:
    """First and one-past-last line of `class Relu`: up to the next top-level statement."""
    start = lines.index("class Relu:")
    end = next(i for i in range(start + 1, len(lines)) if lines[i] and not lines[i][0].isspace())
    return start, end


# --------------------------------------------------------------------------- the suite itself


def test_every_attack_folder_is_expected_and_documented() -> None:
    folders = sorted(p.name for p in ATTACKS.iterdir() if p.is_dir())
    assert folders == sorted([*EXPECTED, *HOST_KILLERS, CORRECT])
    readme = (ATTACKS / "README.md").read_text(encoding="utf-8")
    assert [name for name in folders if f"| `{name}` |" not in readme] == []


@pytest.mark.parametrize("name", sorted([*EXPECTED, *HOST_KILLERS]))
def test_attack_is_the_correct_base_changed_inside_class_relu_only(name: str) -> None:
    base = (ATTACKS / CORRECT / "homework.py").read_text(encoding="utf-8").splitlines()
    attack = (ATTACKS / name / "homework.py").read_text(encoding="utf-8").splitlines()
    (b0, b1), (a0, a1) = relu_class(base), relu_class(attack)
    assert (attack[:a0], attack[a1:]) == (base[:b0], base[b1:])
    assert any(line.strip().startswith(f"# ATTACK {name}:") for line in attack[a0:a1])


# --------------------------------------------------------------------------- verdicts


def test_batch_finishes_within_its_budget(batch: Batch) -> None:
    assert batch.code == 0
    assert sorted(batch.results) == sorted([*EXPECTED, CORRECT])
    assert batch.seconds < BATCH_BUDGET_S


def test_correct_submission_gets_full_marks_in_the_same_batch(batch: Batch) -> None:
    result = batch.results[CORRECT]
    assert {c["id"]: c["status"] for c in result["checks"]} == {cid: "passed" for cid in SELECTED}
    assert result["score"] == result["max_score"] == 55


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_attack_gets_the_expected_verdict(batch: Batch, name: str) -> None:
    expect, result = EXPECTED[name], batch.results[name]
    allowed = {cid: expect.others.get(cid, PASSED) for cid in SELECTED} | {ATTACKED: expect.relu}
    statuses = {c["id"]: c["status"] for c in result["checks"]}
    assert {cid: s for cid, s in statuses.items() if s not in allowed[cid]} == {}
    assert sorted(statuses) == sorted(SELECTED)
    relu = check(result, ATTACKED)
    if relu["status"] == "error":
        assert relu["evidence"]["failure"] in expect.failure, relu["message"]
    if relu["status"] == "failed" and expect.diagnosis is not None:
        assert re.match(expect.diagnosis, relu["diagnosis"] or ""), relu["diagnosis"]


def test_endless_attacks_cost_one_timeout_each(batch: Batch) -> None:
    timeout = load_rubric(RUBRIC, BUILTIN).rubric.limits_for(ATTACKED).timeout_s
    for name in ("loop_in_backward", "ignore_sigterm"):
        relu = check(batch.results[name], ATTACKED)
        assert relu["message"].startswith(f"timeout: your code did not finish within {timeout:g} s")
        assert relu["duration_s"] < timeout + 3


# --------------------------------------------------------------------------- what attacks leave behind


@pytest.mark.parametrize("name", sorted(SCRATCH_MESSAGES))
def test_containment_attack_is_told_which_bound_it_hit(batch: Batch, name: str) -> None:
    relu = check(batch.results[name], ATTACKED)
    layer = CONTAINED_BY[name]
    if name == "memfd_buffers" and "cgroup" not in batch.isolation:
        assert relu["evidence"]["failure"] == "forbidden", relu["message"]  # seccomp refused memfd_create
        return
    if name == "fill_in_children" and relu["evidence"]["failure"] == "timeout":
        return  # the wall clock came first (see EXPECTED): the bound is measured by the memory test below
    assert_unless_layer_missing(relu["message"].startswith(SCRATCH_MESSAGES[name]), batch, (layer,), relu["message"])
    if name == "fill_every_place":  # /tmp is the first place it fills; without bubblewrap that is the host's own /tmp
        assert_unless_layer_missing(relu["message"].startswith(f"{SCRATCH_MESSAGES[name]} (in /tmp)"), batch, ("bwrap",), relu["message"])


def test_the_class_took_no_more_memory_or_disk_than_its_jobs_limits(batch: Batch) -> None:
    # One grading thread (no --jobs): one student job at a time, plus what the grader and its two warm templates
    # hold themselves (PyTorch imported in each).
    limits = load_rubric(RUBRIC, BUILTIN).rubric.limits
    job, own = (limits.memory_mb + limits.scratch_mb + 32) << 20, 2 << 30
    assert_unless_layer_missing(batch.memory_drop <= job + own, batch, ("cgroup",),
                                f"MemAvailable fell by {batch.memory_drop >> 20} MiB, more than one job's limits and the grader's own")
    outputs = sum(p.stat().st_size for p in batch.out.rglob("*") if p.is_file())
    # Without bubblewrap /tmp is the host's own, whatever the grader mounts for the job folder.
    needs = ("scratch",) if "bwrap" in batch.isolation else ("bwrap",)
    assert_unless_layer_missing(batch.disk_drop <= (limits.scratch_mb << 20) + outputs + (64 << 20), batch, needs,
                                f"the disk under the output and pool folders lost {batch.disk_drop >> 20} MiB")


def test_fork_bomb_leaves_no_process_behind(batch: Batch) -> None:
    assert survivors(FORK_MARKER + RUN_TAG) == []


def test_huge_file_and_print_flood_leave_no_big_file_in_tmp(batch: Batch) -> None:
    roots = {Path("/tmp"), Path(tempfile.gettempdir())}
    big = []
    for root in roots:
        for folder, _, files in os.walk(root, onerror=lambda _: None):
            for name in files:
                path = Path(folder) / name
                try:
                    stat = path.lstat()
                except OSError:
                    continue
                if name == HUGE_FILE_NAME or (stat.st_size > HUGE_BYTES and stat.st_mtime >= batch.started):
                    big.append((str(path), stat.st_size))
    assert big == []


def test_read_reference_leaks_no_staff_source_into_the_reports(batch: Batch) -> None:
    staff = (REPO / "reference" / "numpy_model.py").read_text(encoding="utf-8").splitlines()
    comments = [line.strip() for line in staff if line.strip().startswith("#") and len(line.strip()) > 30]
    assert comments, "reference/numpy_model.py has no distinctive comment lines to look for"
    folder = batch.out / "read_reference"
    reports = (folder / "result.json").read_text(encoding="utf-8") + html.unescape((folder / "report.html").read_text(encoding="utf-8"))
    assert [line for line in comments if line in reports] == []


def test_read_reference_finds_nothing_to_read(batch: Batch) -> None:
    relu = check(batch.results["read_reference"], ATTACKED)
    read = relu["status"] != "passed" or STASH.exists()
    assert_unless_layer_missing(not read, batch, ("bwrap",),
                                "the worker read the staff solution or the rubric (its Relu returned the READ_OK gradient)")
    assert relu["status"] == "passed"


def test_write_outside_leaves_no_file_outside_the_job(batch: Batch) -> None:
    written = [str(p) for p in _outside_markers() if p.exists()]
    assert_unless_layer_missing(written == [], batch, ("bwrap",), f"the worker wrote {written}")


def test_network_attack_reaches_no_socket_on_the_host(batch: Batch) -> None:
    assert_unless_layer_missing(batch.leaked == b"", batch, ("seccomp", "bwrap"),
                                f"the worker sent {batch.leaked[:40]!r} to 127.0.0.1")


def test_stderr_flood_reaches_the_report_as_a_bounded_tail(batch: Batch) -> None:
    folder = batch.out / "stderr_flood_import"
    assert (folder / "result.json").stat().st_size < 200_000
    relu = check(batch.results["stderr_flood_import"], ATTACKED)
    assert len(relu["evidence"].get("detail", "")) <= 4000


def test_forged_report_of_a_thread_never_counts(batch: Batch) -> None:
    result = batch.results["thread_exit_after"]
    assert [c["message"] for c in result["checks"] if c["evidence"].get("failure") == "tampered"] == []


def test_setsid_child_does_not_outlive_the_worker(batch: Batch) -> None:
    left = survivors(SETSID_MARKER + RUN_TAG)
    assert_unless_layer_missing(left == [], batch, ("bwrap",),
                                f"{len(left)} `sleep {SETSID_MARKER}` left the worker's process group and survived it")


def test_kill_others_cannot_kill_the_grader(batch: Batch, host_killers: HostRun) -> None:
    survived = host_killers.returncode == 0 and CORRECT in host_killers.results
    assert_unless_layer_missing(survived, batch, ("bwrap",),
                                f"a worker SIGKILLed the grader, its parent (exit status {host_killers.returncode})")
    killer, correct = host_killers.results["kill_others"], host_killers.results[CORRECT]
    assert check(killer, ATTACKED)["status"] in PASSED_OR_ERROR
    assert correct["score"] == correct["max_score"] == 55


def test_isolation_level_is_recorded(batch: Batch) -> None:
    if batch.mode == "rlimits" or not shutil.which("bwrap"):
        # The containment layers (cgroup, scratch) need no bubblewrap: kept where this machine has them.
        assert batch.isolation[-2:] == ("rlimits", "timeout") and set(batch.isolation[:-2]) <= {"cgroup", "scratch"}
    else:
        assert batch.isolation[0] == "bwrap" and batch.isolation[-2:] == ("rlimits", "timeout")
