"""A voicemail Asterisk cannot write (RECORD FILE answers ``(writefile)``: a full disk,
permissions) is not a hangup: nothing is stored, the call says why, and the caller stays in
the flow, which goes on as after silence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer, threads
from twisted.internet.testing import MemoryReactorClock, StringTransport

from drivers.asterisk.agi.session import AGISessionProtocol
from ivr.voicemail import Voicemail
from tests.unit.test_agi_header import header


class NoMailboxes:
    added: list[Any] = []

    async def mailbox(self, number: str) -> None:
        return None

    async def add(self, *args: Any) -> Any:
        self.added.append(args)
        raise AssertionError("nothing was recorded: no message row")


class Call:
    call_id = 7

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def event(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append((kind, data))


def test_a_voicemail_asterisk_cannot_write_keeps_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(threads, "deferToThread", lambda f, *a, **k: defer.succeed(f(*a, **k)))
    db: Any = type("DB", (), {"voicemail": NoMailboxes()})()
    voicemail = Voicemail(MemoryReactorClock(), db, tmp_path, prompts=None)  # type: ignore[arg-type]
    session = AGISessionProtocol(MemoryReactorClock(), lambda s: None)
    transport = StringTransport()
    session.makeConnection(transport)
    session.dataReceived(header())
    call = Call()
    out: list[Any] = []
    d = defer.ensureDeferred(voicemail.leave(session, call, "1001"))  # type: ignore[arg-type]
    d.addBoth(out.append)
    session.dataReceived(b"200 result=0 endpos=8000\n")  # the greeting played
    assert transport.value().split(b"\n")[1].startswith(b"RECORD FILE ")
    session.dataReceived(b"200 result=-1 (writefile)\n")
    assert out == [None]  # no message, no exception: the flow goes on
    assert call.events == [("voicemail_failed", {"mailbox": "1001", "why": "writefile"})]
    assert not session.hung_up and not transport.disconnecting
