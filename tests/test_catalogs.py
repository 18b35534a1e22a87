"""The message catalogs agree with the code that emits messages, and Chinese reports are Chinese.

Static part: every `msg("<id>", k=...)` call under grader/ is read with `ast` (the code
is only parsed, never run) and checked against the .po catalogs of
grader/text/locale/<lang>/LC_MESSAGES/:

- each id is in the English and the Chinese catalog, in one domain file per language;
- the call's keyword names are exactly the template's {placeholders}, in each language;
- every id of a catalog is in both languages, with the same placeholders;
- a Chinese template holds no English prose (three English words in a row, not counting
  code, formulas, {placeholders} and a few library and technical names, see ALLOWED_WORDS);
- an id that is not a string literal (`msg(name)`, `msg(f"...")`) or a `**` splat of
  arguments is a problem too: neither could be checked.

`catalog_problems(code_root, locale_root)` does all of it and returns what is wrong as
sentences; the unit tests run it on small folders made here, so a catalog that lacks an id
in one language must fail.

Rendering part (slow): corpus submissions that fail, error and attack the sandbox are
graded, and their Chinese report.html holds no English prose outside <code>, <pre>, the
evidence tables and the charts; their English report still says what result.json says.
"""

from __future__ import annotations

import ast
import html
import json
import re
import shutil
import string
from dataclasses import dataclass
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from grader.cli import main
from grader.gradebook_db import Gradebook
from grader.reports import render_html
from grader.reports.source_view import RULE_IDS
from grader.text.catalog import LANGS, LOCALE_DIRS, placeholders
from grader.text.po_add import add

from .conftest import CORPUS, REPO

GRADER = REPO / "grader"
HERE = Path(__file__).resolve().parent

ALLOWED_WORDS = frozenset({
    # libraries, tools, formats
    "numpy", "np", "pytorch", "torch", "tensorflow", "tf", "keras", "python", "jupyter", "ipython", "dask", "mnist", "idx",
    "utf", "gbk", "json", "csv", "html", "xlsx", "zip", "canvas", "moodle", "gradescope", "bubblewrap", "bwrap", "seccomp",
    "rlimits", "timeout", "ctypes", "sigkill", "sigterm", "pip", "venv", "ubuntu", "cpu", "gpu", "cuda", "sql", "sqlite",
    "nn", "grade", "babel", "markdown",
    # terms of the homework that Chinese text keeps as they are
    "nan", "inf", "logits", "relu", "softmax", "log", "matmul", "dtype", "autograd", "epoch", "epochs", "batch", "step",
    "ndarray", "tensor", "sgd", "adam", "forward", "backward", "label", "bias", "seed", "ok",
})
"""Words a Chinese sentence may hold in Latin letters, lower case; everything else counts as English."""
_WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")
_EDGE = "()[]{}\"'`,.;:!?"
PROSE_RUN = 3
"""This many English words in a row are a sentence left in English."""


@dataclass(frozen=True)
class Call:
    """One `msg(...)` call in the grader's code."""

    where: str
    message_id: str | None
    """The literal id, or None when the id is not a string literal."""
    keywords: frozenset[str]
    splat: bool
    """The call passes `**arguments`, whose names no static check can see."""


# --------------------------------------------------------------------------- the checker


