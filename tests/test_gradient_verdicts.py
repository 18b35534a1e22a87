"""Verdicts a student can trust: each single-bug mutant fails exactly its checks with the right diagnosis.
Everything runs through the `grade` command; correct variants are in test_gradient_variants.py."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from grader.cli import main
from grader.text import Message, render

HERE = Path(__file__).resolve().parent
MUTANTS = HERE / "gradient_corpus"
EXPECTED: dict[str, dict[str, dict[str, str]]] = tomllib.loads((MUTANTS / "expected.toml").read_text(encoding="utf-8"))
# The checks this file is about; training verdicts are covered by tests/test_cli.py.
JUDGED = ("numpy.*.backward", "numpy.softmax.stability", "framework.model.forward", "framework.model.architecture")
DIAGNOSIS_IDS = {
    "matmul_sign": "compare.diag.sign_flipped",
    "matmul_scaled": "compare.diag.scaled",
    "matmul_transposed": "compare.diag.transposed",
    "matmul_swapped": "compare.diag.wrong_shape",
    "relu_no_mask": "layers.diag.relu_mask_missing",
    "relu_inverted": "layers.diag.relu_mask_inverted",
    "relu_value_mask": "layers.diag.relu_masked_by_values",
    "relu_stale_cache": "layers.diag.stale_input",
    "relu_inplace": "layers.diag.modified_input",
    "relu_returns_list": "layers.diag.returned_list",
    "softmax_diagonal": "layers.diag.softmax_diagonal_only",
    "softmax_batch_axis": "layers.diag.softmax_batch_axis",
    "softmax_correction_sign": "layers.diag.softmax_correction_sign",
    "log_inv_square": "layers.diag.log_derivative_neg_sq",
    "log_square": "layers.diag.log_derivative_sq",
    "log_times_x": "layers.diag.log_times_x",
    "log_backward_mutates_cache": "layers.diag.backward_twice",
}
"""The diagnosis id of each layer mutant: reports mark source lines and count diagnoses by these ids."""
NO_MAP_IDS = frozenset({"layers.modified_input", "layers.stale_input", "layers.returned_list", "layers.not_ndarray",
                        "layers.not_float", "layers.grad_shape"})
"""Failures with nothing elementwise to compare: no heat map (a wrong shape, a wrong type, a state bug)."""
ENGLISH_PROSE = re.compile(r"\b[a-z]+(?: [a-z]+){3,}\b")
"""Four or more lowercase English words in a row: a clause a Chinese report would leave in English."""

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


@pytest.mark.parametrize("case", sorted(DIAGNOSIS_IDS))
def test_layer_mutant_diagnosis_has_its_id_and_reads_in_chinese(mutant_results: dict[str, dict[str, Any]], case: str) -> None:
    failed = [c for c in mutant_results[case]["checks"] if c["status"] == "failed"]
    assert [c["diagnosis_id"] for c in failed] == [DIAGNOSIS_IDS[case]]
    for field in ("message", "diagnosis"):
        message = Message.model_validate({"id": failed[0][f"{field}_id"], "args": failed[0][f"{field}_args"]})
        assert str(message) == failed[0][field]
        chinese = render(message, "zh")
        assert re.search(r"[\u4e00-\u9fff]", chinese) and not ENGLISH_PROSE.search(chinese), chinese


@pytest.mark.parametrize("case", sorted(c for c in EXPECTED if any(k.endswith(".backward") for k in EXPECTED[c])))
def test_failed_gradient_carries_a_heat_map_and_numbers(mutant_results: dict[str, dict[str, Any]], case: str) -> None:
    failed = [c for c in mutant_results[case]["checks"] if c["status"] == "failed" and c["id"].endswith(".backward")]
    maps = [g for c in failed for g in c["evidence"].get("gradients", []) if g.get("rel_err_map")]
    no_map = any(c["message_id"] in NO_MAP_IDS or " has shape " in c["message"] for c in failed)
    assert maps or no_map
    for gradient in maps:
        assert gradient["expected_excerpt"] and gradient["got_excerpt"] and gradient["rel_err_tol"]


def test_mutant_report_shows_the_diagnosis_and_a_heat_map(mnist_dir: Path, tmp_path: Path) -> None:
    code = main([str(MUTANTS / "softmax_diagonal"), "--out", str(tmp_path), "--mnist", str(mnist_dir), "--seed", "3",
                 "--only", "numpy.softmax.backward", "--no-color"])
    html = (tmp_path / "softmax_diagonal" / "report.html").read_text(encoding="utf-8")
    assert code == 0
    assert "only the diagonal of the softmax Jacobian is used" in html
    assert "<svg" in html and "relative error" in html
