"""Correct variants never fail a gradient or framework check, at five seeds, through the `grade` command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from grader.text import Message

from .test_gradient_verdicts import JUDGED, grade_folder

VARIANTS = Path(__file__).resolve().parent / "gradient_variants"
VARIANT_SEEDS = (1, 2, 3, 4, 5)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=VARIANT_SEEDS, ids=[f"seed{s}" for s in VARIANT_SEEDS])
def variant_results(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path) -> dict[str, dict[str, Any]]:
    seed = int(request.param)
    # The framework checks probe the model once per run; one seed of them is enough, the numpy ones get all.
    only = JUDGED if seed == VARIANT_SEEDS[0] else ("numpy.*.backward", "numpy.softmax.stability")
    return grade_folder(VARIANTS, tmp_path_factory.mktemp(f"variants{seed}"), mnist_dir, seed, only)


def test_at_least_10_correct_variants() -> None:
    assert len([p for p in VARIANTS.iterdir() if p.is_dir()]) >= 10


def test_correct_variants_pass_every_check(variant_results: dict[str, dict[str, Any]]) -> None:
    failures = {(student, c["id"]): c["message"] for student, r in variant_results.items() for c in r["checks"] if c["status"] != "passed"}
    assert failures == {}


def test_float32_variant_is_a_finding_not_a_failure(variant_results: dict[str, dict[str, Any]]) -> None:
    relu = next(c for c in variant_results["float32_layers"]["checks"] if c["id"] == "numpy.relu.backward")
    assert relu["status"] == "passed"
    notes = [Message.model_validate(note) for note in relu["evidence"]["notes"]]
    assert [(n.id, str(n)) for n in notes] == [("layers.note.low_precision", "grad_x is float32: judged with float32 tolerances")]
