"""Run every benchmark of bench/: at full size (the figures the README's speed page shows), or small (CI).

    python bench/all.py            # full size: minutes; prints each script's table
    python bench/all.py --smoke    # a few students, one run each: CI runs this so no benchmark rots unnoticed

Exits 1 when a script fails (a crash, or its own non-zero exit), naming it; every script still runs.
A new script in bench/ must be added to BENCHES (a test checks that none is missing).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent

BENCHES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # script: (full-size arguments, smoke arguments)
    "batch.py": ((), ("--n", "4", "--jobs", "2", "--baseline", "0")),
    "calibrate.py": ((), ("--seeds", "0")),
    "intake.py": ((), ("--runs", "2")),
    "isolation.py": ((), ("--runs", "2")),
    "similarity.py": ((), ("--n", "10", "--methods", "tokens", "--seeds", "1")),
    "verdicts.py": ((), ("--smoke",)),
}
"""Each benchmark and how it is run."""
NOT_BENCHES = {"all.py": "this runner", "cluster.py": "a library of batch.py --scheduler ADDR (needs a running Dask cluster)"}


def run(script: str, args: tuple[str, ...]) -> tuple[int, float]:
    """One benchmark's exit code and wall time; its output goes straight to ours."""
    start = time.monotonic()
    done = subprocess.run([sys.executable, str(BENCH / script), *args], check=False)
    return done.returncode, time.monotonic() - start


def main() -> int:
    """Run them all; 1 if any failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small sizes, for CI")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHES), help="run these scripts only")
    args = parser.parse_args()
    failed: list[str] = []
    for script, (full, smoke) in BENCHES.items():
        if args.only and script not in args.only:
            continue
        print(f"== bench/{script} {' '.join(smoke if args.smoke else full)}", flush=True)
        code, seconds = run(script, smoke if args.smoke else full)
        print(f"== bench/{script}: exit {code} in {seconds:.1f} s", flush=True)
        if code != 0:
            failed.append(script)
    if failed:
        print(f"bench/all.py: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