def msg_calls(root: Path) -> list[Call]:
    """Every call of `msg` (imported from grader.text, under any alias) in the .py files under `root`."""
    calls = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        names, modules = _msg_names(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _is_msg(node.func, names, modules):
                first = node.args[0] if node.args else None
                literal = first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None
                calls.append(Call(where=f"{path.relative_to(root.parent)}:{node.lineno}", message_id=literal,
                                  keywords=frozenset(k.arg for k in node.keywords if k.arg is not None),
                                  splat=any(k.arg is None for k in node.keywords)))
    return calls


def _msg_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """Local names bound to `msg`, and to the text module itself (for `text.msg(...)`)."""
    names, modules = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            for alias in node.names:
                if node.module.split(".")[-1] in ("text", "message") and alias.name == "msg":
                    names.add(alias.asname or alias.name)
                elif alias.name == "text" and node.module.split(".")[-1] in ("grader", ""):
                    modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module is None:  # from . import text
            modules.update(alias.asname or alias.name for alias in node.names if alias.name == "text")
        elif isinstance(node, ast.FunctionDef) and node.name == "msg":
            names.add("msg")  # grader/text/message.py itself
    return names, modules


def _is_msg(func: ast.expr, names: set[str], modules: set[str]) -> bool:
    if isinstance(func, ast.Name):
        return func.id in names
    return isinstance(func, ast.Attribute) and func.attr == "msg" and isinstance(func.value, ast.Name) and func.value.id in modules


def read_catalogs(roots: Path | tuple[Path, ...]) -> tuple[dict[str, dict[str, str]], list[str]]:
    """{lang: {id: template}} of every domain under `roots`, and the ids found in two domains of one language."""
    catalogs: dict[str, dict[str, str]] = {lang: {} for lang in LANGS}
    clashes = []
    for lang, root in ((lang, root) for lang in LANGS for root in ((roots,) if isinstance(roots, Path) else roots)):
        for po in sorted((root / lang / "LC_MESSAGES").glob("*.po")):
            with po.open("rb") as stream:
                for entry in read_po(stream):
                    if not entry.id or not isinstance(entry.id, str):
                        continue
                    if entry.id in catalogs[lang]:
                        clashes.append(f"{entry.id}: in two {lang} domains (one is {po.name})")
                    catalogs[lang][entry.id] = str(entry.string or "")
    return catalogs, clashes


def english_prose(text: str) -> list[str]:
    """Runs of PROSE_RUN or more English words in `text`, outside {placeholders}, `code` and code-like tokens."""
    text = re.sub(r"`[^`]*`", " ", _without_fields(text))
    found = []
    for segment in re.split(r"[^\x00-\x7f]+", text):  # a Chinese character ends a run of words
        run: list[str] = []
        for token in [*segment.split(), ""]:
            bare = token.strip(_EDGE)
            if token and _WORD.fullmatch(bare) and bare.lower() not in ALLOWED_WORDS and not _code_like(token):
                run.append(bare)
                continue
            if len(run) >= PROSE_RUN:
                found.append(" ".join(run))
            run = []
    return found


def _code_like(token: str) -> bool:
    """`x.T`, `grad_y`, `sum(x)`, `--seed`, `bias=False`: not words, whatever their letters."""
    inner = token.strip(_EDGE)
    return any(c in inner for c in "_.()=[]") or token.startswith("-")


def _without_fields(template: str) -> str:
    try:
        return "".join(literal + " " for literal, _, _, _ in string.Formatter().parse(template))
    except ValueError:
        return template


def catalog_problems(code_root: Path, locale_root: Path | tuple[Path, ...]) -> list[str]:
    """What is wrong between the msg() calls under `code_root` and the catalogs under `locale_root` (one root or
    several: the grader's are catalog.LOCALE_DIRS, the text layer's and each check package's), as sentences."""
    catalogs, problems = read_catalogs(locale_root)
    en, zh = catalogs["en"], catalogs["zh"]
    for call in msg_calls(code_root):
        if call.message_id is None:
            problems.append(f"{call.where}: msg() with an id that is not a string literal; write the id out")
            continue
        if call.splat:
            problems.append(f"{call.where}: msg({call.message_id!r}, **...): pass each argument by name")
        for lang, found in catalogs.items():
            if call.message_id not in found:
                problems.append(f"{call.where}: {call.message_id} is not in the {lang} catalog")
            elif not call.splat and placeholders(found[call.message_id]) != call.keywords:
                problems.append(f"{call.where}: {call.message_id} gets {sorted(call.keywords)}, "
                                f"its {lang} template has {sorted(placeholders(found[call.message_id]))}")
    for message_id in sorted(en.keys() ^ zh.keys()):
        problems.append(f"{message_id}: only in the {'en' if message_id in en else 'zh'} catalog")
    for message_id in sorted(en.keys() & zh.keys()):
        if placeholders(en[message_id]) != placeholders(zh[message_id]):
            problems.append(f"{message_id}: placeholders differ: en {sorted(placeholders(en[message_id]))}, "
                            f"zh {sorted(placeholders(zh[message_id]))}")
        problems.extend(f"{message_id}: English left in the Chinese text: {run!r}" for run in english_prose(zh[message_id]))
    return problems


# --------------------------------------------------------------------------- the grader's code and catalogs


CHECK_LOCALES = tuple(sorted(GRADER.glob("checks/*/locale")))
"""The catalog domains of check packages (grader/checks/<package>/locale), read with the grader's own."""


def test_the_catalogs_agree_with_every_msg_call_of_the_grader() -> None:
    assert catalog_problems(GRADER, LOCALE_DIRS) == []


def test_a_check_package_s_own_domain_is_read_without_a_call() -> None:
    from grader.text import msg
    from grader.text.catalog import catalog, render

    probe_dir = next(d for d in LOCALE_DIRS if d.parent.name == "framework_probe")
    catalogs, _ = read_catalogs(probe_dir)
    assert "framework.forward.passed" in catalogs["en"] and "framework.forward.passed" in catalogs["zh"]
    assert "framework.forward.passed" in catalog("zh") and render(msg("framework.arch.act_relu"), "en") == "ReLU"


def test_the_scan_finds_the_grader_s_msg_calls() -> None:
    ids = {call.message_id for call in msg_calls(GRADER)}

    assert {"error_hint.timeout", "outcome.tampered_reply"} <= ids


def test_every_id_the_source_view_marks_lines_for_is_in_the_catalogs() -> None:
    catalogs, _ = read_catalogs(LOCALE_DIRS)

    assert sorted(RULE_IDS - catalogs["en"].keys()) == [] and sorted(RULE_IDS - catalogs["zh"].keys()) == []


# --------------------------------------------------------------------------- the checker on folders made here


def _code(tmp_path: Path, source: str) -> Path:
    root = tmp_path / "code"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "check.py").write_text("from ..text import msg\n" + source, encoding="utf-8")
    return root / "pkg"


