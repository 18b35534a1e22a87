"""autograder.zip on a clean system: setup.sh and run_autograder really run, as Gradescope runs them.

A Debian bookworm base system (debootstrap --variant=minbase, nothing but apt and coreutils;
Gradescope's Ubuntu image has more) is the image; bubblewrap runs each script in it as root,
with /autograder laid out as Gradescope lays it out: the zip unpacked in /autograder/source,
run_autograder copied to /autograder/run_autograder, the student's files in
/autograder/submission, results in /autograder/results.

Slow and off by default: it downloads a base system, PyTorch's dependencies and the grader's
from the package registries (5 to 10 minutes).  Run it with

    GRADER_GRADESCOPE_TEST=1 .venv/bin/python -m pytest tests/test_gradescope_image.py

as root, with debootstrap and bubblewrap installed (apt-get install debootstrap bubblewrap).
What differs from Gradescope, and why:
- MNIST is copied into the cache setup.sh downloads it to (`GRADER_MNIST_DIR` or
  ../shared/data/mnist), since this machine reaches no MNIST mirror; setup.sh still checks it.
- Where download.pytorch.org cannot be reached, torch comes from a local folder of wheels:
  `GRADER_TORCH_WHEELS` (default: the find-links folder of this machine's pip, e.g. /opt/wheels)
  is mounted into the image as PIP_FIND_LINKS, and TORCH_INDEX points at PyPI (the local
  `+cpu` wheel sorts above PyPI's build of the same version, so pip takes it).
- The host's CA bundle is given to pip (PIP_CERT), for machines behind a TLS-inspecting proxy.
- `GRADER_GRADESCOPE_ROOTFS=FILE.tar` unpacks a saved base system instead of running debootstrap
  (`tar -C ROOT -cf FILE.tar .` after one debootstrap) to re-run faster.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from grader.gradescope_autograder import build_autograder_zip

from .conftest import CORPUS, REPO
from .test_gradescope import _validate

pytestmark = [pytest.mark.slow, pytest.mark.gradescope_image]

ENABLED = os.environ.get("GRADER_GRADESCOPE_TEST") == "1"
MIRROR = os.environ.get("GRADER_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SETUP_TIMEOUT_S = 1800
RUN_TIMEOUT_S = 600


def _torch_wheels() -> Path | None:
    """A local folder holding the pinned torch wheel, if this machine has one (pip's find-links)."""
    named = os.environ.get("GRADER_TORCH_WHEELS") or os.environ.get("PIP_FIND_LINKS", "").split(" ")[0]
    if not named:
        found = subprocess.run(["pip", "config", "get", "global.find-links"], capture_output=True, text=True)
        named = found.stdout.strip().split(" ")[0] if found.returncode == 0 else ""
    path = Path(named) if named else None
    return path if path is not None and any(path.glob("torch-*.whl")) else None


def _ca_bundle() -> Path | None:
    path = Path(os.environ.get("PIP_CERT", "/etc/ssl/certs/ca-certificates.crt"))
    return path if path.is_file() else None


def _in_image(root: Path, command: Sequence[str], *, cwd: str, env: dict[str, str] | None = None,
              timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """Run `command` as root inside the image `root`, as a container would: its own /proc, /dev, /tmp and pids."""
    args = ["bwrap", "--bind", str(root), "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
            "--ro-bind", "/etc/resolv.conf", "/etc/resolv.conf", "--cap-add", "ALL",
            "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--clearenv",
            "--setenv", "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--setenv", "HOME", "/root", "--setenv", "LANG", "C.UTF-8", "--chdir", cwd]
    wheels, ca = _torch_wheels(), _ca_bundle()
    if wheels is not None:
        args += ["--ro-bind", str(wheels), "/run/torch-wheels", "--setenv", "PIP_FIND_LINKS", "/run/torch-wheels",
                 "--setenv", "TORCH_INDEX", "https://pypi.org/simple"]
    if ca is not None:
        args += ["--ro-bind", str(ca), "/run/host-ca.crt", "--setenv", "PIP_CERT", "/run/host-ca.crt"]
    for name, value in (env or {}).items():
        args += ["--setenv", name, value]
    return subprocess.run([*args, *command], capture_output=True, text=True, timeout=timeout)


def _base_system(root: Path) -> None:
    saved = os.environ.get("GRADER_GRADESCOPE_ROOTFS")
    if saved:
        with tarfile.open(saved) as tar:
            tar.extractall(root, filter="fully_trusted")  # our own saved base system, devices included
        return
    done = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(root), MIRROR],
                          capture_output=True, text=True, timeout=SETUP_TIMEOUT_S)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _lay_out_autograder(root: Path, zip_path: Path, mnist: Path) -> None:
    """/autograder as Gradescope builds it: the zip unpacked (with its modes) in source/."""
    source = root / "autograder" / "source"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(source)
        for info in archive.infolist():
            (source / info.filename).chmod((info.external_attr >> 16) & 0o777)
    cache = root / "autograder" / "cache" / "nn-grader" / "mnist"
    cache.mkdir(parents=True)
    for file in mnist.iterdir():
        if "idx" in file.name:
            shutil.copy(file, cache / file.name)
    (root / "autograder" / "results").mkdir()


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean Debian root with autograder.zip set up by its own setup.sh."""
    if not ENABLED:
        pytest.skip("downloads a Debian base system and PyTorch: set GRADER_GRADESCOPE_TEST=1 to run it")
    if os.geteuid() != 0 or not shutil.which("debootstrap") or not shutil.which("bwrap"):
        pytest.skip("needs root, debootstrap and bubblewrap: apt-get install debootstrap bubblewrap, and run as root")
    mnist = Path(os.environ.get("GRADER_MNIST_DIR", REPO.parent / "shared" / "data" / "mnist"))
    root = tmp_path_factory.mktemp("gradescope") / "root"
    _base_system(root)
    _lay_out_autograder(root, build_autograder_zip(root.parent / "autograder.zip", rubric=None), mnist)
    setup = _in_image(root, ["bash", "./setup.sh"], cwd="/autograder/source", timeout=SETUP_TIMEOUT_S)
    (root.parent / "setup.log").write_text(setup.stdout + setup.stderr, encoding="utf-8")
    assert setup.returncode == 0, f"setup.sh failed (log: {root.parent / 'setup.log'}):\n{setup.stderr[-4000:]}"
    shutil.copy(root / "autograder" / "source" / "run_autograder", root / "autograder" / "run_autograder")
    return root


def _run_submission(root: Path, files: dict[str, Path]) -> dict[str, object]:
    """Put `files` into /autograder/submission, run /autograder/run_autograder, return results.json."""
    submission = root / "autograder" / "submission"
    shutil.rmtree(submission, ignore_errors=True)
    submission.mkdir()
    for name, source in files.items():
        shutil.copy(source, submission / name)
    done = _in_image(root, ["/autograder/run_autograder"], cwd="/autograder")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results: dict[str, object] = json.loads((root / "autograder" / "results" / "results.json").read_text(encoding="utf-8"))
    return results


def test_setup_installs_a_grader_that_runs_from_the_venv(image: Path) -> None:
    done = _in_image(image, ["/autograder/venv/bin/grade", "--doctor"], cwd="/autograder",
                     env={"GRADER_MNIST_DIR": "/autograder/cache/nn-grader/mnist"})

    # Inside a container bubblewrap may not nest (it cannot mount /proc): then rlimits must hold.
    assert "rlimits    holds" in done.stdout and "timeout    holds" in done.stdout, done.stdout + done.stderr
    assert "torch      holds (2.13.0" in done.stdout and "mnist      holds" in done.stdout, done.stdout


def test_run_autograder_gives_a_correct_submission_full_marks(image: Path) -> None:
    results = _run_submission(image, {"report.md": CORPUS / "correct_md_torch" / "report.md"})

    parsed = _validate(results)
    assert parsed.score == 100, json.dumps(results, ensure_ascii=False)[:3000]
    assert parsed.tests is not None and len(parsed.tests) == 10


def test_run_autograder_grades_a_buggy_submission_without_crashing(image: Path) -> None:
    results = _run_submission(image, {"report.md": CORPUS / "mutant_relu" / "report.md"})

    parsed = _validate(results)
    assert parsed.tests is not None
    verdicts = {t.name: t.status for t in parsed.tests}
    assert verdicts["numpy.relu.backward"] == "failed" and verdicts["numpy.matmul.backward"] == "passed"
