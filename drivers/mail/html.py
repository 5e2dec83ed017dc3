"""An e-mail's HTML made safe to show on the desk, and its plain text.

Cleaning is nh3 (ammonia over html5ever, a real HTML5 parser) with an allowlist for mail:
the tags below and nothing else, links to absolute http, https and mailto addresses only
(with ``rel="noopener noreferrer"``), images without their source (a remote image in a mail
is a tracker, a ``cid:`` one an attachment the desk lists; the alt text stays), no
``style`` of any kind, no event handlers, no comments, no forms. Never a regular expression
over HTML: the parser sees what a browser sees.

Mail differs from the knowledge base's rich text (appliance/rich_text.py, which the
drivers do not import): old mailers' tags (``font``, ``center``, ``span``) and no images
of our own. The text keeps a quoted reply's ``>`` marks.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

MAX_HTML = 256 * 1024  # cleaned HTML longer than this is not kept (the text is)
# html5ever looks through the open elements at each block's start tag: its time grows with
# the square of the nesting (20,000 nested <div> take 2 s, a 1 MB mail of them minutes).
# HTML longer than MAX_HTML_IN or nested deeper than MAX_NESTING is not cleaned: the mail
# is kept as text. Real mails nest a few dozen levels (a long quoted thread some hundred).
MAX_HTML_IN = 2 * 1024 * 1024
MAX_NESTING = 512
MAX_QUOTE_MARKS = 8  # "> " marks at most before a quoted line of the text
MAX_TEXT = 1_000_000  # characters of text read from HTML

TAGS = frozenset(
    {
        "h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "div", "span", "center",
        "ul", "ol", "li", "dl", "dt", "dd",
        "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption",
        "a", "img", "font",
        "b", "i", "u", "s", "strong", "em", "sub", "sup", "mark", "small", "big", "strike",
        "code", "pre", "kbd", "tt", "blockquote", "q", "cite", "address", "abbr",
    }
)  # fmt: skip
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"alt", "title", "width", "height"},
    "ol": {"start"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "abbr": {"title"},
}
# Removed with everything inside them (their text is not the mail's text).
DROPPED_WITH_CONTENT = frozenset(
    {
        "script", "style", "svg", "math", "iframe", "object", "embed", "template",
        "noscript", "textarea", "select", "frameset", "noembed", "noframes", "xmp", "title",
        "head",
    }
)  # fmt: skip
URL_SCHEMES = frozenset({"http", "https", "mailto"})
_LINK = re.compile(r"(?:https?://[^\s/?#]|mailto:[^\s])", re.IGNORECASE)
_NUMBER = re.compile(r"[0-9]{1,4}%?")


def _attribute(element: str, attribute: str, value: str) -> str | None:
    """What stays of one allowed attribute (None: drop it); entities arrive decoded."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return None  # a browser drops tabs and newlines inside URLs: never guess
    if attribute == "href":
        return value if _LINK.match(value) else None
    if attribute in ("width", "height", "colspan", "rowspan", "start"):
        return value if _NUMBER.fullmatch(value) else None
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
    """``html`` with everything outside the allowlist removed (idempotent). Safe to put
    into a page as markup. Call :func:`too_costly` first on a stranger's HTML."""
    if not html:
        return ""
    return _CLEANER.clean(html.replace("\x00", ""))


# Not counted: elements that hold nothing, and those a sibling of their kind closes (an
# unclosed <p>, <li> or <td> of an old mailer never nests: html5ever closes it).
_FLAT = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
        "param", "source", "track", "wbr", "keygen", "image",
        "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "rb", "rt", "rp",
    }
)  # fmt: skip


class _Nesting(HTMLParser):
    """The open elements, counted per name: an end tag closes only one of its own name (a
    stray ``</span>`` never hides a ``<div>`` from the count, as html5ever ignores it)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.open: dict[str, int] = {}
        self.depth = 0
        self.deepest = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _FLAT:
            return
        self.open[tag] = self.open.get(tag, 0) + 1
        self.depth += 1
        self.deepest = max(self.deepest, self.depth)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)  # a "/>" closes nothing in HTML

    def handle_endtag(self, tag: str) -> None:
        if self.open.get(tag, 0) > 0:
            self.open[tag] -= 1
            self.depth -= 1


def too_costly(html: str) -> str:
    """Why ``html`` is not to be cleaned ("" when it may be): too long, or nested too deep
    for the cleaner's time (see ``MAX_NESTING``)."""
    if len(html) > MAX_HTML_IN:
        return f"is longer than {MAX_HTML_IN // 1024} KB"
    counter = _Nesting()
    step = 64 * 1024
    for at in range(0, len(html), step):
        counter.feed(html[at : at + step])
        if counter.deepest > MAX_NESTING:
            return f"nests elements deeper than {MAX_NESTING} levels"
    return ""


_BLOCKS = frozenset(
    {
        "h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "div", "li", "dt", "dd",
        "tr", "caption", "pre", "table", "ul", "ol", "dl", "center", "address",
    }
)  # fmt: skip


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, list[str]]] = [(0, [])]
        self.depth = 0  # blockquotes around the current line
        self.pre = 0  # <pre> elements around the current text
        self.hidden = 0  # inside a script, style...: HTML that was not cleaned

    def _newline(self) -> None:
        self.lines.append((self.depth, []))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DROPPED_WITH_CONTENT:
            self.hidden += 1
        if tag == "pre":
            self.pre += 1
        if tag == "blockquote":
            self.depth += 1
            self._newline()
        elif tag in _BLOCKS:
            self._newline()
        elif tag in ("td", "th"):
            self.lines[-1][1].append(" ")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.lines[-1][1].append(f" {alt} ")

    def handle_endtag(self, tag: str) -> None:
        if tag in DROPPED_WITH_CONTENT:
            self.hidden = max(0, self.hidden - 1)
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        if tag == "blockquote":
            self.depth = max(0, self.depth - 1)
            self._newline()
        elif tag in _BLOCKS:
            self._newline()

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        if not self.pre:
            self.lines[-1][1].append(data.replace("\n", " "))
            return
        parts = data.split("\n")  # inside <pre> a line break is one
        self.lines[-1][1].append(parts[0])
        for more in parts[1:]:
            self._newline()
            self.lines[-1][1].append(more)


_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u3000]+")


def plain_text(html: str) -> str:
    """The text of mail HTML (cleaned, or not: scripts, styles and the like are left out):
    one line per block, runs of spaces as one, no blank runs, quoted blocks marked ``> ``
    as a text mail quotes them (at most ``MAX_QUOTE_MARKS``: 10,000 nested quotes of one
    letter each made 100 MB of marks), at most ``MAX_TEXT`` characters."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    out: list[str] = []
    size = 0
    for depth, parts in parser.lines:
        line = _SPACES.sub(" ", "".join(parts)).strip()
        if not line:
            continue
        if depth:
            line = "> " * min(depth, MAX_QUOTE_MARKS) + line
        out.append(line)
        size += len(line) + 1
        if size > MAX_TEXT:
            break
    return "\n".join(out)[:MAX_TEXT]
