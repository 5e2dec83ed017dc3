"""Who is asking: the admin site's session cookie, read exactly as ``/events`` reads it, and
the checks every state-changing request passes (the CSRF token in ``X-CSRF-Token`` and the
Origin/Referer rule of webui/access.py, whose functions are reused, not copied)."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from webui import i18n
from webui.access import COOKIE, same_origin

if TYPE_CHECKING:
    from webui.sessions import Session, SessionStore

SUPERVISING = ("admin", "supervisor")


def session_of(sessions: SessionStore, request: Any) -> Session | None:
    """The logged-in session of the request's cookie, or None (never creates one)."""
    raw = request.getCookie(COOKIE.encode())
    if not raw:
        return None
    try:
        session = sessions.peek(raw.decode("ascii"), touch=True)
    except UnicodeDecodeError:
        return None
    if session is None or session.user is None:
        return None
    return session


def _header(request: Any, name: bytes) -> str | None:
    value = request.getHeader(name)
    return None if value is None else value.decode("latin-1")


def posted_by_page(request: Any, session: Session, secure: bool) -> bool:
    """A POST's CSRF token matches the session's and it came from this site's pages."""
    sent = request.getHeader(b"X-CSRF-Token") or b""
    if not hmac.compare_digest(sent, session.csrf_token.encode()):
        return False
    headers: dict[str, str] = {}
    for name in ("Host", "Origin", "Referer"):
        value = _header(request, name.encode())
        if value is not None:
            headers[name] = value
    https = secure or request.isSecure()
    return same_origin(headers, https)


def locale_of(session: Session | None, request: Any, default: str) -> str:
    """The request's language: the session's choice, else the browser's Accept-Language."""
    if session is not None and session.locale:
        return session.locale
    return i18n.negotiate(_header(request, b"Accept-Language") or "", default)
