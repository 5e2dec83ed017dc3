"""drivers/mail/imap.py's pieces that need no server (the watcher itself is proven against
the loopback server and a real dovecot in tests/integration/test_mail_servers.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock

from drivers.mail.imap import ImapSettings, ImapWatcher, _is_news, _news_filed


def test_what_ends_a_wait_in_idle() -> None:
    assert _is_news((3, b"EXISTS"))
    assert _is_news((1, b"RECENT"))
    assert _is_news((b"BYE", b"shutting down"))
    assert not _is_news((b"OK", b"Still here"))
    assert not _is_news((2, b"EXPUNGE"))
    assert not _is_news((1, b"FETCH", (b"FLAGS", (b"\\Seen",))))


def test_news_filed_by_imaplib_with_another_answer() -> None:
    # an EXISTS, or a RECENT above 0, that came with a SEARCH's or a FETCH's answer
    client = SimpleNamespace(_imap=SimpleNamespace(untagged_responses={}))
    filed = client._imap.untagged_responses
    filed.update(EXISTS=[b"3"], RECENT=[b"0"], FETCH=[b"1 (FLAGS ())"])
    assert _news_filed(client)
    assert filed == {"FETCH": [b"1 (FLAGS ())"]}  # looked at once: forgotten
    assert not _news_filed(client)
    filed["RECENT"] = [b"0"]
    assert not _news_filed(client)
    filed["RECENT"] = [b"2"]
    assert _news_filed(client)


def test_unknown_security_is_refused_at_once() -> None:
    settings = ImapSettings("imap.example.com", 993, "ssl", "u", "p")
    with pytest.raises(ValueError, match="security"):
        ImapWatcher(
            MemoryReactorClock(),
            settings,
            (None, 0),
            lambda uid, raw: defer.succeed(None),
            lambda validity, last: None,
            lambda status, detail: None,
        )


def test_stop_before_start_is_done_at_once() -> None:
    settings = ImapSettings("imap.example.com", 993, "tls", "u", "p")
    w = ImapWatcher(
        MemoryReactorClock(),
        settings,
        (7, 42),
        lambda uid, raw: defer.succeed(None),
        lambda validity, last: None,
        lambda status, detail: None,
    )
    assert (w.uidvalidity, w.last_uid) == (7, 42)
    done: list[object] = []
    w.stop().addCallback(done.append)
    assert done == [None]