def _locale(tmp_path: Path, entries: dict[str, tuple[str, str]]) -> Path:
    root = tmp_path / "locale"
    add("checks", entries, root=root)
    return root


GOOD = {"layers.grad_wrong": ("{name}.backward is wrong", "{name}.backward 不正确")}


def test_a_consistent_catalog_has_no_problem(tmp_path: Path) -> None:
    assert catalog_problems(_code(tmp_path, 'msg("layers.grad_wrong", name="Relu")\n'), _locale(tmp_path, GOOD)) == []


def test_an_id_missing_in_chinese_fails(tmp_path: Path) -> None:
    locale = _locale(tmp_path, GOOD | {"layers.new": ("a new message", "新消息")})
    zh = locale / "zh" / "LC_MESSAGES" / "checks.po"
    zh.write_text(zh.read_text(encoding="utf-8").replace('msgid "layers.new"\nmsgstr "新消息"\n', ""), encoding="utf-8")

    problems = catalog_problems(_code(tmp_path, 'msg("layers.grad_wrong", name="x")\nmsg("layers.new")\n'), locale)

    assert problems == ["pkg/check.py:3: layers.new is not in the zh catalog", "layers.new: only in the en catalog"]


def test_an_id_in_no_catalog_fails(tmp_path: Path) -> None:
    problems = catalog_problems(_code(tmp_path, 'msg("layers.unknown")\n'), _locale(tmp_path, GOOD))

    assert problems == ["pkg/check.py:2: layers.unknown is not in the en catalog",
                        "pkg/check.py:2: layers.unknown is not in the zh catalog"]


def test_keyword_names_must_be_the_placeholders(tmp_path: Path) -> None:
    problems = catalog_problems(_code(tmp_path, 'msg("layers.grad_wrong", layer="Relu")\n'), _locale(tmp_path, GOOD))

    assert problems == ["pkg/check.py:2: layers.grad_wrong gets ['layer'], its en template has ['name']",
                        "pkg/check.py:2: layers.grad_wrong gets ['layer'], its zh template has ['name']"]


