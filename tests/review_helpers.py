"""A small graded class for the review tests: real `grade` runs on corpus submissions, one of them hostile."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .conftest import CORPUS

FAST = ("--only", "numpy.relu.backward", "numpy.matmul.backward")
"""Two gradient checks: each student is graded for real in well under a second."""
HOSTILE = "h<img src=x onerror=window.pwned=1>"
"""A student folder name that is HTML (a folder name cannot hold '/', so no </script>)."""
SCRIPT = "<script>window.pwned=2</script>"
IMG = '<img src=x onerror="window.pwned=3">'
STAFF_SECRETS = ("STAFF-SECRET-REASON", "STAFF-SECRET-COMMENT", "STAFF-SECRET-NOTE")
"""Texts entered as staff-only in the tests: no file a student receives may contain one."""


def build_class(root: Path) -> Path:
    """s1 and s3 correct (the same code: a flagged similarity pair), s2 with a wrong ReLU backward, and the hostile
    student: a notebook whose code and outputs hold <script> and onerror=."""
    root.mkdir(parents=True)
    shutil.copytree(CORPUS / "correct_md_torch", root / "s1")
    shutil.copytree(CORPUS / "correct_md_torch", root / "s3")
    shutil.copytree(CORPUS / "mutant_relu", root / "s2")
    hostile = root / HOSTILE
    hostile.mkdir()
    notebook = json.loads((CORPUS / "correct_ipynb_torch" / "hw4.ipynb").read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code" and "".join(cell["source"]).startswith("class Relu"):
            source = "".join(cell["source"]).replace("class Relu:\n", f"class Relu:\n    # {SCRIPT} {IMG}\n", 1)
            cell["source"] = source
            cell["outputs"] = [{"output_type": "display_data", "metadata": {},
                                "data": {"text/html": [SCRIPT + IMG], "text/plain": [SCRIPT]}}]
    (hostile / "hw4.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    return root


def resubmit_fixed(root: Path, student: str) -> None:
    """`student` hands in again, now with the correct code (their autograder verdicts change)."""
    shutil.rmtree(root / student)
    shutil.copytree(CORPUS / "correct_md_torch", root / student)
