"""bench/all.py runs every benchmark script (CI runs it with --smoke, so none can rot unnoticed)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _all() -> object:
    spec = importlib.util.spec_from_file_location("bench_all", BENCH / "all.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_script_in_bench_is_run_or_said_why_not() -> None:
    module = _all()
    listed = set(module.BENCHES) | set(module.NOT_BENCHES)  # type: ignore[attr-defined]
    assert sorted(p.name for p in BENCH.glob("*.py")) == sorted(listed)


def test_a_failing_benchmark_fails_the_run(tmp_path: Path) -> None:
    # A copy of all.py beside a script that crashes: the runner must exit 1 and name it.
    (tmp_path / "all.py").write_text((BENCH / "all.py").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "broken.py").write_text("raise SystemExit('broken on purpose')\n", encoding="utf-8")
    source = (tmp_path / "all.py").read_text(encoding="utf-8")
    start = source.index("BENCHES: dict")
    end = source.index('"""Each benchmark and how it is run."""')
    patched = source[:start] + 'BENCHES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {"broken.py": ((), ())}\n' + source[end:]
    (tmp_path / "all.py").write_text(patched, encoding="utf-8")
    done = subprocess.run([sys.executable, str(tmp_path / "all.py"), "--smoke"], capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "failed: broken.py" in done.stderr
