"""Rich text: what an attacker types into an article or a ticket comment comes out inert,
and what an editor legitimately writes comes out as written."""

from __future__ import annotations

import pytest

from appliance.rich_text import clean_html, plain_text

# (hostile input, what must not survive cleaning), in the forms that beat naive filters.
HOSTILE = [
    ("<script>alert(1)</script>", "alert"),
    ("<SCRIPT SRC=//evil.example/x.js></SCRIPT>", "evil"),
    ("<scr<script>ipt>alert(1)</script>", "<script"),
    ('<p onclick="alert(1)">x</p>', "onclick"),
    ("<b onmouseover=alert(1)>x</b>", "onmouseover"),
    ('<img src=x onerror="alert(1)">', "onerror"),
    ('<a href="javascript:alert(1)">x</a>', "javascript"),
    ('<a href="JaVaScRiPt:alert(1)">x</a>', "alert"),
    ('<a href="jav&#x61;script:alert(1)">x</a>', "alert"),
    ('<a href="jav&#97;script&colon;alert(1)">x</a>', "alert"),
    ('<a href="java\tscript:alert(1)">x</a>', "alert"),
    ('<a href="&#14;javascript:alert(1)">x</a>', "alert"),
    ('<a href=" javascript:alert(1)">x</a>', "alert"),
    ('<a href="vbscript:msgbox(1)">x</a>', "vbscript"),
    ('<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>', "data:"),
    ('<a href="//evil.example/">x</a>', "evil"),
    ("<svg onload=alert(1)><circle r=5 /></svg>", "svg"),
    ("<svg><script>alert(1)</script></svg>", "alert"),
    ('<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>', "alert"),
    ("<math><mtext><script>alert(1)</script></mtext></math>", "alert"),
    ('<p style="background:url(javascript:alert(1))">x</p>', "style"),
    ("<style>body{display:none}</style><p>x</p>", "display"),
    ('<div style="position:fixed;top:0">x</div>', "position"),
    ('<iframe src="https://evil.example/"></iframe>', "iframe"),
    ('<object data="evil.swf"></object><embed src="evil.swf">', "evil"),
    ('<img src="javascript:alert(1)">', "javascript"),
    ('<img src="https://tracker.example/pixel.gif">', "tracker"),
    ('<img src="data:image/png;base64,iVBORw0KGgo=">', "data:"),
    ('<img src="/kb/attachments/7/../../../etc/passwd">', "passwd"),
    ('<form action="https://evil.example"><input name=q></form>', "form"),
    ('<meta http-equiv="refresh" content="0;url=https://evil.example">', "refresh"),
    ('<base href="https://evil.example/">', "base"),
    ('<link rel="stylesheet" href="https://evil.example/x.css">', "evil"),
    ("<!--<script>alert(1)</script>-->", "alert"),
    ('<p id="login" class="x" name="y">x</p>', "login"),
    ("<template><script>alert(1)</script></template>", "alert"),
    ('<a href="https://ok.example/" target="_blank">x</a>', "_blank"),
]


@pytest.mark.parametrize(("html", "gone"), HOSTILE)
def test_hostile_markup_is_removed(html: str, gone: str) -> None:
    out = clean_html(html)
    assert gone.lower() not in out.lower(), out
    assert clean_html(out) == out  # cleaning what is clean changes nothing


def test_unclosed_and_broken_tags_are_closed_not_leaked() -> None:
    assert clean_html("<b>bold <i>both") == "<b>bold <i>both</i></b>"
    assert clean_html("<p>a<p>b") == "<p>a</p><p>b</p>"
    assert clean_html('<a href="https://x.example/>x') == ""
    assert clean_html("1 < 2 & 3 > 2") == "1 &lt; 2 &amp; 3 &gt; 2"
    assert clean_html("x\x00<script>y</script>") == "x"


def test_what_editors_write_is_kept() -> None:
    html = (
        "<h2>退款流程</h2><p>Step <b>one</b>, <i>two</i>, <u>three</u>, <code>x = 1</code></p>"
        '<ul><li>a</li></ul><ol start="3"><li>b</li></ol><blockquote>q</blockquote>'
        "<pre>line 1\nline 2</pre>"
        '<table><thead><tr><th>k</th></tr></thead><tbody><tr><td colspan="2">v</td></tr>'
        "</tbody></table>"
    )
    assert clean_html(html) == html


def test_links_keep_http_https_mailto_and_our_paths_and_open_safely() -> None:
    out = clean_html(
        '<a href="https://help.example/a?b=1&amp;c=2">s</a> <a href="http://x.example/">h</a>'
        ' <a href="mailto:help@example.com">m</a> <a href="/kb/articles/3">k</a>'
    )
    assert out == (
        '<a href="https://help.example/a?b=1&amp;c=2" rel="noopener noreferrer">s</a>'
        ' <a href="http://x.example/" rel="noopener noreferrer">h</a>'
        ' <a href="mailto:help@example.com" rel="noopener noreferrer">m</a>'
        ' <a href="/kb/articles/3" rel="noopener noreferrer">k</a>'
    )
    # a rel of the author's own is replaced by ours
    assert 'rel="noopener noreferrer"' in clean_html('<a href="https://x.example/" rel="opener">')


def test_images_and_audio_only_from_our_attachments() -> None:
    assert clean_html('<img src="/kb/attachments/12" alt="diagram" width="300">') == (
        '<img src="/kb/attachments/12" alt="diagram" width="300">'
    )
    assert clean_html('<img src="/tickets/attachments/ab-1/photo.png">') == (
        '<img src="/tickets/attachments/ab-1/photo.png">'
    )
    assert clean_html('<img src="/kb/attachments/12" width="100%">') == (
        '<img src="/kb/attachments/12">'
    )
    assert clean_html('<audio src="/kb/attachments/9" controls autoplay></audio>') == (
        '<audio src="/kb/attachments/9" controls=""></audio>'
    )
    assert clean_html('<img src="/admin/users?delete=1">') == "<img>"
    assert clean_html('<img src="/kb/attachments/12/..">') == "<img>"


def test_plain_text_is_the_text_with_blocks_on_lines() -> None:
    html = clean_html(
        "<h1>标题</h1><p>你好<b>世界</b></p><ul><li>one</li><li>two</li></ul>"
        '<table><tr><td>a</td><td>b</td></tr></table><p>x&amp;y &lt;z&gt;</p><img alt="pic" '
        'src="/kb/attachments/1">'
    )
    assert plain_text(html) == "标题\n你好世界\none\ntwo\na b\nx&y <z>\npic"
