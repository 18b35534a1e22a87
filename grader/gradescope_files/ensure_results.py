"""Make sure Gradescope finds a valid results.json, even when the grader crashed.

Usage (from run_autograder):

    python3 ensure_results.py RESULTS_JSON LOG_FILE EXIT_CODE MAX_SCORE

A RESULTS_JSON that holds a JSON object with a numeric "score" is left alone.
Otherwise (missing, empty, half-written or not Gradescope's format) it is
replaced by a results.json with score 0 and one failed test whose output names
the exit code and quotes the end of the grader's log, so the student sees that
grading failed rather than a silent zero, and staff see why.

Standard library only, and Python 3.8 syntax: it runs with the system python3,
because the crash may be the grader's own virtual environment being broken.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

_LOG_LINES = 40
_LOG_CHARS = 4000
_USAGE = "usage: ensure_results.py RESULTS_JSON LOG_FILE EXIT_CODE MAX_SCORE"


def main(argv: list[str]) -> int:
    """Check or write RESULTS_JSON; returns 0, or 2 on a usage error."""
    if len(argv) != 5:
        print(f"ensure_results.py: expected 4 arguments, got {len(argv) - 1}; {_USAGE}", file=sys.stderr)
        return 2
    results, log, exit_code, max_score = Path(argv[1]), Path(argv[2]), argv[3], float(argv[4])
    if not _is_valid(results):
        _write_json(results, failure_results(_log_tail(log), exit_code, max_score))
    return 0


def failure_results(log_tail: str, exit_code: str, max_score: float) -> dict[str, Any]:
    """A results.json that gives 0 points and says grading failed, with the log's end."""
    output = (
        f"The autograder could not grade this submission: the grader exited with status {exit_code} "
        "and wrote no usable results. This is not a verdict on your code; tell your instructor."
        "\n\nEnd of the grader's output:\n" + (log_tail or "(no output)")
    )
    test = {"score": 0.0, "max_score": max_score, "status": "failed", "name": "autograder",
            "number": "1", "output": output, "output_format": "text", "visibility": "visible"}
    return {"score": 0.0, "execution_time": 0, "output": output, "output_format": "text",
            "visibility": "visible", "stdout_visibility": "hidden", "tests": [test]}


def _is_valid(results: Path) -> bool:
    try:
        content = json.loads(results.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # missing, unreadable, not UTF-8 or not JSON
        return False
    score = content.get("score") if isinstance(content, dict) else None
    return isinstance(score, (int, float)) and not isinstance(score, bool)


def _log_tail(log: Path) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text[-_LOG_CHARS:].splitlines()[-_LOG_LINES:])


def _write_json(path: Path, content: dict[str, Any]) -> None:
    # Via a temporary file and a rename, so Gradescope never reads half a file.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".results.", suffix=".tmp")
    with open(fd, "w", encoding="utf-8") as stream:
        json.dump(content, stream, indent=2, ensure_ascii=False)
    os.chmod(temp, 0o644)
    os.replace(temp, path)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
