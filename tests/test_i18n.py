"""Tests of grader/reports/i18n.py: the page-text catalogs and the Chinese for the checks' messages.

The diagnoses tested here are produced by the checks' own code (grader/checks/), not
copied, so a reworded diagnosis without a matching Chinese template fails this file.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.checks import gradients, training
from grader.checks.compare import diagnose
from grader.checks.framework_model import judge_architecture, judge_forward
from grader.checks.layers import LAYERS
from grader.checks.model_gradient import CHAIN_HINT
from grader.models import RunResult
from grader.reports.i18n import EN, HINTS, LANGS, PATTERNS, ZH, compiled_patterns, hint, text, translate
from grader.rubric import load_rubric

HERE = Path(__file__).resolve().parent
EXPECTED: dict[str, dict[str, dict[str, str]]] = tomllib.loads((HERE / "gradient_corpus" / "expected.toml").read_text(encoding="utf-8"))
CJK = re.compile(r"[\u4e00-\u9fff]")
ENGLISH_PROSE = re.compile(r"\b[a-z]+(?: [a-z]+){3,}\b")
"""Four or more lowercase English words in a row: a clause the translation left in English."""
PLACEHOLDER = re.compile(r"\{(\w+)(?::[^{}]+)?\}")


def _assert_translated(english: str, *, student_text: str = "") -> None:
    __tracebackhide__ = True
    chinese = translate(english, "zh")
    assert CJK.search(chinese), f"no Chinese for: {english!r}"
    leftover = ENGLISH_PROSE.search(chinese.replace(student_text, ""))
    assert leftover is None, f"English left in {chinese!r}"


# --------------------------------------------------------------------------- catalogs


def test_english_and_chinese_catalogs_have_the_same_keys() -> None:
    assert sorted(EN) == sorted(ZH)
    assert sorted(HINTS["en"]) == sorted(HINTS["zh"])


@pytest.mark.parametrize("key", sorted(EN))
def test_catalog_entries_use_the_same_placeholders_in_both_languages(key: str) -> None:
    assert set(PLACEHOLDER.findall(EN[key])) == set(PLACEHOLDER.findall(ZH[key]))


def test_every_chinese_page_text_is_chinese_where_english_has_words() -> None:
    untranslated = [key for key in EN if ENGLISH_PROSE.search(EN[key]) and not CJK.search(ZH[key])]
    assert untranslated == []


def test_every_rubric_check_has_a_hint_in_both_languages() -> None:
    rubric = load_rubric().rubric
    ids = [field.alias for field in type(rubric.checks).model_fields.values()]
    for lang in LANGS:
        assert [cid for cid in ids if not hint(lang, cid)] == []


def test_matmul_hint_gives_both_formulas() -> None:
    assert "grad_x = grad_y @ W.T, grad_W = x.T @ grad_y" in (hint("en", "numpy.matmul.backward") or "")
    assert "grad_x = grad_y @ W.T，grad_W = x.T @ grad_y" in (hint("zh", "numpy.matmul.backward") or "")


def test_text_fills_placeholders() -> None:
    assert text("en", "points", score="7 / 10", percent=70.0) == "7 / 10 points (70.0%)"
    assert text("zh", "points", score="7 / 10", percent=70.0) == "7 / 10 分（70.0%）"


@pytest.mark.parametrize(("english", "chinese"), PATTERNS, ids=[en[:40] for en, _ in PATTERNS])
def test_chinese_templates_use_only_placeholders_of_their_english_template(english: str, chinese: str) -> None:
    assert set(PLACEHOLDER.findall(chinese)) <= set(PLACEHOLDER.findall(english))


def test_every_pattern_compiles_and_matches_its_own_template_text() -> None:
    for (regex, _), (english, _) in zip(compiled_patterns(), PATTERNS):
        sample = PLACEHOLDER.sub(lambda m: "[1, 2]" if m[1] == "idx" else "7", english)
        assert regex.fullmatch(sample), english


# --------------------------------------------------------------------------- translate


def test_english_is_returned_unchanged() -> None:
    message = "the sign is flipped: your gradient is exactly minus the correct one"

    assert translate(message, "en") == message


def test_unknown_text_stays_english_exactly() -> None:
    message = "something the catalog has never seen; with a clause"

    assert translate(message, "zh") == message


def test_values_from_the_message_are_kept_in_the_translation() -> None:
    message = ("Relu.backward: grad_x at the unit input point is wrong: 5 / 12 entries differ; worst at [1, 1]: "
               "expected 0, got -0.782861 (relative error 1, allowed 1e-06)")

    assert translate(message, "zh") == (
        "Relu.backward：在单位尺度输入下，grad_x 不正确：12 个元素中有 5 个不一致；误差最大处 [1, 1]：正确值 0，"
        "你的结果 -0.782861（相对误差 1，允许 1e-06）"
    )


def test_a_wrapped_message_is_translated_inside_and_out() -> None:
    message = ("test accuracy 0.880 >= 0.75 after 10 epochs of the grader's training "
               "(graded with the staff solution's Relu, because yours did not pass its own check)")

    chinese = translate(message, "zh")

    assert chinese.startswith("用评分程序的训练流程训练 10 轮后，测试准确率 0.880 >= 0.75（由于你的 Relu")


def test_clauses_are_translated_one_by_one_and_unknown_ones_stay_english() -> None:
    message = "the first layer has no bias b1; a clause nobody wrote a template for"

    assert translate(message, "zh") == "第一层没有偏置 b1；a clause nobody wrote a template for"


def test_a_list_of_wrong_entries_is_translated_entry_by_entry() -> None:
    message = "first wrong entries: [0, 1] expected 0.5, got -0.5; [2, 3] expected 1, got 2"

    assert translate(message, "zh") == "最先出错的几个元素：[0, 1] 正确值 0.5，你的结果 -0.5；[2, 3] 正确值 1，你的结果 2"


@pytest.mark.parametrize(
    ("finding", "chinese"),
    [("hw.ipynb: chosen for the numpy part: defines Matmul, Relu, Softmax, Log, myModel with the MNIST shapes",
      "hw.ipynb：被选作 numpy 部分：定义了 Matmul, Relu, Softmax, Log, myModel，且符合 MNIST 的形状"),
     ("a.py: skipped for the framework part: fits as well as hw.ipynb, which wins as the first path in alphabetical order",
      "a.py：没有被选作框架部分：与 hw.ipynb 同样符合，选择 hw.ipynb 是因为它的路径按字母顺序排在前面")],
    ids=["chosen", "skipped"],
)
def test_intake_findings_are_translated(finding: str, chinese: str) -> None:
    assert translate(finding, "zh") == chinese


def test_student_text_inside_a_message_is_kept_verbatim() -> None:
    message = "`Relu.forward` raised ValueError: <script>alert(1)</script> (homework.py, line 12)"

    assert translate(message, "zh") == "`Relu.forward` 抛出了 ValueError：<script>alert(1)</script>（homework.py，第 12 行）"


# --------------------------------------------------------------------------- the gradient corpus's diagnoses


def _literal(module: Any, prefix: str) -> str:
    """The one string in `module`'s source that starts with `prefix`; f-string values rendered as 'x'."""
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    inner = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in inner:
            found.add(node.value)
        elif isinstance(node, ast.JoinedStr):
            found.add("".join(v.value if isinstance(v, ast.Constant) else "x" for v in node.values))
    [match] = [s for s in found if s.startswith(prefix)]
    return match


