"""`ast.parse` for a grader that parses in several threads at once.

CPython 3.11 keeps the recursion depth of its AST conversion and optimiser in
per-interpreter state, so two threads parsing or compiling Python at the same
moment can fail with "SystemError: AST constructor recursion depth mismatch"
(CPython gh-106905).  A class batch grades submissions in threads, so every parse
on the grader's side, and every compile of a jinja2 template, holds `COMPILE_LOCK`.
"""

from __future__ import annotations

import ast
import threading
import warnings

COMPILE_LOCK = threading.Lock()
"""Held while Python source is parsed or compiled in the grader's own process."""


def parse(source: str) -> ast.Module:
    """`ast.parse(source)`, one thread at a time and without SyntaxWarnings; raises as ast.parse does.

    Invalid escape sequences in a student's strings are not the grader's business,
    and `warnings.catch_warnings` is itself not thread-safe, hence inside the lock.
    """
    with COMPILE_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(source)
