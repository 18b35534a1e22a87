"""Verdicts a student can trust: each single-bug mutant fails exactly its checks with the right diagnosis.
Everything runs through the `grade` command; correct variants are in test_gradient_variants.py."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from grader.cli import main

HERE = Path(__file__).resolve().parent
MUTANTS = HERE / "gradient_corpus"
EXPECTED: dict[str, dict[str, dict[str, str]]] = tomllib.loads((MUTANTS / "expected.toml").read_text(encoding="utf-8"))
# The checks this file is about; training verdicts are covered by tests/test_cli.py.
JUDGED = ("numpy.*.backward", "numpy.softmax.stability", "framework.model.forward", "framework.model.architecture")

pytestmark = pytest.mark.slow


def grade_folder(folder: Path, out: Path, mnist_dir: Path, seed: int, only: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Grade a class folder through the CLI; {student: result.json}."""
    code = main([str(folder), "--out", str(out), "--mnist", str(mnist_dir), "--seed", str(seed), "--no-color", "--only", *only])
    assert code == 0
    return {p.name: json.loads((p / "result.json").read_text(encoding="utf-8")) for p in out.iterdir() if p.is_dir()}


def is_judged(check_id: str) -> bool:
    return check_id.endswith(".backward") or check_id in JUDGED


@pytest.fixture(scope="module")
def mutant_results(tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path) -> dict[str, dict[str, Any]]:
    return grade_folder(MUTANTS, tmp_path_factory.mktemp("mutants"), mnist_dir, 20261127, JUDGED)


def test_corpus_has_at_least_15_single_bug_mutants() -> None:
    cases = sorted(p.name for p in MUTANTS.iterdir() if p.is_dir())
    assert cases == sorted(EXPECTED)
    assert len(cases) >= 15


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_mutant_fails_exactly_its_checks_with_the_right_diagnosis(mutant_results: dict[str, dict[str, Any]], case: str) -> None:
    checks = {c["id"]: c for c in mutant_results[case]["checks"]}
    want = {cid: spec["status"] for cid, spec in EXPECTED[case].items() if is_judged(cid)}
    assert {cid: c["status"] for cid, c in checks.items() if c["status"] != "passed"} == want
    for cid, spec in EXPECTED[case].items():
        if is_judged(cid):
            assert_verdict_names_the_cause(checks[cid], spec)


def assert_verdict_names_the_cause(check: dict[str, Any], spec: dict[str, str]) -> None:
    """The diagnosis (or, for framework checks, the message that names the mistake) says it."""
    __tracebackhide__ = True
    texts = (check["diagnosis"] or "", check["message"])
    if "diagnosis" in spec:
        assert any(t.startswith(spec["diagnosis"]) for t in texts), check
    if "diagnosis_contains" in spec:
        assert any(spec["diagnosis_contains"] in t for t in texts), check


@pytest.mark.parametrize("case", sorted(c for c in EXPECTED if any(k.endswith(".backward") for k in EXPECTED[c])))
def test_failed_gradient_carries_a_heat_map_and_numbers(mutant_results: dict[str, dict[str, Any]], case: str) -> None:
    failed = [c for c in mutant_results[case]["checks"] if c["status"] == "failed" and c["id"].endswith(".backward")]
    maps = [v for c in failed for v in c["evidence"].values() if isinstance(v, dict) and "rel_err_map" in v]
    # No map where there is nothing elementwise to compare: a wrong shape, a wrong type, a state bug.
    no_map = any(c["message"].startswith(("Relu.forward modified", "Relu.backward after", "Relu.backward returned"))
                 or " has shape " in c["message"] for c in failed)
    assert maps or no_map
    for gradient in maps:
        assert {"expected_excerpt", "got_excerpt", "rel_err_tol"} <= set(gradient)


def test_mutant_report_shows_the_diagnosis_and_a_heat_map(mnist_dir: Path, tmp_path: Path) -> None:
    code = main([str(MUTANTS / "softmax_diagonal"), "--out", str(tmp_path), "--mnist", str(mnist_dir), "--seed", "3",
                 "--only", "numpy.softmax.backward", "--no-color"])
    html = (tmp_path / "softmax_diagonal" / "report.html").read_text(encoding="utf-8")
    assert code == 0
    assert "only the diagonal of the softmax Jacobian is used" in html
    assert "<svg" in html and "relative error" in html
