"""`grade --doctor`: the diagnosis on this machine, with bubblewrap hidden or user namespaces off, and the CLI."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from grader import doctor
from grader.cli import main
from grader.doctor import STRONGEST, Diagnosis, Status, diagnose, format_diagnosis
from grader.sandbox import isolation, scratch

from .conftest import CliRun, require_or_skip

REAL_WHICH = shutil.which
# The cached functions themselves: a test may swap the module attribute, and teardown must still clear these.
BWRAP_CACHE, WARN_CACHE = isolation._working_bwrap, isolation._warn_once
SUDO = "" if os.geteuid() == 0 else "sudo "


@pytest.fixture(autouse=True)
def fresh_isolation(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test sees isolation.py decide afresh, and leaves no decision cached for the next test file."""
    monkeypatch.delenv("GRADER_SANDBOX", raising=False)
    BWRAP_CACHE.cache_clear()
    WARN_CACHE.cache_clear()
    yield
    BWRAP_CACHE.cache_clear()  # computed again, with the real PATH, by the next caller
    WARN_CACHE.cache_clear()


def which_without(*hidden: str, extra: dict[str, str] | None = None) -> Callable[..., str | None]:
    """shutil.which as on a machine where `hidden` are not installed (and `extra` are)."""
    added = extra or {}

    def which(cmd: str, mode: int = os.F_OK | os.X_OK, path: str | None = None) -> str | None:
        if cmd in hidden:
            return None
        return added.get(cmd) or REAL_WHICH(cmd, mode, path)

    return which


def bwrap_installed() -> None:
    require_or_skip(REAL_WHICH("bwrap") is not None, "bubblewrap is not installed: apt-get install bubblewrap")


def test_this_machine_holds_every_layer(mnist_dir: Path) -> None:
    bwrap_installed()
    found = diagnose(mnist_dir)
    assert [s.name for s in found.layers] == ["bwrap", "seccomp", "cgroup", "scratch", "tmpfs-size", "rlimits", "timeout", "sandbox"]
    assert {s.name: s.why_not for s in found.layers if not s.holds} == {}
    assert found.grading == STRONGEST == ("bwrap", "seccomp", "cgroup", "scratch", "rlimits", "timeout")
    assert found.strongest and found.acceptable and found.refusal == ""
    assert found.status("mnist").holds and str(mnist_dir) in found.status("mnist").detail
    assert found.status("torch").holds
    lines = format_diagnosis(found).splitlines()
    assert lines[0].startswith("bwrap      holds (") and lines[1].startswith("seccomp    holds (")
    assert "grading    uses bwrap, seccomp, cgroup, scratch, rlimits, timeout: the strongest isolation" in lines
    assert lines[lines.index("grading    uses bwrap, seccomp, cgroup, scratch, rlimits, timeout: the strongest isolation") + 1].startswith(
        "bounds     memory: memory_mb + scratch_mb per job")


def test_without_bwrap_on_path_it_says_missing_with_the_apt_get_fix(monkeypatch: pytest.MonkeyPatch, mnist_dir: Path) -> None:
    monkeypatch.setattr(shutil, "which", which_without("bwrap", extra={"apt-get": "/usr/bin/apt-get"}))
    found = diagnose(mnist_dir)
    fix = f"{SUDO}apt-get update && {SUDO}apt-get install bubblewrap"
    assert found.status("bwrap") == Status("bwrap", False, "bwrap is not installed", fix)
    seccomp = found.status("seccomp")
    assert not seccomp.holds and "bwrap" in seccomp.why_not and seccomp.fix == fix
    assert found.status("rlimits").holds and found.status("timeout").holds
    assert found.grading[-2:] == ("rlimits", "timeout") and "bwrap" not in found.grading and not found.strongest
    assert not found.acceptable and not found.holds("tmpfs-size")
    lines = format_diagnosis(found).splitlines()
    assert f"bwrap      missing: bwrap is not installed -> fix: {fix}" in lines
    assert f"grading    uses {', '.join(found.grading)}: not the strongest isolation; see the fixes above" in lines


def test_grader_sandbox_bwrap_without_bwrap_refuses_to_grade(monkeypatch: pytest.MonkeyPatch, mnist_dir: Path) -> None:
    monkeypatch.setattr(shutil, "which", which_without("bwrap"))
    monkeypatch.setenv("GRADER_SANDBOX", "bwrap")
    found = diagnose(mnist_dir)
    assert found.grading == () and "GRADER_SANDBOX=bwrap but bubblewrap cannot run here" in found.refusal
    assert any(line.startswith("grading    refuses to run: GRADER_SANDBOX=bwrap") for line in format_diagnosis(found).splitlines())


@pytest.mark.parametrize(("switch", "value", "euid", "fix"), [
    ("user/max_user_namespaces", "0", 0, "sysctl -w user.max_user_namespaces=10000"),
    ("kernel/unprivileged_userns_clone", "0", 1000, "sudo sysctl -w kernel.unprivileged_userns_clone=1"),
    ("kernel/apparmor_restrict_unprivileged_userns", "1", 1000, "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"),
])
def test_disabled_user_namespaces_name_the_sysctl(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                  switch: str, value: str, euid: int, fix: str) -> None:
    (tmp_path / switch).parent.mkdir(parents=True)
    (tmp_path / switch).write_text(value + "\n", encoding="ascii")
    monkeypatch.setattr(doctor, "PROC_SYS", tmp_path)
    monkeypatch.setattr(isolation, "_working_bwrap", lambda: (None, "bwrap: setting up uid map: Permission denied"))
    monkeypatch.setattr(shutil, "which", which_without(extra={"bwrap": "/usr/bin/bwrap"}))
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    status = doctor._bwrap_status()
    assert not status.holds and status.fix is not None and status.fix.startswith(fix + " (until reboot")
    assert f"user namespaces are disabled ({switch.replace('/', '.')} = {value})" in status.why_not
    assert "setting up uid map: Permission denied" in status.why_not


