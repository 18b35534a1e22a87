"""Add or replace one message in both catalogs of a domain (a maintainer's tool, not used at grading time).

    python -m grader.text.po_add checks layer.passed --en "{name}.backward matches ..." --zh "{name}.backward 与 ... 一致"
    python -m grader.text.po_add own_step own_step.passed --root grader/checks/own_training_step/locale --en ... --zh ...

Writes grader/text/locale/{en,zh}/LC_MESSAGES/<domain>.po with Babel, keeping every
other entry; refuses a pair whose placeholders differ (the catalog test would fail).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from .catalog import LOCALE_DIR, placeholders


def add(domain: str, entries: dict[str, tuple[str, str]], root: Path = LOCALE_DIR) -> None:
    """Put each id -> (English, Chinese) into `domain`'s two catalogs under `root`."""
    for message_id, (en, zh) in entries.items():
        if placeholders(en) != placeholders(zh):
            raise SystemExit(f"{message_id}: placeholders differ: en {sorted(placeholders(en))}, zh {sorted(placeholders(zh))}")
    for index, lang in enumerate(("en", "zh")):
        path = root / lang / "LC_MESSAGES" / f"{domain}.po"
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with path.open("rb") as stream:
                catalog = read_po(stream, locale=lang)
        else:
            catalog = Catalog(locale=lang, project="nn-grader", version="0.1", domain=domain, fuzzy=False,
                              copyright_holder="nn-grader authors", msgid_bugs_address="",
                              header_comment=f"# nn-grader messages, domain {domain}.\n"
                                             "# msgid is the message id; msgstr is the text, with str.format {placeholders}.")
        for message_id, pair in entries.items():
            text = pair[index]
            if message_id in catalog:
                del catalog[message_id]
            catalog.add(message_id, text, flags=("python-brace-format",) if placeholders(text) else ())
        with path.open("wb") as stream:
            write_po(stream, catalog, width=0)


def main(argv: list[str] | None = None) -> int:
    """Command line: one id with its English and Chinese text."""
    parser = argparse.ArgumentParser(prog="python -m grader.text.po_add", description=__doc__.splitlines()[0])
    parser.add_argument("domain")
    parser.add_argument("id")
    parser.add_argument("--en", required=True)
    parser.add_argument("--zh", required=True)
    parser.add_argument("--root", type=Path, default=LOCALE_DIR, help="the locale folder (a check package's own: <package>/locale)")
    args = parser.parse_args(argv)
    add(args.domain, {args.id: (args.en, args.zh)}, root=args.root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
