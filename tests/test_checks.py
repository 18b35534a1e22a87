"""Host-side judging: relative error, diagnoses, finite differences, scoring."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grader.checks.builtin import BUILTIN
from grader.checks.compare import Mistake, compare, diagnose, locate, relative_error
from grader.checks.layer_gradient.check import autograd_grads, kinks, numerical_grad
from grader.checks.layer_gradient.layers import LAYERS
from grader.checks.model_backward.check import model_inputs, reference_grads
from grader.records import CheckOutcome
from grader.rubric import load_rubric
from grader.scoring import score_outcomes
from grader.text import msg, render

RNG = np.random.default_rng(0)
WANT = RNG.normal(size=(3, 4))


def test_relative_error_uses_a_floor_relative_to_the_scale() -> None:
    want = np.array([2.0, 1e-9])
    got = np.array([2.0, 0.0])
    err = relative_error(got, want, floor=1e-6)
    assert err[0] == 0.0
    assert err[1] == pytest.approx(1e-9 / 2e-6)


def test_compare_reports_worst_index_and_count() -> None:
    got = WANT.copy()
    got[1, 2] += 5.0
    cmp = compare(got, WANT, rtol=1e-6, floor=1e-6)
    assert not cmp.ok
    assert (cmp.mismatched, cmp.total, cmp.worst) == (1, 12, (1, 2))
    summary = cmp.summary(1e-6)
    assert summary.id == "compare.summary"
    assert str(summary).startswith("1 / 12 entries differ; worst at [1, 2]: expected ")
    assert render(summary, "zh").startswith("12 个元素中有 1 个不一致；误差最大处 [1, 2]：正确值 ")


def test_nan_in_a_gradient_never_passes() -> None:
    got = WANT.copy()
    got[0, 0] = np.nan
    assert not compare(got, WANT, rtol=1e-6, floor=1e-6).ok


@pytest.mark.parametrize(
    ("got", "mistakes", "want_id", "want_start"),
    [
        (-WANT, [], "compare.diag.sign_flipped", "the sign is flipped"),
        (WANT / 7.0, [], "compare.diag.scaled", "your gradient is the correct one scaled by 0.1429"),
        (np.zeros_like(WANT), [], "compare.diag.all_zeros", "your gradient is all zeros"),
        (WANT.T.copy(), [], "compare.diag.transposed", "your gradient is transposed"),
        (np.ones((2, 2)), [], "compare.diag.wrong_shape", "wrong shape: expected (3, 4)"),
        (np.where(WANT > 0, np.inf, WANT), [], "compare.diag.not_finite", "your gradient contains "),
        (WANT + 1.0, [(msg("layers.diag.relu_mask_missing"), WANT + 1.0)], "layers.diag.relu_mask_missing", "the ReLU mask is missing"),
        (WANT + RNG.normal(size=(3, 4)), [], None, None),
    ],
    ids=["sign", "scale", "zeros", "transposed", "shape", "not-finite", "known-mistake", "unknown"],
)
def test_diagnose_names_the_likely_mistake(got: np.ndarray, mistakes: list[Mistake], want_id: str | None, want_start: str | None) -> None:
    found = diagnose(got, WANT, mistakes, rtol=1e-6, floor=1e-6)
    if want_start is None:
        assert found is None
    else:
        assert found is not None and found.id == want_id and str(found).startswith(want_start)


def forwards_at_steps(spec, args: list[np.ndarray], i: int, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    plus, minus = [], []
    for j in range(args[i].size):
        for sign, bucket in ((1, plus), (-1, minus)):
            moved = [a.copy() for a in args]
            moved[i].flat[j] += sign * steps.flat[j]
            bucket.append(spec.forward(*[torch.tensor(a) for a in moved]).numpy())
    return np.stack(plus), np.stack(minus)


@pytest.mark.parametrize("typical", [False, True], ids=["unit", "typical"])
@pytest.mark.parametrize("spec", LAYERS, ids=[s.name for s in LAYERS])
def test_autograd_reference_agrees_with_finite_differences(spec, typical: bool) -> None:  # type: ignore[no-untyped-def]
    args = spec.make_inputs(np.random.default_rng(3), typical)
    out = spec.forward(*[torch.tensor(a) for a in args]).detach().numpy()
    grad_y = np.random.default_rng(4).normal(size=out.shape)
    want = autograd_grads(spec.forward, args, grad_y)
    for i, arg in enumerate(args):
        steps = 1e-6 * np.maximum(np.abs(arg), 0.1)
        plus, minus = forwards_at_steps(spec, args, i, steps)
        assert compare(want[i], numerical_grad(plus, minus, grad_y, steps), rtol=1e-4, floor=1e-4).ok
        assert not kinks(plus, out, minus, grad_y, steps, 1e-4).any()


def test_a_step_across_the_relu_kink_is_detected() -> None:
    relu = next(s for s in LAYERS if s.name == "Relu")
    x = np.array([[0.5, -3e-7, 2.0]])
    steps = np.full(x.shape, 1e-6)
    plus, minus = forwards_at_steps(relu, [x], 0, steps)
    out = np.maximum(x, 0)
    assert kinks(plus, out, minus, np.ones_like(x), steps, 1e-4).tolist() == [[False, True, False]]


@pytest.mark.parametrize(
    ("rows", "cols", "want_start"),
    [([1], slice(None), "your gradient is correct except in rows [1] (of 3)"),
     (slice(None), [0, 2], "your gradient is correct except in columns [0, 2] (of 4)"),
     ([0], [3], "first wrong entries: [0, 3] expected ")],
    ids=["row", "columns", "single-entry"],
)
def test_locate_names_wrong_rows_columns_or_entries(rows, cols, want_start: str) -> None:  # type: ignore[no-untyped-def]
    got = WANT.copy()
    got[np.ix_(np.arange(3)[rows], np.arange(4)[cols])] += 3.0
    assert str(locate(got, WANT, rtol=1e-6, floor=1e-6)).startswith(want_start)


def test_locate_lists_several_wrong_entries_in_each_language() -> None:
    got = WANT.copy()
    got[0, 1] += 3.0
    got[2, 3] += 3.0
    found = locate(got, WANT, rtol=1e-6, floor=1e-6)
    want = (f"first wrong entries: [0, 1] expected {WANT[0, 1]:.6g}, got {got[0, 1]:.6g}; "
            f"[2, 3] expected {WANT[2, 3]:.6g}, got {got[2, 3]:.6g}")
    assert str(found) == want
    assert render(found, "zh") == (f"最先出错的几个元素：[0, 1] 正确值 {WANT[0, 1]:.6g}，你的结果 {got[0, 1]:.6g}；"
                                   f"[2, 3] 正确值 {WANT[2, 3]:.6g}，你的结果 {got[2, 3]:.6g}")


def test_relu_inputs_stay_away_from_the_kink() -> None:
    relu = next(s for s in LAYERS if s.name == "Relu")
    for typical in (False, True):
        x = relu.make_inputs(np.random.default_rng(11), typical)[0]
        assert np.abs(x).min() >= 0.1


def test_model_reference_is_the_template_loss() -> None:
    inputs = model_inputs(5)
    want = reference_grads(inputs)
    # W2_grad = relu(h1).T @ (softmax - label) for the summed cross-entropy.
    x1 = np.concatenate([inputs["x"], np.ones((len(inputs["x"]), 1))], axis=1)
    h = np.maximum(x1 @ inputs["W1"], 0)
    logits = h @ inputs["W2"]
    s = np.exp(logits - logits.max(1, keepdims=True))
    s /= s.sum(1, keepdims=True)
    np.testing.assert_allclose(want["W2_grad"], h.T @ (s - inputs["label"]), rtol=1e-8, atol=1e-10)


def test_scoring_gives_points_only_for_passed_checks_and_marks_advisories() -> None:
    rubric = load_rubric(None, BUILTIN).rubric
    outcomes = [
        CheckOutcome(id="numpy.relu.backward", status="passed", message=msg("layers.passed", name="Relu", n=2)),
        CheckOutcome(id="numpy.log.backward", status="failed", message=msg("layers.backward_twice", name="Log", grad="grad_x")),
        CheckOutcome(id="numpy.softmax.stability", status="failed", message=msg("stability.failed", what=msg("stability.nan_inf"))),
        CheckOutcome(id="framework.model.train", status="skipped", message=msg("pipeline.no_framework")),
    ]
    results = score_outcomes(outcomes, rubric)
    assert [(r.score, r.max_score, r.advisory) for r in results] == [(10, 10, False), (0, 10, False), (0, 0, True), (0, 15, False)]
    assert (sum(r.score for r in results), sum(r.max_score for r in results)) == (10, 35)
