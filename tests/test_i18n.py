"""Tests of grader/reports/i18n.py: the page text and hints of the reports, and messages rendered for them.

The page text lives in the catalog domain `pages` (grader/text/locale/<lang>/LC_MESSAGES/
pages.po) as page.<key>, the static hints as hint.<check id>.  Whether every message id
the grader emits is in both catalogs is tests/test_catalogs.py's job.
"""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from grader.checks.builtin import BUILTIN
from grader.reports.i18n import LANGS, Lang, hint, markup, plain, text
from grader.rubric import load_rubric
from grader.text import msg, render_markup, verbatim
from grader.text.catalog import LOCALE_DIR

CJK = re.compile(r"[\u4e00-\u9fff]")


def _pages(lang: Lang) -> dict[str, str]:
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "pages.po").open("rb") as stream:
        return {str(e.id): str(e.string) for e in read_po(stream) if e.id}


PAGES = {lang: _pages(lang) for lang in LANGS}


# --------------------------------------------------------------------------- the pages catalog


def test_the_pages_catalog_holds_only_page_text_and_hints() -> None:
    assert [key for key in PAGES["en"] if not key.startswith(("page.", "hint."))] == []


def test_every_rubric_check_has_a_hint_in_both_languages() -> None:
    rubric = load_rubric(None, BUILTIN).rubric
    ids = [field.alias for field in type(rubric.checks).model_fields.values()]
    for lang in LANGS:
        assert [cid for cid in ids if cid and not hint(lang, cid)] == []


def test_matmul_hint_gives_both_formulas() -> None:
    assert "grad_x = grad_y @ W.T, grad_W = x.T @ grad_y" in (hint("en", "numpy.matmul.backward") or "")
    assert "grad_x = grad_y @ W.T，grad_W = x.T @ grad_y" in (hint("zh", "numpy.matmul.backward") or "")


def test_a_check_without_a_hint_has_none() -> None:
    assert hint("zh", "numpy.nothing.here") is None


def test_text_fills_placeholders() -> None:
    assert text("en", "points", score="7 / 10", percent=70.0) == "7 / 10 points (70.0%)"
    assert text("zh", "points", score="7 / 10", percent=70.0) == "7 / 10 分（70.0%）"


def test_text_of_an_unknown_key_names_the_catalog_to_add_it_to() -> None:
    with pytest.raises(AssertionError, match="page.no.such.key"):
        text("en", "no.such.key")


# --------------------------------------------------------------------------- messages


def test_plain_renders_a_message_in_each_language() -> None:
    message = msg("error_hint.exit")

    assert plain(message, "en") == "graded code must not call sys.exit(), exit(), quit() or os._exit()"
    assert CJK.search(plain(message, "zh"))


def test_markup_quotes_student_text_in_code_and_escapes_it() -> None:
    message = msg("grader.internal_error", error=verbatim("<b>KeyError</b>"))

    assert "<code>&lt;b&gt;KeyError&lt;/b&gt;</code>" in markup(message, "zh")
    assert plain(message, "en").startswith("internal grader error: <b>KeyError</b>")


def test_markup_formats_numbers_by_their_template_spec() -> None:
    message = msg("compare.summary", mismatched=3, total=12, worst="[0, 2]", want=0.41344894760942424, got=-0.5, err=2.0,
                  rtol=1e-6)

    assert str(markup(message, "en")) == plain(message, "en") == (
        "3 / 12 entries differ; worst at [0, 2]: expected 0.413449, got -0.5 (relative error 2, allowed 1e-06)")


def test_markup_is_the_catalog_s_markup_for_text_arguments() -> None:
    message = msg("pipeline.missing_class", name="Relu<", file="hw & co.py")

    assert markup(message, "zh") == render_markup(message, "zh")
    assert "Relu&lt;" in markup(message, "en") and "hw &amp; co.py" in markup(message, "en")
