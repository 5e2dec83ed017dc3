# ruff: noqa: RUF001  (Chinese text keeps its own punctuation)
"""desk_chat.js in real headless Chromium, on the desk's chat panel (the real template) with
the API and the stream stubbed in the page: what the agent sees when the session is gone,
an offer listed again after a reload, a canned reply at the cursor, a file attached while
a line is on its way, and the ticket's number. The whole desk against a running ccboxd is
tests/browser/test_chat_channels.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.chromium import headless_chromium

pytestmark = pytest.mark.integration

WEBUI = Path(__file__).resolve().parents[2] / "webui"

# fetch and EventSource stand-ins: answers from window.__answer(method, path, body), kept
# in window.__calls; an answer may be a Promise (a request still on its way).
STUBS = """<script>
window.__calls = [];
window.__sources = [];
window.__answer = function () { return [200, {}]; };
window.fetch = function (url, opts) {
  var path = url.replace("/chat-desk/api/", "");
  window.__calls.push([opts.method, path]);
  return Promise.resolve(window.__answer(opts.method, path, opts.body)).then(function (a) {
    var data = Object.assign({replies: [], customer: null, open_tickets: [], timeline: [],
                              suggestions: []}, a[1]);
    return {ok: a[0] < 400, status: a[0], json: function () { return Promise.resolve(data); }};
  });
};
window.EventSource = function (url) { this.url = url; this.readyState = 0;
                                      window.__sources.push(this); };