def _mistake(layer: str, prefix: str) -> str:
    spec = next(s for s in LAYERS if s.name == layer)
    rng = np.random.default_rng(0)
    args = spec.make_inputs(rng, False)
    [found] = [cause for mistakes in spec.mistakes(args, rng.normal(size=args[0].shape)) for cause in mistakes if cause.startswith(prefix)]
    return found


def _diagnose(got: np.ndarray, want: np.ndarray) -> str:
    cause = diagnose(got, want, {}, rtol=1e-6, floor=1e-6)
    assert cause is not None
    return cause


def _probe(values: dict[str, Any], arrays: dict[str, np.ndarray]) -> RunResult:
    return RunResult("framework_probe", values={"batch": 6, **values}, arrays=arrays)


def _architecture(relu: bool, b1: bool) -> list[str]:
    """What framework.model.architecture says about a model without its ReLU or its b1."""
    rng = np.random.default_rng(1)
    x = rng.random((6, 28, 28), dtype=np.float32)
    w1, bias1, w2, bias2 = rng.normal(size=(100, 784)), rng.normal(size=100), rng.normal(size=(10, 100)), rng.normal(size=10)
    hidden = x.reshape(6, -1) @ w1.T + (bias1 if b1 else 0.0)
    out = (np.maximum(hidden, 0) if relu else hidden) @ w2.T + bias2
    params = [("fc1.weight", w1), ("fc1.bias", bias1), ("fc2.weight", w2), ("fc2.bias", bias2)]
    params = [p for p in params if b1 or p[0] != "fc1.bias"]
    result = _probe({"param_names": [n for n, _ in params]}, {"out_2d": out, **{f"param{i}": v for i, (_, v) in enumerate(params)}})
    rc = load_rubric().rubric.checks.framework_model_architecture.with_seed(0, "framework.model.architecture")
    outcome = judge_architecture(result, x, rc)
    assert outcome.status == "failed" and outcome.diagnosis is not None
    return [outcome.message, outcome.diagnosis]


