"""`grade --doctor`: which isolation layers hold on this machine, why any does not, and the fix.

Every layer is tried for real, the way a grading run uses it: bubblewrap starts a
trial sandbox (isolation.py's own trial, the one select_isolation decides on), the
seccomp filter is loaded by bwrap and must refuse an AF_INET socket, a trial
process in a 64 MiB memory cgroup is killed when it writes 128 MiB into a memfd,
the grader mounts a trial sized tmpfs, bubblewrap sizes its own tmpfs, a trial
process takes the rubric's default rlimits, and a trial process group is killed
as a timed-out worker's is.  The `bounds` line says what then bounds one job's
memory and files; `grade --doctor` exits 1 when nothing does (.ci/run fails on that in CI).  Then the isolation a grading run would use, per
GRADER_SANDBOX, and the optional pieces: PyTorch, the TensorFlow extra, MNIST
(looked up, never downloaded) and Chromium (only the test suite needs it).
"""

from __future__ import annotations

import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from .checks.training.judge import tensorflow_installed
from .errors import DataError, UsageError
from .mnist import ENV_DIR, load_mnist
from .sandbox.limits import Limits
from .sandbox.cgroup import JobCgroup, memory_cgroups
from .sandbox.isolation import BASE_LAYERS, bwrap_sizes_tmpfs, select_isolation, working_bwrap
from .sandbox.scratch import mountable
from .sandbox.runner import kill_group, seccomp_pipe
from .sandbox.seccomp import filter_program
from .versions import library_versions

STRONGEST = ("bwrap", "seccomp", "cgroup", "scratch", *BASE_LAYERS)
"""Every layer, strongest first: what a grading run uses when all of them hold."""
BOUNDS = ("cgroup", "scratch", "tmpfs-size")
"""The statuses that bound what one job holds (memory, files); at least one must hold."""
CORE = ("bwrap", "seccomp", *BASE_LAYERS)

PROC_SYS = Path("/proc/sys")
"""Where the kernel's user-namespace switches are read (a test points it elsewhere)."""

NAME_WIDTH = 10
TRIAL_TIMEOUT_S = 20
# Each (file under /proc/sys, the value that disables user namespaces, the value that enables them,
# whether it binds root too).  bwrap --unshare-user needs a user namespace even when run as root.
USERNS_SWITCHES = (
    ("user/max_user_namespaces", "0", "10000", True),
    ("kernel/unprivileged_userns_clone", "0", "1", False),
    ("kernel/apparmor_restrict_unprivileged_userns", "1", "0", False),
)
# The socket the seccomp trial must be refused: the filter allows AF_UNIX only.
SECCOMP_PROBE = (
    "import socket, sys\n"
    "try:\n    socket.socket(socket.AF_INET, socket.SOCK_STREAM)\nexcept PermissionError:\n    sys.exit(0)\n"
    "sys.exit(1)\n"
)
MEMFD_PROBE = (
    "import os, sys\nfd = os.memfd_create('probe')\nchunk = b'x' * (1 << 20)\n"
    "for _ in range(128):\n    os.write(fd, chunk)\nsys.exit(3)\n"
)
"""Writes 128 MiB into a memfd: inside a 64 MiB cgroup the kernel must kill it."""
RLIMITS_PROBE = (
    "import resource\nfrom grader.sandbox.limits import Limits, apply_rlimits\n"
    "apply_rlimits(Limits())\nprint(resource.getrlimit(resource.RLIMIT_AS)[0])\n"
)


@dataclass(frozen=True)
class Status:
    """One isolation layer or optional piece: whether it holds here, and if not why and how to fix it."""

    name: str
    holds: bool
    why_not: str = ""
    """Why it does not hold (empty when it does)."""
    fix: str | None = None
    """The exact command (or option) that makes it hold; None where no command can."""
    detail: str = ""
    """What was found, when it holds: a path, a version, a source."""


