"""drivers/mail/html.py: a mail's HTML cleaned by nh3's allowlist and read as text."""

from __future__ import annotations

import pytest

from drivers.mail.html import (
    MAX_HTML_IN,
    MAX_NESTING,
    MAX_QUOTE_MARKS,
    clean_html,
    plain_text,
    too_costly,
)


@pytest.mark.parametrize(
    ("dirty", "kept"),
    [
        ("<p>hi<script>alert(1)</script></p>", "<p>hi</p>"),
        ('<img src="x" onerror="alert(1)" alt="pic">', '<img alt="pic">'),
        ('<a href="javascript:alert(1)">x</a>', '<a rel="noopener noreferrer">x</a>'),
        ('<a href="jav&#x61;script:alert(1)">x</a>', '<a rel="noopener noreferrer">x</a>'),
        ('<a href="java\nscript:alert(1)">x</a>', '<a rel="noopener noreferrer">x</a>'),
        ('<a href="data:text/html,<b>x</b>">x</a>', '<a rel="noopener noreferrer">x</a>'),
        ('<a href="/relative">x</a>', '<a rel="noopener noreferrer">x</a>'),
        ('<img src="https://tracker.example/p.gif?u=1">', "<img>"),
        ('<img src="cid:part1@mail">', "<img>"),
        ('<p style="background:url(javascript:x)">t</p>', "<p>t</p>"),
        ("<style>p{}</style><svg><script>1</script></svg>ok", "ok"),
        ('<form action="https://evil.example"><input name="p"></form>ok', "ok"),
        ('<meta http-equiv="refresh" content="0;url=https://evil.example">ok', "ok"),
        ('<base href="https://evil.example/">ok', "ok"),
        ("<!-- secret -->ok", "ok"),
        ('<iframe src="https://evil.example"></iframe>ok', "ok"),
        ('<font color="red" face="x">old</font>', "<font>old</font>"),
        ("a\x00b", "ab"),
    ],
)
def test_hostile_html_is_cleaned(dirty: str, kept: str) -> None:
    assert clean_html(dirty) == kept


def test_links_that_stay() -> None:
    out = clean_html('<a href="https://example.com/help?a=1&amp;b=2" title="Help">help</a>')
    assert out == (
        '<a href="https://example.com/help?a=1&amp;b=2" title="Help" '
        'rel="noopener noreferrer">help</a>'
    )
    assert 'href="mailto:desk@example.com"' in clean_html('<a href="mailto:desk@example.com">m</a>')


def test_cleaning_is_idempotent() -> None:
    once = clean_html('<div><a href="https://x.example">x</a><table><tr><td>1</td></tr></table>')
    assert clean_html(once) == once


def test_text_has_blocks_on_lines_and_quotes_marked() -> None:
    html = clean_html(
        "<div>Thanks,\n  it   works.</div><div>Sue</div>"
        "<blockquote><p>On Monday you wrote:</p><blockquote>first</blockquote></blockquote>"
        "<pre>line 1\nline 2</pre><table><tr><td>a</td><td>b</td></tr></table>"
    )
    assert plain_text(html) == (
        "Thanks, it works.\nSue\n> On Monday you wrote:\n> > first\nline 1\nline 2\na b"
    )


def test_text_keeps_chinese_and_alt() -> None:
    assert plain_text(clean_html('<p>您好&nbsp;世界</p><img alt="截图">')) == "您好 世界\n截图"


def test_deep_quotes_give_a_bounded_text() -> None:
    """3,000 nested quotes of one letter each: 39 KB of HTML made 9 million "> " marks."""
    text = plain_text("<blockquote>x" * 3000)
    lines = text.split("\n")
    assert len(lines) == 3000
    assert lines[0] == "> x" and lines[-1] == "> " * MAX_QUOTE_MARKS + "x"
    assert len(text) < 3000 * (2 * MAX_QUOTE_MARKS + 2)


def test_text_of_uncleaned_html_leaves_scripts_and_styles_out() -> None:
    html = "<style>p{color:red}</style><p>您好</p><script>alert(1)</script><title>t</title>ok"
    assert plain_text(html) == "您好\nok"


@pytest.mark.parametrize(
    ("html", "why"),
    [
        ("<div>x" * (MAX_NESTING + 1), "nests elements deeper than"),
        # a stray end tag, which html5ever ignores, does not hide a <div> from the count
        ("<div></span>" * (MAX_NESTING + 1), "nests elements deeper than"),
        ("<blockquote><!-- </blockquote> -->" * (MAX_NESTING + 1), "nests elements deeper"),
        ("x" * (MAX_HTML_IN + 1), "is longer than"),
    ],
)
def test_html_too_costly_to_clean(html: str, why: str) -> None:
    assert why in too_costly(html)


@pytest.mark.parametrize(
    "html",
    [
        "<div>x</div>" * 5000,
        "<div>" * MAX_NESTING + "</div>" * MAX_NESTING,
        "<p>one<li>two<td>three" * 2000,  # an old mailer's unclosed tags nest nothing
        "<br><img alt=x><hr>" * 2000,
    ],
)
def test_html_cheap_enough_to_clean(html: str) -> None:
    assert too_costly(html) == ""