def _forward(**kind: Any) -> list[str]:
    outcome = judge_forward(_probe(kind.get("values", {}), kind["arrays"]))
    assert outcome.status == "failed" and outcome.diagnosis is not None
    return [outcome.message, outcome.diagnosis]


_W = np.random.default_rng(2).normal(size=(4, 5))
_PROBS = np.full((6, 10), 0.1)
_RESHAPE_ERROR = "RuntimeError: mat1 and mat2 shapes cannot be multiplied (168x28 and 784x100)"

GRADER_TEXTS: dict[tuple[str, str], Any] = {
    ("matmul_sign", "numpy.matmul.backward"): lambda: [_diagnose(-_W, _W)],
    ("matmul_scaled", "numpy.matmul.backward"): lambda: [_diagnose(_W / 32, _W)],
    ("matmul_transposed", "numpy.matmul.backward"): lambda: [_diagnose(_W.T, _W)],
    ("matmul_swapped", "numpy.matmul.backward"): lambda: [_diagnose(np.ones((3, 4)), _W)],
    ("relu_no_mask", "numpy.relu.backward"): lambda: [_mistake("Relu", "the ReLU mask is missing")],
    ("relu_inverted", "numpy.relu.backward"): lambda: [_mistake("Relu", "the ReLU mask is inverted")],
    ("relu_value_mask", "numpy.relu.backward"): lambda: [_mistake("Relu", "the gradient is masked by the input values")],
    ("relu_stale_cache", "numpy.relu.backward"): lambda: [_literal(gradients, "backward used the input of an earlier forward call")],
    ("relu_inplace", "numpy.relu.backward"): lambda: [_literal(gradients, "forward modified its input in place")],
    ("relu_returns_list", "numpy.relu.backward"): lambda: [_literal(gradients, "backward returned a list, not a numpy array")],
    ("softmax_diagonal", "numpy.softmax.backward"): lambda: [_mistake("Softmax", "only the diagonal")],
    ("softmax_batch_axis", "numpy.softmax.backward"): lambda: [_mistake("Softmax", "the sum runs over the batch axis")],
    ("log_inv_square", "numpy.log.backward"): lambda: [_mistake("Log", "the derivative of log(x) is 1/x, not -1/x^2")],
    ("log_square", "numpy.log.backward"): lambda: [_mistake("Log", "the derivative of log(x) is 1/x, not 1/x^2")],
    ("log_times_x", "numpy.log.backward"): lambda: [_mistake("Log", "the upstream gradient is multiplied by x")],
    ("log_backward_mutates_cache", "numpy.log.backward"): lambda: [_literal(gradients, "calling backward twice gave different results")],
    ("model_label_sign", "numpy.model.backward"): lambda: [_diagnose(-_W, _W)],
    ("model_label_sign", "numpy.model.train"): lambda: [training._training_diagnosis([2.3, 2.3], np.zeros((4, 10)), 0.1)],
    ("model_skips_softmax", "numpy.model.backward"): lambda: [CHAIN_HINT],
    ("model_skips_softmax", "numpy.model.train"): lambda: [training._training_diagnosis([2.3, "nan"], np.zeros((4, 10)), 0.1)],
    ("torch_no_relu", "framework.model.architecture"): lambda: _architecture(relu=False, b1=True),
    ("torch_no_bias1", "framework.model.architecture"): lambda: _architecture(relu=True, b1=False),
    ("torch_returns_probs", "framework.model.forward"): lambda: _forward(arrays={"out_3d": _PROBS, "out_2d": _PROBS}),
    ("torch_no_reshape", "framework.model.forward"): lambda: _forward(values={"error_3d": _RESHAPE_ERROR}, arrays={"out_2d": _PROBS * 3}),
}
"""Per expected.toml entry with a diagnosis: the message and diagnosis texts the checks' code produces for it."""

DIAGNOSED = sorted((case, cid) for case, checks in EXPECTED.items() for cid, spec in checks.items()
                   if "diagnosis" in spec or "diagnosis_contains" in spec)


def test_every_diagnosed_entry_of_expected_toml_is_covered_here() -> None:
    assert sorted(GRADER_TEXTS) == DIAGNOSED


@pytest.mark.parametrize(("case", "check_id"), DIAGNOSED, ids=[f"{case}-{cid}" for case, cid in DIAGNOSED])
def test_every_expected_diagnosis_has_a_chinese_translation(case: str, check_id: str) -> None:
    spec = EXPECTED[case][check_id]
    texts = GRADER_TEXTS[(case, check_id)]()

    # The texts really are the diagnosis expected.toml names (as the verdict tests read it).
    if "diagnosis" in spec:
        assert any(t.startswith(spec["diagnosis"]) for t in texts), texts
    else:
        assert any(spec["diagnosis_contains"] in t for t in texts), texts
    for english in texts:
        _assert_translated(english, student_text=_RESHAPE_ERROR)
