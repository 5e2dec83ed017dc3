"""Rich text (knowledge-base articles, ticket comments): HTML from a browser's editor made
safe to show, and its plain text for search and snippets.

Cleaning is nh3 (the Rust library ammonia over html5ever, a real HTML5 parser) with an
allowlist: the tags and attributes below and nothing else, links to http, https and mailto
only (with ``rel="noopener noreferrer"``), images only from our own attachment URLs, no
SVG or MathML, no ``style`` of any kind, no event handlers, no comments. Never a regular
expression over HTML: the parser sees what a browser sees (entities, case, broken tags).

Everything stored is cleaned on the way in, and pages may mark only ``clean_html``'s output
``|safe``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

# Rich text longer than this is refused by the stores that keep it (a clear error).
MAX_HTML = 256 * 1024

TAGS = frozenset(
    {
        "h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "div",
        "ul", "ol", "li", "dl", "dt", "dd",
        "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption",
        "a", "img", "audio",
        "b", "i", "u", "s", "strong", "em", "sub", "sup", "mark",
        "code", "pre", "kbd", "blockquote",
    }
)  # fmt: skip
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "audio": {"src", "controls"},
    "ol": {"start"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
# Tags removed with everything inside them (their text is no article's text).
DROPPED_WITH_CONTENT = frozenset(
    {
        "script", "style", "svg", "math", "iframe", "object", "embed", "template",
        "noscript", "textarea", "select", "frameset", "noembed", "noframes", "xmp", "title",
    }
)  # fmt: skip
URL_SCHEMES = frozenset({"http", "https", "mailto"})
# Files the box serves itself: an image or audio must be one of these (never another host,
# never data:); the pages that serve them check the id against their own index.
OWN_FILE = re.compile(
    r"/(?:kb|tickets)/attachments/[A-Za-z0-9_-]{1,64}(?:/(?!\.\.?$)[A-Za-z0-9_.-]{1,200})?"
)
_LINK = re.compile(r"(?:https?://[^\s/?#]|mailto:[^\s]|/(?![/\\])|#)", re.IGNORECASE)
_NUMBER = re.compile(r"[0-9]{1,4}")


def _attribute(element: str, attribute: str, value: str) -> str | None:
    """What stays of one attribute the allowlist let through (None: drop it). The value
    arrives with its entities decoded, so ``jav&#x61;script:`` is seen as what it is."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return None  # a browser drops tabs and newlines inside URLs: never guess
    if attribute == "href":
        return value if _LINK.match(value) else None
    if attribute == "src":
        return value if OWN_FILE.fullmatch(value) else None
    if attribute in ("width", "height", "colspan", "rowspan", "start"):
        return value if _NUMBER.fullmatch(value) else None
    if attribute == "controls":
        return ""
    return value[:500]


_CLEANER = nh3.Cleaner(
    tags=set(TAGS),
    clean_content_tags=set(DROPPED_WITH_CONTENT),
    attributes={tag: set(names) for tag, names in ATTRIBUTES.items()},
    attribute_filter=_attribute,
    strip_comments=True,
    link_rel="noopener noreferrer",
    url_schemes=set(URL_SCHEMES),
)


def clean_html(html: str) -> str:
    """``html`` with everything outside the allowlist removed (idempotent: cleaning clean
    HTML changes nothing). Safe to put into a page as markup."""
    if not html:
        return ""
    return _CLEANER.clean(html.replace("\x00", ""))


# Elements after which the plain text starts a new line (so words never run together).
_BLOCKS = frozenset(
    {
        "h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "div", "li", "dt", "dd",
        "tr", "caption", "pre", "blockquote", "table", "ul", "ol", "dl",
    }
)  # fmt: skip


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" ")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.parts.append(f" {alt} ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u3000]+")
_LINES = re.compile(r"\s*\n\s*")


def plain_text(html: str) -> str:
    """The text of (cleaned) rich text: one line per block, runs of spaces as one, for
    search and snippets (and never shown as markup)."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    text = _SPACES.sub(" ", "".join(parser.parts))
    return _LINES.sub("\n", text).strip()
