"""The grader parses Python in several threads at once (class batches), through one lock.

That every parse in the grader's own process goes through it is a lint rule (pyproject [tool.ruff.lint], run by .ci/run).
"""

from __future__ import annotations

import ast
import threading
import warnings
from pathlib import Path

import pytest

from grader.safe_ast import parse

GRADER = Path(__file__).resolve().parents[1] / "grader"


def test_parse_is_ast_parse_without_its_warnings() -> None:
    source = 'path = "C:\\d"\n'  # an invalid escape sequence: ast.parse warns (Deprecation- or SyntaxWarning)
    with warnings.catch_warnings(record=True) as raw:
        warnings.simplefilter("always")
        expected = ast.dump(ast.parse(source))
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        assert ast.dump(parse(source)) == expected
    assert raw and not ours
    with pytest.raises(SyntaxError):
        parse("def f(:\n")


def test_threads_parsing_at_once_all_get_their_trees() -> None:
    source = (GRADER / "pipeline.py").read_text(encoding="utf-8")
    expected = ast.dump(ast.parse(source))
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.extend(ast.dump(parse(source)) for _ in range(20))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 80
