"""Who is asking on /chat-desk (webui/desk_chat/auth.py): the session cookie as /events reads
it, and a POST's CSRF token plus the same-origin rule of webui/access.py, over HTTP and
behind TLS."""

from __future__ import annotations

from twisted.web import server
from twisted.web.test.requesthelper import DummyChannel

from webui.desk_chat import auth
from webui.sessions import SessionStore, SessionUser


def _request(headers: dict[bytes, bytes], cookie: bytes | None = None) -> server.Request:
    """A real twisted.web request on a channel that is no socket (plain HTTP)."""
    r = server.Request(DummyChannel())
    r.method = b"POST"
    for k, v in headers.items():
        r.requestHeaders.setRawHeaders(k, [v])
    if cookie is not None:
        r.received_cookies[b"ccbox_session"] = cookie
    return r


def test_only_a_logged_in_session_counts_and_none_is_minted() -> None:
    sessions = SessionStore(idle_seconds=60)
    anonymous, _ = sessions.get_or_create(None)
    user, _ = sessions.get_or_create(None)
    user.user = SessionUser(1, "ann", "agent", "Ann")
    before = len(sessions)
    for cookie in (None, b"", b"forged", anonymous.id.encode(), "é".encode()):
        assert auth.session_of(sessions, _request({}, cookie)) is None
    assert auth.session_of(sessions, _request({}, user.id.encode())) is user
    assert len(sessions) == before


def test_a_post_needs_the_token_and_this_sites_origin() -> None:
    sessions = SessionStore(idle_seconds=60)
    s, _ = sessions.get_or_create(None)
    token = s.csrf_token.encode()
    host = {b"Host": b"desk.example:8080"}
    ok = {**host, b"X-CSRF-Token": token, b"Origin": b"http://desk.example:8080"}
    assert auth.posted_by_page(_request(ok), s, secure=False)
    assert not auth.posted_by_page(_request({**ok, b"X-CSRF-Token": b"x" + token}), s, False)
    assert not auth.posted_by_page(
        _request({**host, b"Origin": b"http://desk.example:8080"}), s, False
    )
    assert not auth.posted_by_page(_request({**ok, b"Origin": b"http://evil.example"}), s, False)
    assert not auth.posted_by_page(_request({**ok, b"Origin": b"null"}), s, False)
    # plain HTTP without Origin: the token holds (as the WSGI pages' guard)
    assert auth.posted_by_page(_request({**host, b"X-CSRF-Token": token}), s, False)
    # behind TLS a request without Origin needs an https Referer of this host
    assert not auth.posted_by_page(_request({**host, b"X-CSRF-Token": token}), s, True)
    referer = {**host, b"X-CSRF-Token": token, b"Referer": b"https://desk.example:8080/desk"}
    assert auth.posted_by_page(_request(referer), s, True)
    http_referer = {**referer, b"Referer": b"http://desk.example:8080/desk"}
    assert not auth.posted_by_page(_request(http_referer), s, True)


def test_the_language_is_the_sessions_else_the_browsers() -> None:
    sessions = SessionStore(idle_seconds=60)
    s, _ = sessions.get_or_create(None)
    zh = _request({b"Accept-Language": b"zh-CN,zh;q=0.9"})
    assert auth.locale_of(None, zh, "en") == "zh_CN"
    assert auth.locale_of(s, _request({}), "en") == "en"
    s.locale = "zh_CN"
    assert auth.locale_of(s, _request({b"Accept-Language": b"en"}), "en") == "zh_CN"