def test_languages_must_have_the_same_placeholders(tmp_path: Path) -> None:
    locale = _locale(tmp_path, GOOD)
    zh = locale / "zh" / "LC_MESSAGES" / "checks.po"
    zh.write_text(zh.read_text(encoding="utf-8").replace("{name}.backward 不正确", "{layer}.backward 不正确"), encoding="utf-8")

    problems = catalog_problems(_code(tmp_path, ""), locale)

    assert problems == ["layers.grad_wrong: placeholders differ: en ['name'], zh ['layer']"]


@pytest.mark.parametrize(
    "call",
    ['msg(message_id, name="x")', 'msg(f"layers.{kind}", name="x")', 'msg("layers." + kind, name="x")', "text.msg(ids[0])"],
    ids=["variable", "f-string", "concatenation", "module-attribute"],
)
def test_an_id_that_is_not_a_literal_is_flagged(tmp_path: Path, call: str) -> None:
    code = _code(tmp_path, f"from .. import text\n{call}\n")

    assert catalog_problems(code, _locale(tmp_path, GOOD)) == [
        "pkg/check.py:3: msg() with an id that is not a string literal; write the id out"]


def test_an_alias_of_msg_is_scanned_too(tmp_path: Path) -> None:
    code = _code(tmp_path, 'from grader.text import msg as say\nsay("layers.missing")\n')

    assert catalog_problems(code, _locale(tmp_path, GOOD))[0] == "pkg/check.py:3: layers.missing is not in the en catalog"


def test_a_splat_of_arguments_is_flagged(tmp_path: Path) -> None:
    code = _code(tmp_path, 'msg("layers.grad_wrong", **values)\n')

    assert catalog_problems(code, _locale(tmp_path, GOOD)) == [
        "pkg/check.py:2: msg('layers.grad_wrong', **...): pass each argument by name"]


def test_an_id_in_two_domains_of_a_language_is_flagged(tmp_path: Path) -> None:
    locale = _locale(tmp_path, GOOD)
    add("other", GOOD, root=locale)

    assert catalog_problems(_code(tmp_path, ""), locale) == ["layers.grad_wrong: in two en domains (one is other.po)",
                                                              "layers.grad_wrong: in two zh domains (one is other.po)"]


def test_english_left_in_a_chinese_template_is_flagged(tmp_path: Path) -> None:
    locale = _locale(tmp_path, GOOD | {"layers.half": ("{name} did not finish in time", "{name} did not finish in time（超时）")})

    assert catalog_problems(_code(tmp_path, ""), locale) == ["layers.half: English left in the Chinese text: 'did not finish in time'"]


@pytest.mark.parametrize(
    "chinese",
    ["grad_x = grad_y @ W.T，grad_W = x.T @ grad_y", "relu(x W1 + b1) W2 + b2：两个带偏置的线性层",
     "在模型内部用 x.reshape(-1, 784) 展平，返回 (N, 10) 的 logits", "隔离方式：bwrap, seccomp, rlimits, timeout",
     "请不带 --scheduler 运行 `grade --seed 3 hw.py`", "{name} 抛出了 {error}：{detail}", "inf / NaN",
     "Dask 工作进程 {worker} 无法评分", "用 PyTorch 或 TensorFlow 定义 myModel"],
    ids=["formula", "architecture", "reshape", "library-names", "command", "placeholders", "inf-nan", "dask", "frameworks"],
)
def test_code_formulas_and_library_names_are_not_english_prose(chinese: str) -> None:
    assert english_prose(chinese) == []


@pytest.mark.parametrize(
    ("chinese", "run"),
    [("训练失败：the loss became NaN", "the loss became"), ("输入 (N, 784) is not allowed here", "is not allowed here"),
     ("{name}.backward returned a list，而不是数组", "returned a list")],
    ids=["after-chinese", "after-a-shape", "before-chinese"],
)
def test_english_prose_is_found_between_code_and_chinese(chinese: str, run: str) -> None:
    assert english_prose(chinese) == [run]


