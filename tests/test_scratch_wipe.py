"""The template's wipe of /tmp and /dev/shm removes what the sandbox made and nothing bound into it.

A virtualenv or checkout below the host's /tmp is ro-bound at the same path below the
sandbox's private /tmp; a writable bind there would be the host's own files.  These tests
run the wipe inside a real bubblewrap sandbox with such binds, and through the real pool.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest

from grader.intake import load_submission
from grader.records import RunResult
from grader.sandbox.limits import Limits
from grader.sandbox import Job, isolation  # isolation: the module, to patch what the template binds
from grader.sandbox.forkserver import mounts_below
from grader.sandbox.pool import WarmRunner
from grader.checks.softmax_stability.worker import TASK as STABILITY, StabilityParams

LIMITS = Limits(timeout_s=10)
CI = os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None and not CI, reason="bubblewrap is not installed")
"""CI installs bubblewrap (.ci/run): there `require_bwrap` fails the test instead of skipping it."""

# Inside the sandbox (the test's own layout below its private /tmp).
VENV = "/tmp/venvhome/.venv"
DATA = "/tmp/shared/data"
CHECKOUT = "/tmp/co/nn-grader"
SLOT = "/tmp/nn-grader-pool-1-test/slot-test"
MOUNTS = (VENV, DATA, CHECKOUT, SLOT)

STUDENT = r'''
import json, os, sys
from pathlib import Path
from grader.sandbox.forkserver import mounts_below, wipe

venv, data, slot, use_table = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "table"
junk = ["/tmp/junk/a/b/c/deep.txt", "/tmp/junk/locked/inner/x.txt", "/tmp/junk/locked/secret",
        "/tmp/junk/readonly/f.txt", "/tmp/link-to-data-file", "/tmp/link-to-data-dir", "/tmp/junk/link-to-venv",
        "/tmp/venvhome/beside-venv.txt", "/tmp/venvhome/beside-dir/f.txt", "/tmp/fifo", "/dev/shm/left"]
for path in junk:
    if "link" not in path and "fifo" not in path:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "w").write("student junk")
os.symlink(data + "/secret.txt", "/tmp/link-to-data-file")
os.symlink(data, "/tmp/link-to-data-dir")
os.symlink(venv, "/tmp/junk/link-to-venv")
os.mkfifo("/tmp/fifo")
for path, mode in [("/tmp/junk/locked/secret", 0), ("/tmp/junk/locked/inner", 0), ("/tmp/junk/locked", 0),
                   ("/tmp/junk/readonly", 0o500), ("/tmp/junk/a/b", 0o200)]:
    os.chmod(path, mode)
try:
    open("/tmp/junk/locked/secret")
    sys.exit("chmod 000 does not hold in this sandbox: the test would prove nothing")
except PermissionError:
    pass
os.chmod("/tmp", 0)  # the scratch folders themselves belong to the sandbox's user too
os.chmod("/dev/shm", 0o500)
mounts = mounts_below(["/tmp", "/dev/shm"]) if use_table else frozenset()
logs = [wipe(Path(folder), Path(slot), mounts) for folder in ("/tmp", "/dev/shm")]
print(json.dumps({
    "table": sorted(mounts),
    "visited": [v for log in logs for v in log.visited],
    "skipped": [s for log in logs for s in log.skipped],
    "kept": [k for log in logs for k in log.kept],
    "failed": [f for log in logs for f in log.failed],
    "left": [p for p in junk if os.path.lexists(p)],
    "tmp": sorted(os.listdir("/tmp")),
    "venvhome": sorted(os.listdir("/tmp/venvhome")),
}))
'''


def require_bwrap() -> str:
    """bwrap's path; skip the test without a working one, but fail it in CI, which installs it."""
    path, why = isolation._working_bwrap()
    if path is None:
        if CI:
            pytest.fail(f"CI=true but bubblewrap cannot run here: {why}")
        pytest.skip(f"bubblewrap cannot run here: {why}")
    return path


def make_tree(root: Path, files: int) -> None:
    """A venv-like tree: `files` small modules in nested packages, plus a symlink as venvs have."""
    for i in range(files):
        module = root / "lib" / "python3" / "site-packages" / f"pkg{i % 20}" / f"sub{i % 3}" / f"mod{i}.py"
        module.parent.mkdir(parents=True, exist_ok=True)
        module.write_text(f"VALUE = {i}\n", encoding="utf-8")
    (root / "bin").mkdir()
    (root / "bin" / "python").symlink_to(sys.executable)


