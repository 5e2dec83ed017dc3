"""Mail out: one message through the configured SMTP server with Twisted's ESMTP client (no
thread, no blocking): implicit TLS for "tls" (port 465), STARTTLS required for "starttls"
(the send fails rather than go out in clear when the server does not offer it), plain for
"none". AUTH when a user is set. One try per call: the caller keeps what it could not send
and decides when to try again.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from twisted.internet import defer, error, ssl
from twisted.internet.defer import Deferred
from twisted.mail import smtp

SECURITY = ("tls", "starttls", "none")


class MailSendError(Exception):
    """The message was not sent; ``reason`` says why (safe to show an admin)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str  # "tls" | "starttls" | "none"
    user: str = ""
    password: str = ""
    timeout_s: float = 30.0
    # a CA bundle (PEM) to trust instead of the system's; "" for the system's
    ca_file: str = ""


def _tls_options(settings: SmtpSettings) -> Any:
    if settings.ca_file:
        root = ssl.Certificate.loadPEM(Path(settings.ca_file).read_bytes())
        return ssl.optionsForClientTLS(settings.host, trustRoot=root)
    return ssl.optionsForClientTLS(settings.host)


def _resp(exc: Any) -> str:
    resp = getattr(exc, "resp", b"")
    return resp.decode(errors="replace") if isinstance(resp, bytes) else str(resp)


def _reason(failure: Any, settings: SmtpSettings) -> str:
    exc = failure.value
    where = f"{settings.host}:{settings.port}"
    if isinstance(exc, defer.CancelledError | error.TimeoutError | defer.TimeoutError):
        return f"no answer from {where} within {settings.timeout_s:g} s"
    if isinstance(exc, error.ConnectError):
        return f"cannot connect to {where}: {exc.__class__.__name__}"
    if isinstance(exc, smtp.SMTPConnectError):
        return f"cannot connect to {where}: {_resp(exc)}"[:300]
    if isinstance(exc, smtp.SMTPClientError):
        text = _resp(exc)
        if isinstance(exc, smtp.TLSRequiredError | smtp.TLSError):
            return f"{where} offers no STARTTLS: not sent in clear"
        if isinstance(exc, smtp.AUTHRequiredError):
            return f"{where} offers no AUTH for the user"
        return f"{where} refused: {exc.code or ''} {text}".strip()[:300]
    return f"sending through {where} failed: {exc}"[:300]


class _Sender(smtp.ESMTPSenderFactory):
    """Twisted's sender with a Deferred that fires when its connection is gone."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.closed: Deferred[None] = Deferred()

    def _processConnectionError(self, connector: Any, err: Any) -> None:
        super()._processConnectionError(connector, err)
        if not self.closed.called:
            self.closed.callback(None)


def wire_bytes(msg: EmailMessage) -> bytes:
    """``msg`` as :func:`send` hands it to Twisted's client (lines ending in LF: the client
    turns each into CRLF on the wire). A second and more for a mail with 20 MB of files: a caller
    sending such a mail runs this in a thread and gives ``send`` the bytes."""
    return msg.as_bytes(policy=msg.policy.clone(linesep="\n"))


def send(
    reactor: Any,
    settings: SmtpSettings,
    sender: str,
    recipients: list[str],
    msg: EmailMessage | bytes,
) -> Deferred[None]:
    """Send ``msg`` (envelope ``sender`` -> ``recipients``; bytes: as :func:`wire_bytes`
    made them); fails with MailSendError."""
    if settings.security not in SECURITY:
        return defer.fail(MailSendError(f"unknown security {settings.security!r}"))
    if not settings.host or not recipients:
        return defer.fail(MailSendError("no server or no recipient"))
    try:
        data = msg if isinstance(msg, bytes) else wire_bytes(msg)
        tls = _tls_options(settings) if settings.security != "none" else None
    except (OSError, ValueError, TypeError, UnicodeError) as exc:
        return defer.fail(MailSendError(f"the message cannot be sent: {exc}"[:300]))
    sent: Deferred[Any] = Deferred()
    factory = _Sender(
        settings.user.encode() or None,
        settings.password.encode() or None,
        sender,
        list(recipients),
        io.BytesIO(data),
        sent,
        retries=0,
        timeout=int(settings.timeout_s) or 1,
        contextFactory=tls if settings.security == "starttls" else None,
        requireAuthentication=bool(settings.user),
        requireTransportSecurity=settings.security == "starttls",
        hostname=settings.host,
    )
    if settings.security == "tls":
        connector = reactor.connectSSL(
            settings.host, settings.port, factory, tls, timeout=settings.timeout_s
        )
    else:
        connector = reactor.connectTCP(
            settings.host, settings.port, factory, timeout=settings.timeout_s
        )

    def cancel(_: Deferred[None]) -> None:
        connector.disconnect()

    result: Deferred[None] = Deferred(cancel)

    def ok(_: Any) -> None:
        if not result.called:
            result.callback(None)

    def failed(failure: Any) -> None:
        if not result.called:
            result.errback(MailSendError(_reason(failure, settings)))

    def closed(_: Any, outcome: Any) -> Any:
        return outcome

    # the outcome is told once the connection is closed too (the server took the mail
    # before our QUIT): a caller that stops the reactor or a test leaves no socket behind
    sent.addBoth(lambda outcome: factory.closed.addBoth(closed, outcome))
    sent.addCallbacks(ok, failed)
    result.addTimeout(settings.timeout_s * 2, reactor)
    result.addErrback(
        lambda f: f if f.check(MailSendError) else defer.fail(MailSendError(_reason(f, settings)))
    )
    return result
