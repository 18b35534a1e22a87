"""The reports' language: page text by key, the static hints, and checks' messages rendered for a page.

`text(lang, "checks.heading")` is the page text `page.checks.heading` of the
catalogs (grader/text/locale/<lang>/LC_MESSAGES/pages.po); `hint(lang, check_id)`
is the static hint `hint.<check_id>`.  What checks, intake and the sandbox say is a
`Message` by id: `plain(message, lang)` renders it as text (terminal, CSV, xlsx,
Gradescope) and `markup(message, lang)` as safe HTML, with text from student code
(a `Verbatim` argument) in a <code> element, never translated.
"""

from __future__ import annotations

from markupsafe import Markup

from grader.text import LANGS, Lang, Message, catalog, render, render_markup, template

__all__ = ["LANGS", "Lang", "hint", "markup", "plain", "text"]


def text(lang: Lang, key: str, **values: object) -> str:
    """The page text `key` in `lang`, with `{placeholders}` filled from `values`.

    Args:
        lang: "en" or "zh".
        key: A page key: the catalog id without its "page." prefix.
        values: Values for the text's placeholders.
    """
    found = template(lang, "page." + key)
    assert found is not None, f"page text {key!r} is in no catalog: add page.{key} to grader/text/locale/*/LC_MESSAGES/pages.po"
    return found.format(**values)


def hint(lang: Lang, check_id: str) -> str | None:
    """The static hint for a check id, or None when the grader has none for it."""
    return catalog(lang).get("hint." + check_id)


def plain(message: Message, lang: Lang) -> str:
    """`message` as plain text in `lang` (verbatim student text as it is)."""
    return render(message, lang)


def markup(message: Message, lang: Lang) -> Markup:
    """`message` as safe HTML in `lang`: catalog text escaped, verbatim student text in <code>."""
    return render_markup(message, lang)