@dataclass(frozen=True)
class Diagnosis:
    """The isolation layers, what GRADER_SANDBOX forces, what a grading run would use, and the optional pieces."""

    layers: tuple[Status, ...]
    """bwrap, seccomp, rlimits, timeout, and `sandbox` (what GRADER_SANDBOX forces)."""
    grading: tuple[str, ...]
    """The layers a grading run would start its workers in; () when it would refuse to run."""
    refusal: str
    """Why a grading run would refuse to start (GRADER_SANDBOX=bwrap without bwrap, a bad value), else ""."""
    optional: tuple[Status, ...]
    """torch, tensorflow, mnist, chromium: needed for some submissions, for grading at all, or for the tests."""

    @property
    def strongest(self) -> bool:
        """Whether a grading run would hold student code in every layer."""
        return self.grading == STRONGEST and all(status.holds for status in self.layers)

    @property
    def bounded(self) -> bool:
        """Whether something bounds one job's memory or files beyond rlimits (cgroup, the grader's tmpfs, bwrap's sizes)."""
        return any(self.holds(name) for name in BOUNDS)

    @property
    def acceptable(self) -> bool:
        """The exit status of `grade --doctor`: bwrap, seccomp, rlimits and timeout hold and so does a bound."""
        core = all(self.holds(name) for name in (*CORE, "sandbox"))
        return core and all(name in self.grading for name in CORE) and self.bounded

    def status(self, name: str) -> Status:
        """The record called `name` (a layer or an optional piece)."""
        return next(s for s in (*self.layers, *self.optional) if s.name == name)

    def holds(self, name: str) -> bool:
        """Whether the record called `name` is there and holds."""
        return any(s.name == name and s.holds for s in (*self.layers, *self.optional))


def diagnose(mnist_dir: Path | None = None) -> Diagnosis:
    """Try every isolation layer and optional piece on this machine; `mnist_dir` is `--mnist DIR`, if given."""
    bwrap = _bwrap_status()
    layers = (bwrap, _seccomp_status(bwrap), _cgroup_status(), _scratch_status(), _tmpfs_size_status(bwrap),
              _rlimits_status(), _timeout_status(), _sandbox_status(bwrap))
    grading, refusal = _grading_isolation()
    optional = (_torch_status(), _tensorflow_status(), _mnist_status(mnist_dir), _chromium_status())
    return Diagnosis(layers, grading, refusal, optional)


def format_diagnosis(diagnosis: Diagnosis) -> str:
    """One line per layer ("bwrap      holds", "... missing: why -> fix: command"), the isolation a
    grading run would use, then one line per optional piece."""
    lines = [_format_status(status) for status in diagnosis.layers]
    if diagnosis.refusal:
        lines.append(f"grading    refuses to run: {diagnosis.refusal}")
    else:
        verdict = "the strongest isolation" if diagnosis.strongest else "not the strongest isolation; see the fixes above"
        lines.append(f"grading    uses {', '.join(diagnosis.grading)}: {verdict}")
    lines.append(_bounds_line(diagnosis))
    lines += [_format_status(status) for status in diagnosis.optional]
    return "\n".join(lines)


def _bounds_line(diagnosis: Diagnosis) -> str:
    """What bounds one job's memory and its files, in a line."""
    cgroup, scratch, sized = (diagnosis.holds(name) for name in BOUNDS)
    memory = ("memory_mb + scratch_mb per job, all its processes, tmpfs and memfd pages together (cgroup)" if cgroup
              else "memory_mb per process only (RLIMIT_AS), memfd_create refused by seccomp" if diagnosis.holds("seccomp")
              else "memory_mb per process only (RLIMIT_AS); tmpfs and memfd pages unbounded")
    files = ("scratch_mb for all writable places of a job together, on a tmpfs the grader mounts (scratch)" if scratch
             else "scratch_mb per place (/tmp, /dev/shm, work/) with bwrap's sized tmpfs; out/ is on the host's disk" if sized
             else "file_size_mb per file only (RLIMIT_FSIZE): not how many")
    verdict = "" if diagnosis.bounded else "; none of cgroup, scratch, tmpfs-size holds: a student can fill this machine"
    return f"{'bounds':<{NAME_WIDTH}} memory: {memory}; files: {files}{verdict}"


def _format_status(status: Status) -> str:
    head = f"{status.name:<{NAME_WIDTH}} "
    if status.holds:
        return head + "holds" + (f" ({status.detail})" if status.detail else "")
    return head + f"missing: {status.why_not}" + (f" -> fix: {status.fix}" if status.fix else "")


