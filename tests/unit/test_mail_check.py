"""The admin's "Test connection" (drivers/mail/check.py ``check_account``): a server that
sends a byte now and then (each read inside the socket's timeout) does not hold the page:
the answer comes while the server still trickles; one test at a time."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from drivers.mail import check
from drivers.mail.imap import ImapSettings
from drivers.mail.smtp import SmtpSettings


@pytest.fixture
def trickler() -> Iterator[tuple[int, threading.Event]]:
    """A loopback server that greets one byte every 50 ms, never a whole line, until told
    to stop (then it closes the connection)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        conns: list[socket.socket] = []
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                conns.append(listener.accept()[0])
            for c in conns:
                with contextlib.suppress(OSError):
                    c.sendall(b"*")
            stop.wait(0.05)
        for c in conns:
            c.close()
        listener.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], stop
    stop.set()
    thread.join(5)


def _imap(port: int) -> ImapSettings:
    return ImapSettings(
        host="127.0.0.1",
        port=port,
        security="none",
        user="u",
        password="secret-pw",
        timeout_s=2.0,
    )


def test_a_trickling_server_does_not_hold_the_test(trickler: tuple[int, threading.Event]) -> None:
    port, stop = trickler
    smtp = SmtpSettings(host="127.0.0.1", port=port, security="none", timeout_s=2.0)
    outcome = check.check_account(_imap(port), smtp, within_s=0.5)
    assert not stop.is_set()  # answered while the server still trickles
    assert outcome == (
        check.Checked(False, check.NO_ANSWER),
        check.Checked(False, check.NO_ANSWER),
    )
    # the first test's thread still runs: a second waits for it
    assert check.check_account(_imap(port), None, within_s=0.5) is None
    stop.set()  # the server hangs up: the first thread ends, the next test runs
    for _ in range(50):
        outcome = check.check_account(_imap(port), None, within_s=2.0)
        if outcome is not None:
            break
        threading.Event().wait(0.1)
    assert outcome is not None
    imap, smtp_result = outcome
    assert not imap.ok and smtp_result is None
    assert "secret-pw" not in imap.detail


def test_a_refused_port_answers_at_once() -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    outcome = check.check_account(_imap(port), None, within_s=10.0)
    assert outcome == (check.Checked(False, "connection refused"), None)