def test_root_is_not_bound_by_the_unprivileged_switch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "kernel").mkdir()
    (tmp_path / "kernel" / "unprivileged_userns_clone").write_text("0\n", encoding="ascii")
    monkeypatch.setattr(doctor, "PROC_SYS", tmp_path)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert doctor._userns_problem() == ("", None)


def test_format_is_one_line_per_record_name_padded_to_ten() -> None:
    found = Diagnosis(
        layers=(Status("bwrap", False, "bwrap is not installed", "apt-get install bubblewrap"),
                Status("seccomp", False, "no x86_64"), Status("rlimits", True), Status("timeout", True, detail="killed")),
        grading=("rlimits", "timeout"), refusal="",
        optional=(Status("tensorflow", True, detail="2.21.0"),),
    )
    assert format_diagnosis(found).splitlines() == [
        "bwrap      missing: bwrap is not installed -> fix: apt-get install bubblewrap",
        "seccomp    missing: no x86_64",
        "rlimits    holds",
        "timeout    holds (killed)",
        "grading    uses rlimits, timeout: not the strongest isolation; see the fixes above",
        "bounds     memory: memory_mb per process only (RLIMIT_AS); tmpfs and memfd pages unbounded; files: file_size_mb per "
        "file only (RLIMIT_FSIZE): not how many; none of cgroup, scratch, tmpfs-size holds: a student can fill this machine",
        "tensorflow holds (2.21.0)",
    ]


def test_chromium_is_reported_as_needed_by_the_tests_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", which_without("chromium", "chromium-browser", extra={"apt-get": "/usr/bin/apt-get"}))
    status = doctor._chromium_status()
    assert not status.holds and "only the test suite" in status.why_not
    assert status.fix == f"{SUDO}apt-get update && {SUDO}apt-get install chromium"


# --------------------------------------------------------------------------- grade --doctor


def test_grade_doctor_exits_0_with_every_layer(grade: Callable[..., CliRun]) -> None:
    bwrap_installed()
    run = grade("--doctor")
    assert run.code == 0, run.out
    lines = run.out.splitlines()
    assert [line.split()[0] for line in lines] == [
        "bwrap", "seccomp", "cgroup", "scratch", "tmpfs-size", "rlimits", "timeout", "sandbox", "grading", "bounds",
        "torch", "tensorflow", "mnist", "chromium"]
    assert lines[0].startswith("bwrap      holds")
    assert "grading    uses bwrap, seccomp, cgroup, scratch, rlimits, timeout: the strongest isolation" in lines
    assert lines[lines.index("grading    uses bwrap, seccomp, cgroup, scratch, rlimits, timeout: the strongest isolation") + 1].startswith(
        "bounds     memory: memory_mb + scratch_mb per job")


def test_grade_doctor_exits_1_when_the_fallback_is_forced(grade: Callable[..., CliRun], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADER_SANDBOX", "rlimits")
    run = grade("--doctor")
    assert run.code == 1
    assert ("sandbox    missing: GRADER_SANDBOX=rlimits forces the fallback (rlimits and timeout only) "
            "-> fix: unset GRADER_SANDBOX") in run.out.splitlines()


def test_grade_doctor_exits_1_without_bwrap(grade: Callable[..., CliRun], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", which_without("bwrap"))
    run = grade("--doctor")
    assert run.code == 1
    assert any(line.startswith("bwrap      missing: bwrap is not installed") for line in run.out.splitlines())


def test_grade_doctor_takes_no_path(grade: Callable[..., CliRun], tmp_path: Path) -> None:
    run = grade("--doctor", tmp_path)
    assert run.code == 2 and run.out == ""
    assert run.err.startswith("UsageError: --doctor checks this machine and grades nothing")


def test_grade_without_a_path_is_a_one_line_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("UsageError: no PATH given; pass a submission")


def test_grade_doctor_names_each_bound_and_exits_0_while_one_holds(grade: Callable[..., CliRun], monkeypatch: pytest.MonkeyPatch) -> None:
    bwrap_installed()
    monkeypatch.setenv("GRADER_CGROUP", "off")
    run = grade("--doctor")
    lines = run.out.splitlines()
    assert "cgroup     missing: turned off by GRADER_CGROUP=off; a job's tmpfs and memfd pages and its other processes are " \
           "then bounded only per process -> fix: unset GRADER_CGROUP" in lines
    bounds = next(line for line in lines if line.startswith("bounds "))
    assert "memfd_create refused by seccomp" in bounds and "none of" not in bounds
    assert run.code == (0 if scratch.mountable()[0] or isolation.bwrap_sizes_tmpfs() else 1)


def test_grade_doctor_exits_1_when_no_bound_holds(grade: Callable[..., CliRun], monkeypatch: pytest.MonkeyPatch) -> None:
    # What .ci/run fails on in CI: nothing but RLIMIT_AS and RLIMIT_FSIZE between a student and the machine.
    monkeypatch.setattr(shutil, "which", which_without("bwrap"))
    monkeypatch.setenv("GRADER_CGROUP", "off")
    monkeypatch.setenv("GRADER_SCRATCH_MOUNT", "off")
    run = grade("--doctor")
    assert run.code == 1
    bounds = next(line for line in run.out.splitlines() if line.startswith("bounds "))
    assert bounds.endswith("none of cgroup, scratch, tmpfs-size holds: a student can fill this machine")