def test_the_test_catalog_of_the_report_tests_is_consistent_too() -> None:
    from .report_messages import CATALOG_DIR

    assert catalog_problems(HERE / "no_code_here", CATALOG_DIR) == []


# --------------------------------------------------------------------------- rendered reports (slow)

CASES = {
    # failing: wrong gradients, a wrong model, training that fails
    "mutant_softmax": CORPUS / "mutant_softmax", "mutant_log": CORPUS / "mutant_log", "model_sign_flip": CORPUS / "model_sign_flip",
    "torch_mutant_no_relu": CORPUS / "torch_mutant_no_relu",
    "matmul_transposed": HERE / "gradient_corpus" / "matmul_transposed", "relu_returns_list": HERE / "gradient_corpus" / "relu_returns_list",
    "relu_stale_cache": HERE / "gradient_corpus" / "relu_stale_cache", "torch_returns_probs": HERE / "gradient_corpus" / "torch_returns_probs",
    "torch_no_reshape": HERE / "gradient_corpus" / "torch_no_reshape", "torch_no_bias1": HERE / "gradient_corpus" / "torch_no_bias1",
    # erroring: missing code, a syntax error, exits, an endless loop
    "missing_classes": CORPUS / "missing_classes", "syntax_error": CORPUS / "syntax_error", "sys_exit_import": CORPUS / "sys_exit_import",
    "infinite_loop": CORPUS / "infinite_loop",
    # hostile: what the sandbox stops
    "write_outside": HERE / "attacks" / "write_outside", "keyboard_interrupt": HERE / "attacks" / "keyboard_interrupt",
    "nan_gradient": HERE / "attacks" / "nan_gradient", "inplace_mutation": HERE / "attacks" / "inplace_mutation",
    "read_reference": HERE / "attacks" / "read_reference", "segfault": HERE / "attacks" / "segfault",
    "memory_bomb": HERE / "attacks" / "memory_bomb", "monkeypatch_numpy": HERE / "attacks" / "monkeypatch_numpy",
    "os_exit_zero_in_backward": HERE / "attacks" / "os_exit_zero_in_backward", "lying_subclass": HERE / "attacks" / "lying_subclass",
}
_NOT_PROSE = re.compile(r"<(code|pre|svg|style|title)\b.*?</\1>|<table class=\"(?:evidence|matrix)\".*?</table>", re.S)


def _page_text(page: str) -> str:
    """What a reader sees of report.html, without code, preformatted text, evidence tables and charts."""
    page = _NOT_PROSE.sub(" ", page)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path) -> Path:
    """The cases graded as one class, report.html in Chinese."""
    folder, out = tmp_path_factory.mktemp("class"), tmp_path_factory.mktemp("out")
    for name, case in CASES.items():
        shutil.copytree(case, folder / name)
    code = main([str(folder), "--out", str(out), "--mnist", str(mnist_dir), "--lang", "zh", "--seed", "7", "--jobs", "4",
                 "--rubric", str(HERE / "attacks" / "rubric.toml"), "--no-color"])
    assert code == 0
    return out


@pytest.mark.slow
@pytest.mark.parametrize("student", list(CASES))
def test_a_chinese_report_holds_no_english_prose_outside_code_and_evidence(graded: Path, student: str) -> None:
    page = (graded / student / "report.html").read_text(encoding="utf-8")

    assert '<html lang="zh-CN">' in page
    assert english_prose(_page_text(page)) == []


@pytest.mark.slow
@pytest.mark.parametrize("student", list(CASES))
def test_the_english_report_says_what_result_json_says(graded: Path, student: str) -> None:
    [report] = Gradebook(graded).reports([student])
    result = json.loads((graded / student / "result.json").read_text(encoding="utf-8"))

    text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", render_html(report, lang="en"))).split())  # code keeps its place

    for check in result["checks"]:
        if check["visibility"] == "public":
            assert " ".join(check["message"].split()) in text
            assert check["diagnosis"] is None or " ".join(check["diagnosis"].split()) in text