# --------------------------------------------------------------------------- isolation layers


def _bwrap_status() -> Status:
    path, why = working_bwrap()
    if path is not None:
        return Status("bwrap", True, detail=f"{path}: a trial sandbox started")
    if platform.system() != "Linux":
        return Status("bwrap", False, f"bubblewrap runs on Linux only and this is {platform.system()}")
    if shutil.which("bwrap") is None:
        return Status("bwrap", False, why, _install_command("bubblewrap"))
    why_userns, fix = _userns_problem()
    if why_userns:
        return Status("bwrap", False, f"{why_userns}; bwrap said: {why}", fix)
    if Path("/.dockerenv").exists() or Path("/run/.containerenv").exists():
        # Docker's and Podman's default seccomp and AppArmor profiles forbid the namespaces bwrap makes.
        return Status("bwrap", False, f"{why} (inside a container, whose profile forbids new namespaces)",
                      "start the container with --security-opt seccomp=unconfined --security-opt apparmor=unconfined")
    return Status("bwrap", False, why)


def _userns_problem() -> tuple[str, str | None]:
    """The kernel switch that disables user namespaces for this user, and the sysctl that enables them."""
    root = os.geteuid() == 0
    sudo = "" if root else "sudo "
    for name, off, on, binds_root in USERNS_SWITCHES:
        try:
            value = (PROC_SYS / name).read_text(encoding="ascii").strip()
        except OSError:  # this kernel has no such switch
            continue
        if value == off and (binds_root or not root):
            key = name.replace("/", ".")
            fix = (f"{sudo}sysctl -w {key}={on} (until reboot; to keep it: "
                   f"echo {key}={on} | {sudo}tee /etc/sysctl.d/90-nn-grader.conf)")
            return f"user namespaces are disabled ({key} = {value})", fix
    return "", None


def _seccomp_status(bwrap: Status) -> Status:
    if filter_program() is None:
        return Status("seccomp", False, f"the filter (grader/sandbox/seccomp.py) is written for x86_64 only and this "
                                        f"machine is {platform.machine()}; no command adds it")
    path, _ = working_bwrap()
    if path is None:
        return Status("seccomp", False, "bwrap loads the filter, and bwrap does not hold here", bwrap.fix)
    why = _seccomp_trial(path)
    if why:
        return Status("seccomp", False, why)
    return Status("seccomp", True, detail="a trial sandbox loaded the filter and was refused an AF_INET socket")


