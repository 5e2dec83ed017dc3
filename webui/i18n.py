"""Translations for the web UI: gettext catalogs (en, zh_CN), chosen per request.

The ``.po`` files are the source of truth and are compiled in memory when first used
(Babel), so an editable checkout, a wheel and a box all read the same files with no
separate compile step to forget. Strings are marked with ``_()`` in Python and
``{{ _("...") }}`` in templates; ``make messages`` extracts them.
"""

from __future__ import annotations

import functools
import gettext
import io
import re
from collections.abc import Callable
from pathlib import Path

import cherrypy
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from appliance.text import N_ as N_  # the web UI marks with the same no-op
from appliance.text import Message, message_of

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "ccbox"
LOCALES = ("en", "zh_CN")
LOCALE_NAMES = {"en": "English", "zh_CN": "中文"}


@functools.cache
def translations(locale: str) -> gettext.NullTranslations:
    if locale not in LOCALES:
        raise ValueError(f"unknown locale {locale!r}")
    po_path = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po_path.open("rb") as fp:
        catalog = read_po(fp, locale=locale, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def current() -> gettext.NullTranslations:
    """The translations of the request being served (English outside a request)."""
    return getattr(cherrypy.serving.request, "ccbox_translations", None) or translations("en")


def _(message: str) -> str:
    return current().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return current().ngettext(singular, plural, n)


def negotiate(accept_language: str, default: str) -> str:
    """Pick a supported locale from an Accept-Language header, else ``default``."""
    for part in accept_language.split(",")[:20]:
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh_CN"
        if tag.startswith("en"):
            return "en"
    return default


def translate(text: str) -> str:
    """``text`` in the request's language when it is an engine's ``Message`` (its parameters
    translated too when they are messages); any other text as it is (user data, names)."""
    if not isinstance(text, Message):
        return text
    params = {
        k: translate(v) if isinstance(v, str) else error(v) if isinstance(v, BaseException) else v
        for k, v in text.params.items()
    }
    translated = _(text.msgid)
    try:
        return translated.format(**params) if params else translated
    except (KeyError, IndexError, ValueError):  # a broken translation: the English is right
        return str.__str__(text)


def translator(locale: str) -> Callable[[str], str]:
    """``translate`` into ``locale`` outside any request (a scheduled report's e-mail and
    its attachment): an engine's ``Message`` looked up in that catalog, its parameters
    too; any other text as it is."""
    catalog = translations(locale if locale in LOCALES else "en")

    def tr(text: str) -> str:
        if not isinstance(text, Message):
            return text
        params = {k: tr(v) if isinstance(v, str) else v for k, v in text.params.items()}
        translated = catalog.gettext(text.msgid)
        try:
            return translated.format(**params) if params else translated
        except (KeyError, IndexError, ValueError):  # a broken translation: the English
            return str.__str__(text)

    return tr


def shown(text: str) -> str:
    """A refusal in the request's language: an engine's ``Message`` (see ``appliance.text``),
    or a driver's English text that labels.py knows; anything else as it is."""
    if isinstance(text, Message):
        return translate(text)
    from webui import labels  # labels uses this module

    return labels.driver_message(text)


def error(exc: BaseException) -> str:
    """An exception's message in the request's language (see ``shown``)."""
    return shown(message_of(exc))


# An error page's title by status, and what it says when CherryPy wrote the message itself
# (an unknown path, a body too large, a 500): CherryPy's English stays in the log.
STATUS_NAMES = {
    400: N_("Bad request"),
    401: N_("Not logged in"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    405: N_("Method not allowed"),
    409: N_("Conflict"),
    413: N_("Too large"),
    415: N_("Wrong content type"),
    429: N_("Too many requests"),
    500: N_("Server error"),
    503: N_("Unavailable"),
    507: N_("Storage full"),
}
STATUS_MESSAGES = {
    404: N_("There is no such page."),
    413: N_("What was sent is larger than this page takes."),
    500: N_("Something went wrong in ccbox: the log has the details."),
}
_CHERRYPY_TEXT = re.compile(r"The path '.*' was not found\.", re.S)


def error_text(status: str, message: str) -> tuple[str, str]:
    """An error page's title and message in the reader's language: before the guard has
    chosen one (an unknown path), from Accept-Language. Our own messages are translated
    where they are raised; CherryPy's are replaced by ours."""
    request = cherrypy.serving.request
    if getattr(request, "ccbox_translations", None) is None:
        chosen = negotiate(request.headers.get("Accept-Language", ""), "en")
        request.ccbox_translations = translations(chosen)
    try:
        code = int(status.split()[0])
    except (ValueError, IndexError):
        return status, message
    from cherrypy.lib import httputil

    cherrypys = {text for pair in [httputil.response_codes.get(code, ("", ""))] for text in pair}
    if code in STATUS_MESSAGES and (message in cherrypys or _CHERRYPY_TEXT.fullmatch(message)):
        message = _(STATUS_MESSAGES[code])
    elif message in cherrypys:
        message = ""
    title = f"{code} {_(STATUS_NAMES[code])}" if code in STATUS_NAMES else status
    return title, message or title
