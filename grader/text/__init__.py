"""Messages by id and the catalogs that put them into English and Chinese (see message.py, catalog.py)."""

from .catalog import LANGS, Lang, add_locale_dir, catalog, placeholders, render, render_markup, template
from .message import Arg, Message, Verbatim, msg, verbatim

__all__ = ["Arg", "LANGS", "Lang", "Message", "Verbatim", "add_locale_dir", "catalog", "msg", "placeholders", "render",
           "render_markup", "template", "verbatim"]