def _seccomp_trial(bwrap: str) -> str:
    """Why a sandbox holding the filter let an AF_INET socket through (or failed to start), else ""."""
    fd = seccomp_pipe()
    argv = [bwrap, "--ro-bind", "/", "/", "--unshare-all", "--unshare-user", "--die-with-parent",
            "--seccomp", str(fd), sys.executable, "-I", "-c", SECCOMP_PROBE]
    try:
        done = subprocess.run(argv, pass_fds=(fd,), capture_output=True, timeout=TRIAL_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"a trial sandbox with the filter did not run: {exc}"
    finally:
        os.close(fd)
    if done.returncode == 1:
        return "the filter loaded but an AF_INET socket was allowed (does this kernel enforce seccomp filters?)"
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip()[-200:]
        return f"a trial sandbox with the filter exited {done.returncode}: {err or 'no message'}"
    return ""


def _cgroup_status() -> Status:
    support = memory_cgroups()
    if not support.holds:
        fix = ("run grade as root, or in a cgroup delegated to this user (systemd-run --user --scope -p Delegate=yes grade ...)"
               if "GRADER_CGROUP" not in support.why else "unset GRADER_CGROUP")
        return Status("cgroup", False, f"{support.why}; a job's tmpfs and memfd pages and its other processes are then "
                                       f"bounded only per process", fix)
    why = _cgroup_trial(JobCgroup(support, 64 << 20))
    if why:
        return Status("cgroup", False, why)
    return Status("cgroup", True, detail=f"v{support.version} below {support.base}: a trial process in a 64 MiB cgroup "
                                         f"was killed writing 128 MiB into a memfd")


def _cgroup_trial(cgroup: JobCgroup) -> str:
    """Why a trial process writing 128 MiB of memfd pages was not stopped by a 64 MiB cgroup, else ""."""
    try:
        done = subprocess.run([sys.executable, "-I", "-c", MEMFD_PROBE], preexec_fn=cgroup.enter, capture_output=True,
                              timeout=TRIAL_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"a trial process in a memory cgroup did not run: {exc}"
    finally:
        killed = cgroup.ran_out()
        cgroup.close()
    if done.returncode == -signal.SIGKILL and killed:
        return ""
    return f"a trial process wrote 128 MiB into a memfd inside a 64 MiB cgroup (exit status {done.returncode}): this kernel does not charge memfd pages"


def _scratch_status() -> Status:
    ok, why = mountable()
    if not ok:
        fix = "run grade as root (a container needs CAP_SYS_ADMIN)" if "GRADER_SCRATCH_MOUNT" not in why else "unset GRADER_SCRATCH_MOUNT"
        return Status("scratch", False, f"{why}; a job's out/ folder (and a warm template's slot) is then on the host's disk", fix)
    return Status("scratch", True, detail="a trial sized tmpfs was mounted: each job's writable places share one scratch_mb tmpfs")


def _tmpfs_size_status(bwrap: Status) -> Status:
    if not bwrap.holds:
        return Status("tmpfs-size", False, "bwrap makes the sized tmpfs, and bwrap does not hold here", bwrap.fix)
    if not bwrap_sizes_tmpfs():
        return Status("tmpfs-size", False, "this bubblewrap has no --size (it came in 0.7): its /tmp and /dev/shm may "
                                           "take half the machine's memory", "install bubblewrap 0.7 or later")
    return Status("tmpfs-size", True, detail="bwrap --size: a trial sandbox's /tmp took a 1 MiB size")


def _rlimits_status() -> Status:
    # The model's defaults are the default rubric's [limits]; a larger rubric may still hit a hard limit.
    argv = [sys.executable, "-I", "-c", RLIMITS_PROBE]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TRIAL_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Status("rlimits", False, f"the trial process did not run: {exc}")
    expected = str(Limits().memory_mb << 20)
    if done.returncode != 0 or done.stdout.strip() != expected:
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return Status("rlimits", False, f"a trial process could not take the default [limits] "
                                        f"(grader/sandbox/limits.py apply_rlimits: {last})",
                      "raise the hard limit it names (ulimit -H in the shell that starts grade) or lower [limits] in the rubric")
    return Status("rlimits", True, detail="a trial process took the address-space, CPU, file-size, process and descriptor limits")


def _timeout_status() -> Status:
    argv = [sys.executable, "-I", "-c", "import time; time.sleep(60)"]
    proc = subprocess.Popen(argv, start_new_session=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=0.2)
    except subprocess.TimeoutExpired:
        pass  # still sleeping, as a timed-out worker would be
    kill_group(proc.pid)  # what the runner does to a worker past its timeout
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return Status("timeout", False, "a trial process group survived SIGKILL for 5 s")
    if proc.returncode != -signal.SIGKILL:
        return Status("timeout", False, f"the trial process ended by itself (exit status {proc.returncode}) before it was killed")
    return Status("timeout", True, detail="a trial process group was killed with SIGKILL")


def _sandbox_status(bwrap: Status) -> Status:
    raw = os.environ.get("GRADER_SANDBOX")
    mode = (raw or "auto").lower()
    if mode == "rlimits":
        return Status("sandbox", False, "GRADER_SANDBOX=rlimits forces the fallback (rlimits and timeout only)",
                      "unset GRADER_SANDBOX")
    if mode not in ("auto", "bwrap"):
        return Status("sandbox", False, f"GRADER_SANDBOX={raw!r} is not one of auto, bwrap, rlimits", "unset GRADER_SANDBOX")
    if mode == "bwrap":
        return Status("sandbox", True, detail="GRADER_SANDBOX=bwrap: grading refuses to run without bubblewrap")
    named = "GRADER_SANDBOX=auto" if raw else "GRADER_SANDBOX unset, so auto"
    fallback = "" if bwrap.holds else "; here that is the rlimits fallback"
    return Status("sandbox", True, detail=f"{named}: the strongest layers that hold{fallback}")


def _grading_isolation() -> tuple[tuple[str, ...], str]:
    """The layers select_isolation would give a grading run now, or () and why it would refuse."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # its fallback warning: the bwrap line says it
            return select_isolation().layers, ""
    except UsageError as exc:
        return (), str(exc)


# --------------------------------------------------------------------------- optional pieces


def _torch_status() -> Status:
    version = library_versions().get("torch")
    pin = _requirement("torch") or "torch"
    if version is None:
        return Status("torch", False, "PyTorch is not installed: nothing can be graded (autograd is the reference)",
                      f"{_pip()} install '{pin}'")
    pinned = pin.partition("==")[2]
    if pinned and version.split("+")[0] != pinned:
        return Status("torch", False, f"PyTorch {version} is installed but the grader pins {pin}", f"{_pip()} install '{pin}'")
    return Status("torch", True, detail=version)


def _tensorflow_status() -> Status:
    if not tensorflow_installed():
        requirement = _requirement("tensorflow-cpu") or "tensorflow-cpu"
        return Status("tensorflow", False, "the optional TensorFlow extra is not installed: "
                                           "TensorFlow submissions' framework checks are skipped",
                      f"{_pip()} install '{requirement}'")
    version = library_versions().get("tensorflow", "version unknown")
    return Status("tensorflow", True, detail=f"{version}: TensorFlow submissions are graded")


def _mnist_status(mnist_dir: Path | None) -> Status:
    try:
        mnist = load_mnist(mnist_dir, download=False, progress=False)
    except DataError as exc:
        if mnist_dir is not None or os.environ.get(ENV_DIR):
            return Status("mnist", False, f"{exc} (grading exits 3 until it is fixed)")  # the message names the fix
        # Not found anywhere: the doctor never downloads, but a grading run would, so its message's
        # "download disabled" and fix do not apply here; keep the places it looked in.
        looked = str(exc).split(" Fix: ")[0].replace("; download disabled", "").rstrip(".")
        download = f"{shlex.quote(sys.executable)} -c 'from grader.mnist import load_mnist; load_mnist()'"
        return Status("mnist", False, f"{looked}; a grading run downloads it (needs internet, else exits 3)",
                      f"{download} (downloads and verifies it now), or pass --mnist DIR or set {ENV_DIR}")
    sizes = f"{len(mnist.train_images):,} training and {len(mnist.test_images):,} test images"
    return Status("mnist", True, detail=f"{mnist.source}: {sizes}")


def _chromium_status() -> Status:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        return Status("chromium", False, "no chromium on PATH; only the test suite's browser tests (tests/test_browser.py) "
                                         "need it, grading does not", _install_command("chromium"))
    return Status("chromium", True, detail=f"{path}: only the test suite's browser tests use it, grading does not")


# --------------------------------------------------------------------------- commands


def _install_command(package: str) -> str | None:
    """The command that installs a system package here, with sudo unless this is root; None without a known manager."""
    sudo = "" if os.geteuid() == 0 else "sudo "
    if shutil.which("apt-get"):
        # A fresh image has empty package lists: without the update, install finds no package.
        return f"{sudo}apt-get update && {sudo}apt-get install {package}"
    for manager, install in (("dnf", "dnf install"), ("zypper", "zypper install"), ("pacman", "pacman -S"), ("apk", "apk add")):
        if shutil.which(manager):
            return f"{sudo}{install} {package}"
    return None


def _pip() -> str:
    """pip of the Python running the grader, so the fix installs into the same virtualenv."""
    return f"{shlex.quote(sys.executable)} -m pip"


def _requirement(name: str) -> str | None:
    """The grader's own requirement on `name` (e.g. 'torch==2.13.0'), read from its installed metadata."""
    try:
        requires = metadata.requires("nn-grader") or []
    except metadata.PackageNotFoundError:
        return None
    for line in requires:
        spec = line.split(";")[0].strip()
        if spec.lower().startswith(name) and spec[len(name):len(name) + 1] in ("", "=", ">", "<", "~", "!", "["):
            return spec
    return None