def installation_mounts() -> set[str]:
    """Where the sandbox binds the grader's own installation below /tmp (a checkout or venv under /tmp, as in CI)."""
    args = isolation._bwrap_args([], [], Path("/"), None)
    dests = {args[i + 2] for i, a in enumerate(args) if a in ("--ro-bind", "--bind") and i + 2 < len(args)}
    dests |= {args[i + 1] for i, a in enumerate(args) if a == "--tmpfs" and i + 1 < len(args)}
    return {d for d in dests if d.startswith("/tmp/")}


def installation_tops() -> list[str]:
    """The /tmp entries that hold the installation's mount points: a wipe keeps them."""
    return sorted({d.split("/")[2] for d in installation_mounts()})


def snapshot(root: Path) -> dict[str, str]:
    """Every entry below `root`: a file's content, a symlink's target, or 'dir'."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            found[key] = "-> " + os.readlink(path)
        elif path.is_dir():
            found[key] = "dir"
        else:
            found[key] = path.read_text(encoding="utf-8")
    return found


@pytest.fixture
def host(tmp_path: Path) -> dict[str, Path]:
    """The host folders bound into the sandbox, each with something to lose."""
    folders = {"venv": tmp_path / "venv", "data": tmp_path / "data", "checkout": tmp_path / "checkout",
               "slot": tmp_path / "slot"}
    make_tree(folders["venv"], 300)
    make_tree(folders["checkout"], 40)
    folders["data"].mkdir()
    (folders["data"] / "secret.txt").write_text("the host's own file", encoding="utf-8")
    (folders["slot"] / "job-1").mkdir(parents=True)
    (folders["slot"] / "job-1" / "job.json").write_text("{}", encoding="utf-8")
    return folders


def wipe_in_sandbox(bwrap: str, host: dict[str, Path], *, use_table: bool) -> dict[str, Any]:
    """Run STUDENT in a sandbox like a template's, with the host folders bound below its /tmp."""
    args = isolation._bwrap_args([], [], Path("/"), None)  # system, Python, grader; a private /tmp
    args += ["--ro-bind", str(host["venv"]), VENV, "--bind", str(host["data"]), DATA,
             "--ro-bind", str(host["checkout"]), CHECKOUT, "--bind", str(host["slot"]), SLOT]
    table = "table" if use_table else "device-only"
    done = subprocess.run([bwrap, *args, "--", sys.executable, "-I", "-c", STUDENT, VENV, DATA, SLOT, table],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@needs_bwrap
@pytest.mark.parametrize("use_table", [True, False], ids=["mount-table", "device-number-only"])
def test_wipe_removes_student_junk_and_never_enters_a_mount(host: dict[str, Path], use_table: bool) -> None:
    bwrap = require_bwrap()
    before = {name: snapshot(folder) for name, folder in host.items()}
    result = wipe_in_sandbox(bwrap, host, use_table=use_table)
    assert result["failed"] == []
    assert result["left"] == [], "student junk survived the wipe"
    assert {name: snapshot(folder) for name, folder in host.items()} == before, "a host file was changed or removed"
    assert (host["data"] / "secret.txt").read_text(encoding="utf-8") == "the host's own file"
    inside = [v for v in result["visited"] if any(v.startswith(m + "/") for m in MOUNTS)]
    assert inside == [], "the wipe looked inside a mount point"
    assert len(result["visited"]) < 40, "the wipe walked far more than the student's few entries"
    assert set(result["skipped"]) == set(MOUNTS) | installation_mounts()
    # Directories that hold a mount point stay, emptied of everything else.
    assert result["tmp"] == sorted({"co", "nn-grader-pool-1-test", "shared", "venvhome", *installation_tops()})
    assert result["venvhome"] == [".venv"]
    assert {"/tmp/venvhome", "/tmp/co", "/tmp/shared", "/tmp/nn-grader-pool-1-test"} <= set(result["kept"])
    if use_table:
        assert set(result["table"]) == set(MOUNTS) | installation_mounts()


def test_mount_table_entries_below_the_scratch_folders(tmp_path: Path) -> None:
    table = tmp_path / "mountinfo"
    lines = ["84 72 0:53 / /tmp rw,nosuid - tmpfs tmpfs rw",
             "86 84 254:0 /x /tmp/my\\040venv/.venv ro,nosuid - ext4 /dev/vda rw",
             "87 84 254:0 /y /tmp/slot rw,nosuid - ext4 /dev/vda rw",
             "88 72 254:0 /usr /usr ro,nosuid - ext4 /dev/vda rw",
             "89 72 254:0 /z /tmpfoo ro,nosuid - ext4 /dev/vda rw",
             "90 73 0:54 / /dev/shm/q rw - tmpfs tmpfs rw"]
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert mounts_below(["/tmp", "/dev/shm"], str(table)) == {"/tmp/my venv/.venv", "/tmp/slot", "/dev/shm/q"}


def student_job(folder: Path, body: str) -> Job:
    """A Softmax job whose class body is `body` (it runs when the class is defined, inside the child)."""
    folder.mkdir()
    source = "import os, sys\nimport numpy as np\n\nclass Softmax:\n" + textwrap.indent(body or "pass", "    ")
    source += "\n    def forward(self, x):\n        e = np.exp(x - x.max())\n        return e / e.sum()\n"
    (folder / "hw.py").write_text(source, encoding="utf-8")
    part = load_submission(folder).numpy_part
    assert part is not None
    return STABILITY.job(part.units, StabilityParams(), part.supplied_imports)


def run_job(pool: WarmRunner, folder: Path, body: str = "") -> RunResult:
    return pool.run(student_job(folder, body), {"x": np.ones((1, 3))}, LIMITS, phase="forward")


@pytest.fixture
def below_tmp() -> Iterator[Path]:
    """A host folder below the host's /tmp, as a virtualenv or checkout there would be."""
    folder = Path(tempfile.mkdtemp(prefix="nn-grader-test-venv-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def bind_into_templates(monkeypatch: pytest.MonkeyPatch, ro: Path, rw: Path) -> None:
    """Make every template's sandbox ro-bind `ro` (as it binds sys.prefix) and bind `rw` writable."""
    readable = isolation._readable_paths()  # read by the grader's process when it builds the bwrap argv
    monkeypatch.setattr(isolation, "_readable_paths", lambda: (*readable, str(ro)))
    real_args = isolation._bwrap_args

    def with_rw(readable: list[Path], writable: list[Path], chdir: Path, seccomp_fd: int | None,
                scratch: isolation.Scratch | None = None, sized: tuple[Path, ...] = ()) -> list[str]:
        return real_args(readable, [*writable, rw], chdir, seccomp_fd, scratch, sized)

    monkeypatch.setattr(isolation, "_bwrap_args", with_rw)


def junk_and_probe(below_tmp: Path) -> tuple[str, str]:
    """Class bodies: one leaves junk (links into the writable bind, a locked folder), one reports what is left."""
    data, venv = below_tmp / "data", below_tmp / "venv"
    junk = (f"os.symlink('{data}/secret.txt', '/tmp/link')\nos.symlink('{data}', '/tmp/dirlink')\n"
            f"open('{below_tmp}/beside.txt', 'w').write('x')\nos.makedirs('/tmp/j/k')\nos.chmod('/tmp/j', 0)\n"
            "open('/dev/shm/s', 'w').write('x')\nraise RuntimeError(f'made {sorted(os.listdir(\"/tmp\"))}')")
    probe = ("import json\nraise RuntimeError('<<' + json.dumps({'tmp': sorted(os.listdir('/tmp')), "
             f"'beside': sorted(os.listdir('{below_tmp}')), 'shm': os.listdir('/dev/shm'), "
             f"'venv': len(os.listdir('{venv}/lib/python3/site-packages'))}}) + '>>')")
    return junk, probe


@needs_bwrap
def test_a_pool_whose_venv_lies_below_tmp_keeps_it(below_tmp: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_bwrap()
    make_tree(below_tmp / "venv", 300)
    (below_tmp / "data").mkdir()
    (below_tmp / "data" / "secret.txt").write_text("the host's own file", encoding="utf-8")
    before = snapshot(below_tmp)
    bind_into_templates(monkeypatch, below_tmp / "venv", below_tmp / "data")
    junk, probe = junk_and_probe(below_tmp)
    with WarmRunner(1, isolation=isolation.select_isolation("bwrap"), limits=LIMITS) as pool:
        made = run_job(pool, tmp_path / "s0", junk)
        results = [run_job(pool, tmp_path / f"s{i}") for i in range(1, 5)]
        seen = run_job(pool, tmp_path / "s5", probe)
        starts = pool._servers[0].starts
    assert made.error is not None and "'dirlink', 'j', 'link'" in str(made.error.message), made.error
    assert [r.error for r in results] == [None] * 4
    assert seen.error is not None and "<<" in str(seen.error.message), seen.error
    left = json.loads(str(seen.error.message).split("<<")[1].split(">>")[0])
    pool_dirs = [name for name in left["tmp"] if name.startswith("nn-grader-pool-")]  # the slot's own mount point
    tops = sorted({below_tmp.name, *pool_dirs, *installation_tops()})
    assert left == {"tmp": tops, "beside": ["data", "venv"], "shm": [], "venv": 20}
    assert starts == 1, "the template was restarted: its wipe failed"
    assert snapshot(below_tmp) == before, "a host file below /tmp was changed or removed"
