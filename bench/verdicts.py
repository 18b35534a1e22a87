"""Every verdict of the test corpora at one seed, as JSON: diff two dumps to prove a refactor changed none.

    python bench/verdicts.py --out /tmp/before.json           # full: every corpus folder of the tests
    python bench/verdicts.py --smoke --out /tmp/smoke.json    # CI: one small corpus
    python bench/verdicts.py --diff /tmp/before.json /tmp/after.json [--noise /tmp/before2.json]

--noise names a second dump of the unchanged code at the same seed: checks that differ between it
and BEFORE are not deterministic (Keras training is not, today) and are left out of the diff.

A verdict is what a student and a TA read: status, points, message and diagnosis (id, arguments and
English text) and the evidence's kind; timings, dates and versions are left out.  Each corpus folder
is graded as one class by the `grade` command (its own workers, its own seed), so the dump is what a
user would get.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPORA = ("tests/corpus", "tests/gradient_corpus", "tests/gradient_variants", "tests/real_submissions", "tests/attacks", "submissions")
SMOKE = ("tests/gradient_corpus",)
KEPT = ("id", "status", "score", "max_score", "message", "message_id", "message_args", "diagnosis", "diagnosis_id", "diagnosis_args")


def verdicts(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The student-facing part of each check of one result.json."""
    return [{**{k: c.get(k) for k in KEPT}, "evidence": (c.get("evidence") or {}).get("kind")} for c in result.get("checks", [])]


def dump(corpora: tuple[str, ...], seed: int, jobs: int) -> dict[str, Any]:
    """Grade each corpus folder as a class and collect every student's verdicts."""
    out: dict[str, Any] = {}
    grade = Path(sys.executable).with_name("grade")
    for corpus in corpora:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [str(grade), str(ROOT / corpus), "--out", tmp, "--seed", str(seed), "--jobs", str(jobs), "--no-color"]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            print(f"{corpus}: exit {done.returncode}", file=sys.stderr)
            for result in sorted(Path(tmp).glob("*/result.json")):
                data = json.loads(result.read_text(encoding="utf-8"))
                out[f"{corpus}/{result.parent.name}"] = {"score": data.get("score"), "checks": verdicts(data)}
    return out


def diff(before: dict[str, Any], after: dict[str, Any], noisy: frozenset[tuple[str, str]] = frozenset()) -> list[str]:
    """Each student and check whose verdict differs, in words (but the `noisy` (student, check) pairs)."""
    lines = [f"only before: {k}" for k in sorted(before.keys() - after.keys())]
    lines += [f"only after: {k}" for k in sorted(after.keys() - before.keys())]
    for key in sorted(before.keys() & after.keys()):
        old = {c["id"]: c for c in before[key]["checks"]}
        new = {c["id"]: c for c in after[key]["checks"]}
        for check in sorted(old.keys() | new.keys()):
            if old.get(check) != new.get(check) and (key, check) not in noisy:
                lines.append(f"{key} {check}:\n  before {json.dumps(old.get(check), ensure_ascii=False)}\n"
                             f"  after  {json.dumps(new.get(check), ensure_ascii=False)}")
    return lines


def main() -> int:
    """Dump or diff; exit 1 when a diff finds a difference."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="one small corpus (CI)")
    parser.add_argument("--diff", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    parser.add_argument("--noise", type=Path, metavar="BEFORE2", help="a second dump of BEFORE's code: what differs is noise")
    args = parser.parse_args()
    if args.diff:
        before, after = (json.loads(p.read_text(encoding="utf-8")) for p in args.diff)
        noisy: frozenset[tuple[str, str]] = frozenset()
        if args.noise:
            again = json.loads(args.noise.read_text(encoding="utf-8"))
            noisy = frozenset((k, c["id"]) for k in before.keys() & again.keys() for c in before[k]["checks"]
                              if c != next((d for d in again[k]["checks"] if d["id"] == c["id"]), None))
            print(f"left out as noise (differ between two runs of the same code): {sorted(noisy)}", file=sys.stderr)
        lines = diff(before, after, noisy)
        print("\n".join(lines) or "no verdict differs")
        return 1 if lines else 0
    data = dump(SMOKE if args.smoke else CORPORA, args.seed, args.jobs)
    text = json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    checks = sum(len(v["checks"]) for v in data.values())
    print(f"{len(data)} students, {checks} verdicts")
    return 0 if data else 1


if __name__ == "__main__":
    sys.exit(main())
