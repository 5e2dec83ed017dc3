"""An e-mail account's settings tried once, for the admin's "Test connection": log in over
IMAP and open the folder (read-only); connect over SMTP, say EHLO, STARTTLS when asked, and
log in -- nothing is sent, nothing in the mailbox changes.

Both block (imapclient, the stdlib's smtplib: well-kept clients): call them in a thread,
never on the reactor. Each answers ``Checked(ok, detail)``; ``detail`` is short and safe to
show an admin (a server's reply, never the password). ``check_account`` runs both in a
thread of its own, one test at a time, and waits for them at most a given time: a socket's
timeout bounds each read, not a server that sends a byte now and then.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
import threading
from dataclasses import dataclass

from imapclient import IMAPClient  # type: ignore[import-untyped]

from drivers.mail.imap import ImapSettings
from drivers.mail.smtp import SmtpSettings

MAX_DETAIL = 200
NO_ANSWER = "no answer in time"
# One test at a time: held by the thread that runs it until it ends, also after its caller
# stopped waiting.
_running = threading.Lock()


@dataclass(frozen=True)
class Checked:
    ok: bool
    detail: str  # the folder's message count, or why it failed


def _context(ca_file: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file or None)


def _why(exc: BaseException) -> str:
    text = str(exc)
    if text.startswith(("b'", 'b"')):
        text = text[2:-1]
    if isinstance(exc, socket.timeout | TimeoutError):
        text = NO_ANSWER
    elif isinstance(exc, ConnectionRefusedError):
        text = "connection refused"
    elif isinstance(exc, socket.gaierror):
        text = "unknown host"
    elif isinstance(exc, ssl.SSLError):
        text = f"TLS failed: {exc.reason or text}"
    return (text or type(exc).__name__)[:MAX_DETAIL]


def check_imap(s: ImapSettings) -> Checked:
    """Log in and EXAMINE the folder: ``detail`` is its message count."""
    client = None
    try:
        client = IMAPClient(
            s.host,
            port=s.port,
            ssl=s.security == "tls",
            ssl_context=_context(s.ca_file) if s.security == "tls" else None,
            timeout=s.timeout_s,
        )
        if s.security == "starttls":
            client.starttls(_context(s.ca_file))
        client.login(s.user, s.password)
        info = client.select_folder(s.folder, readonly=True)
        return Checked(True, str(int(info.get(b"EXISTS", 0))))
    except Exception as exc:  # every failure is an answer for the admin
        return Checked(False, _why(exc))
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.logout()


def check_smtp(s: SmtpSettings) -> Checked:
    """Connect, EHLO, STARTTLS (``starttls``), log in when a user is set; send nothing."""
    try:
        server: smtplib.SMTP
        if s.security == "tls":
            server = smtplib.SMTP_SSL(
                s.host, s.port, timeout=s.timeout_s, context=_context(s.ca_file)
            )
        else:
            server = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
        with server:
            server.ehlo()
            if s.security == "starttls":
                server.starttls(context=_context(s.ca_file))
                server.ehlo()
            if s.user:
                server.login(s.user, s.password)
            server.noop()
        return Checked(True, "")
    except smtplib.SMTPResponseException as exc:
        reply = exc.smtp_error
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        return Checked(False, f"{exc.smtp_code} {text}"[:MAX_DETAIL])
    except Exception as exc:  # every failure is an answer for the admin
        return Checked(False, _why(exc))


def check_account(
    imap: ImapSettings, smtp: SmtpSettings | None, within_s: float
) -> tuple[Checked, Checked | None] | None:
    """IMAP, then SMTP (None: not set, not tried), in a thread of its own; waits at most
    ``within_s`` for both (what did not end by then is "no answer in time"; its thread ends
    on its own). None when another test is still running."""
    if not _running.acquire(blocking=False):
        return None
    results: list[Checked] = []
    done = threading.Event()

    def work() -> None:
        try:
            results.append(check_imap(imap))
            if smtp is not None:
                results.append(check_smtp(smtp))
        finally:
            done.set()
            _running.release()

    threading.Thread(target=work, name="mail connection check", daemon=True).start()
    done.wait(within_s)
    got = list(results)
    late = Checked(False, NO_ANSWER)
    return (got[0] if got else late), (None if smtp is None else got[1] if len(got) > 1 else late)