window.EventSource.CLOSED = 2;
</script>
"""


def active(cid: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": cid,
        "media": "chat",
        "state": "active",
        "name": "王小明",
        "phone": "",
        "email": "",
        "subject": "",
        "queue": "web",
        "messages": [],
        "offer_left_s": None,
        **extra,
    }


def listing(*conversations: dict[str, Any]) -> dict[str, Any]:
    return {
        "agent": 1,
        "offer_timeout_s": 60,
        "conversations": list(conversations),
        "load": {"open": len(conversations), "capacity": 3},
    }


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(WEBUI / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    panel = env.get_template("_desk_chats.html").render(csrf_token="t")
    script = (WEBUI / "static" / "desk_chat.js").as_uri()
    assert '<script src="/static/desk_chat.js"></script>' in panel
    panel = panel.replace('src="/static/desk_chat.js"', f'src="{script}"')
    # base.html loads the admin pages' shared helpers (page.js) in every page's head
    assert (
        '<script src="/static/page.js"></script>' in (WEBUI / "templates" / "base.html").read_text()
    )
    helpers = (WEBUI / "static" / "page.js").as_uri()
    html = tmp_path_factory.mktemp("desk-chat-js") / "desk.html"
    html.write_text(
        f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">{STUBS}'
        f'<script src="{helpers}"></script></head>'
        f"<body>{panel}</body></html>",
        encoding="utf-8",
    )
    return html


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    with headless_chromium() as driver:
        yield driver


def open_desk(driver: WebDriver, page: Path, answers: str) -> None:
    """The page with ``answers`` (a JS function body of method, path, body) as the API."""
    script = f"window.__answer = function (method, path, body) {{ {answers} }};"
    text = page.read_text(encoding="utf-8").replace("</head>", f"<script>{script}</script></head>")
    run = page.with_name(f"run-{len(list(page.parent.iterdir()))}.html")
    run.write_text(text, encoding="utf-8")
    driver.get(run.as_uri())


def wait(driver: WebDriver, js: str, what: str) -> Any:
    return WebDriverWait(driver, 5).until(lambda d: d.execute_script(js), what)


def test_a_desk_whose_session_is_gone_says_so_and_stops(browser: WebDriver, page: Path) -> None:
    """It retried every 5 s forever, "reconnecting", on a 401 after a logout elsewhere."""
    open_desk(browser, page, 'return [401, {"error": "not logged in"}];')
    wait(
        browser,
        "return document.getElementById('chat-conn').dataset.state === 'logged-out'",
        "logged out shown",
    )
    assert browser.find_element(By.ID, "chat-conn").text == "Logged out"
    assert browser.execute_script("return window.__sources.length") == 0  # no stream opened


def test_an_offer_listed_again_keeps_its_countdown(browser: WebDriver, page: Path) -> None:
    offered = active(5, state="offered", offer_left_s=12)
    open_desk(browser, page, f"return [200, {json.dumps(listing(offered))}];")
    text = wait(
        browser,
        "return document.getElementById('chat-offers').textContent.trim()",
        "the offer",
    )
    assert "12 s left" in text or "11 s left" in text, text  # not the full 60 again


def test_a_canned_reply_goes_in_at_the_cursor_even_at_the_start(
    browser: WebDriver, page: Path
) -> None:
    open_desk(browser, page, f"return [200, {json.dumps(listing(active(7)))}];")
    wait(browser, "return !document.getElementById('chat-body').hidden", "the chat open")
    value = browser.execute_script(
        """
        var t = document.getElementById('chat-text');
        t.value = '请稍等';
        t.setSelectionRange(0, 0);
        var s = document.getElementById('chat-canned');
        var o = document.createElement('option'); o.value = '您好，'; s.appendChild(o);
        s.value = '您好，';
        s.dispatchEvent(new Event('change'));
        return [t.value, t.selectionStart];
        """
    )
    assert value == ["您好，请稍等", 3]


def test_a_file_attached_while_a_line_is_on_its_way_waits_for_the_next(
    browser: WebDriver, page: Path
) -> None:
    """The answer to a send cleared every pending file, the one just uploaded too."""
    open_desk(
        browser,
        page,
        f"""
        if (path === 'conversations') return [200, {json.dumps(listing(active(7)))}];
        if (path.indexOf('attach?') === 0) {{
          window.__attached = (window.__attached || 0) + 1;
          var n = window.__attached;
          return [200, {{id: 100 + n, file_name: 'f' + n + '.png'}}];
        }}
        if (path === 'send') {{
          return new Promise(function (resolve) {{
            window.__sent = function () {{
              var line = {{id: 1, sender: 'agent', body: 'x', attachments: [], created_at: ''}};
              resolve([200, line]);
            }};
          }});
        }}
        return [200, {{}}];
        """,
    )
    wait(browser, "return !document.getElementById('chat-body').hidden", "the chat open")
    attach = """
        var input = document.getElementById('chat-file');
        var dt = new DataTransfer();
        dt.items.add(new File(['x'], arguments[0], {type: 'image/png'}));
        input.files = dt.files;
        input.dispatchEvent(new Event('change'));
    """
    pending = (
        "return Array.from(document.querySelectorAll('[data-test=chat-pending-file]'))"
        ".map(function (li) { return li.firstChild.textContent; })"
    )
    browser.execute_script(attach, "a.png")
    wait(browser, pending + ".length === 1", "the first file pending")
    browser.execute_script(
        "document.getElementById('chat-text').value = '看附件';"
        "document.getElementById('chat-compose').requestSubmit();"
    )
    wait(browser, "return typeof window.__sent === 'function'", "the send on its way")
    browser.execute_script(attach, "b.png")
    wait(browser, pending + ".length === 2", "the second file pending")
    browser.execute_script("window.__sent();")
    wait(browser, "return document.getElementById('chat-text').value === ''", "the line sent")
    assert browser.execute_script(pending) == ["f2.png"]


def test_the_ticket_made_is_named_by_its_number(browser: WebDriver, page: Path) -> None:
    open_desk(
        browser,
        page,
        f"""
        if (path === 'conversations') return [200, {json.dumps(listing(active(7)))}];
        if (path === 'ticket') return [200, {{ticket_id: 41, number: 'T20261207-0003',
                                             created: true, url: '/tickets/view?id=41'}}];
        return [200, {{}}];
        """,
    )
    wait(browser, "return !document.getElementById('chat-body').hidden", "the chat open")
    browser.find_element(By.ID, "chat-btn-ticket").click()
    text = wait(
        browser,
        "var p = document.getElementById('chat-ticket-link'); return !p.hidden && p.textContent;",
        "the ticket link",
    )
    assert "T20261207-0003" in text and "#41" not in text, text
