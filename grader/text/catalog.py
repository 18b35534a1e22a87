"""The catalogs: one gettext .po file per language and domain, keyed by message id, read with Babel.

    grader/text/locale/en/LC_MESSAGES/checks.po     msgid "layer.passed"  msgstr "{name}.backward matches ..."
    grader/text/locale/zh/LC_MESSAGES/checks.po     msgid "layer.passed"  msgstr "{name}.backward 与 ... 一致"

Why .po through Babel: translators' tools (Poedit, Weblate, Crowdin) read and write
it, and Babel is the ecosystem's reader; the msgid is the stable message id, not
English text, so rewording English never orphans a translation.  The files are
parsed once per process (about 20 ms for every domain; measured in the README).
Placeholders are str.format fields, `{name}` or `{value:.3g}`, the same in every
language (tests/test_catalogs.py checks it).  Another package (a check added from
outside, tests/tanh_check.py) adds its own locale folder with `add_locale_dir`; a check package of the
grader's own keeps its domain in grader/checks/<family>/locale/, read without a call (LOCALE_DIRS).
"""

from __future__ import annotations

import functools
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from babel.messages.pofile import read_po
from markupsafe import Markup, escape

from .message import Message, Verbatim

Lang = Literal["en", "zh"]
LANGS: tuple[Lang, ...] = ("en", "zh")
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LOCALE_DIRS: tuple[Path, ...] = (LOCALE_DIR, *sorted((LOCALE_DIR.parent.parent / "checks").glob("*/locale")))
"""Every catalog root of the grader's own: the text layer's, then each check package's (grader/checks/<family>/locale)."""
_EXTRA_DIRS: list[Path] = []


def add_locale_dir(path: Path) -> None:
    """Read the catalogs under `path` (`<lang>/LC_MESSAGES/*.po`) too, after the grader's own."""
    if path not in _EXTRA_DIRS:
        _EXTRA_DIRS.append(path)
        catalog.cache_clear()


@functools.cache
def catalog(lang: Lang) -> dict[str, str]:
    """Every message id of `lang` and its template, from all domains."""
    entries: dict[str, str] = {}
    for root in (*LOCALE_DIRS, *_EXTRA_DIRS):
        for po in sorted((root / lang / "LC_MESSAGES").glob("*.po")):
            with po.open("rb") as stream:
                for entry in read_po(stream, locale=None):
                    if entry.id and isinstance(entry.id, str) and isinstance(entry.string, str) and entry.string:
                        entries[entry.id] = entry.string
    return entries


def template(lang: Lang, message_id: str) -> str | None:
    """The template of `message_id` in `lang`, else English's, else None."""
    return catalog(lang).get(message_id) or catalog("en").get(message_id)


def placeholders(text: str) -> set[str]:
    """The field names of a str.format template: {'name', 'value'} for '{name} is {value:.3g}'."""
    return {field.split(".")[0].split("[")[0] for _, field, _, _ in string.Formatter().parse(text) if field}


def render(message: Message, lang: Lang) -> str:
    """`message` as plain text in `lang` (nested messages in the same language, verbatim text as is)."""
    args = {k: (render(v, lang) if isinstance(v, Message) else str(v) if isinstance(v, Verbatim) else v)
            for k, v in message.args.items()}
    return _fill(message, lang, args, str)


def render_markup(message: Message, lang: Lang) -> Markup:
    """`message` as safe HTML in `lang`: catalog text escaped, verbatim arguments in <code>."""
    args = {k: (render_markup(v, lang) if isinstance(v, Message)
                else Markup("<code>{}</code>").format(v.verbatim) if isinstance(v, Verbatim)
                # Numbers stay numbers, so format specs apply ({x:.3g}); their str() is HTML-safe.
                else v if isinstance(v, (bool, int, float)) else escape("" if v is None else v)) for k, v in message.args.items()}
    return Markup(_fill(message, lang, args, escape))


def _fill(message: Message, lang: Lang, args: Mapping[str, object], quote: object) -> str:
    text = template(lang, message.id)
    if text is None:
        # A grader bug (an id without a catalog entry): still say everything we know.
        shown = ", ".join(f"{k}={v}" for k, v in args.items())
        return f"[{message.id}] {shown}"
    escaped = str(escape(text)) if quote is escape else text
    parts = []
    for literal, name, spec, _ in string.Formatter().parse(escaped):
        parts.append(literal)
        if name is not None:
            parts.append(_field(args[name], spec or "") if name in args else "{" + name + "}")
    return "".join(parts)


def _field(value: object, spec: str) -> str:
    """One placeholder: `value` formatted with `spec`, field by field, so one misfit never loses the message.

    A NaN or infinity read back from JSON is the string "nan" / "NaN" / "inf": formatted as the float it was.
    """
    try:
        return format(value, spec)
    except (ValueError, TypeError):
        pass
    if isinstance(value, str):
        try:
            return format(float(value), spec)
        except (ValueError, TypeError):
            pass
    return str(value)
