"""The host's bootloader client on a StringTransport and a driven clock: what a hostile or
confused serial line sends (noise, stale answers, no end of line, silence) never passes
for an answer."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet import defer, task
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from firmware_tools.bootloader import BootloaderClient, BootloaderError
from firmware_tools.image import Version


def connected() -> tuple[BootloaderClient, StringTransport, task.Clock]:
    clock = task.Clock()
    client = BootloaderClient(clock)
    transport = StringTransport()
    client.makeConnection(transport)
    return client, transport, clock


def outcome(d: defer.Deferred[Any]) -> Any:
    box: list[Any] = []
    d.addBoth(box.append)
    assert box, "not fired"
    if isinstance(box[0], Failure):
        box[0].raiseException()
    return box[0]


def test_enter_skips_every_line_before_its_own_answer() -> None:
    client, transport, _ = connected()
    d = defer.Deferred.fromCoroutine(client.enter())
    token = transport.value().decode().split()[1]
    assert transport.value() == f"ENTER {token}\n".encode()
    client.dataReceived(b"\x00\xff noise\r\nOK BOOTLOADER 0000\r\n")
    assert not d.called
    # a stale ERR ends the first try at once: a second ENTER with a new token; the late
    # answer to the first is skipped like any other line before the second's
    client.dataReceived(b"ERR XMODEM stale\r\n")
    second = transport.value().decode().split()[3]
    assert transport.value() == f"ENTER {token}\nENTER {second}\n".encode() and not d.called
    client.dataReceived(f"OK BOOTLOADER {token}\r\nOK ".encode())
    assert not d.called
    client.dataReceived(f"BOOTLOADER {second}\r\n".encode())
    assert outcome(d) is None
    info = defer.Deferred.fromCoroutine(client.info())
    client.dataReceived(
        b"OK board=ccbox-io version=none flash=65536 bootloader=1.2 image=none committed=none\r\n"
    )
    assert outcome(info).version is None
    info = defer.Deferred.fromCoroutine(client.info())
    client.dataReceived(
        b"OK board=io version=1.2.3 flash=9 bootloader=1 image=5/0000abcd committed=1.2.3\r\n"
    )
    got = outcome(info)
    assert (got.version, got.image, got.committed) == (Version(1, 2, 3), (5, 0xABCD), got.version)
    # a cut flash: no valid image, and the bootloader still knows what was last committed
    info = defer.Deferred.fromCoroutine(client.info())
    client.dataReceived(
        b"OK board=io version=none flash=9 bootloader=1 image=none committed=1.2.3\r\n"
    )
    got = outcome(info)
    assert (got.version, got.image, got.committed) == (None, None, Version(1, 2, 3))


def test_answers_that_are_not_what_was_asked_fail_clearly() -> None:
    client, _, _ = connected()
    info = defer.Deferred.fromCoroutine(client.info())
    client.dataReceived(b"OK board=<script> version=1 flash=x\r\n")
    with pytest.raises(BootloaderError, match="INFO: unexpected answer"):
        outcome(info)
    info = defer.Deferred.fromCoroutine(client.info())
    client.dataReceived(
        b"OK board=io version=1.0.0 flash=9 bootloader=1 image=none committed=1.0.0\r\n"
    )
    with pytest.raises(BootloaderError, match="a version without an image"):
        outcome(info)
    info = defer.Deferred.fromCoroutine(client.info())
    client.dataReceived(
        b"OK board=io version=1.0.0 flash=9 bootloader=1 image=5/0000abcd committed=2.0.0\r\n"
    )
    with pytest.raises(BootloaderError, match="not the one committed"):
        outcome(info)
    info = defer.Deferred.fromCoroutine(client.info())  # a bootloader that does not say it
    client.dataReceived(b"OK board=io version=none flash=9 bootloader=1 image=none\r\n")
    with pytest.raises(BootloaderError, match="INFO: unexpected answer"):
        outcome(info)
    crc = defer.Deferred.fromCoroutine(client.crc(0, 10))
    client.dataReceived(b"ERR RANGE outside the flash\r\n")
    with pytest.raises(BootloaderError, match="the board refused: RANGE outside the flash"):
        outcome(crc)
    commit = defer.Deferred.fromCoroutine(client.commit(10, 0xABCDEF01, Version(1, 0, 0)))
    client.dataReceived(b"OK MAYBE\r\n")
    with pytest.raises(BootloaderError, match="expected OK VALID"):
        outcome(commit)


def test_a_line_without_end_is_dropped_and_fails_the_command() -> None:
    client, _, _ = connected()
    d = client.command("INFO")
    client.dataReceived(b"A" * 300)
    with pytest.raises(BootloaderError, match="longer than any answer"):
        outcome(d)


def test_silence_times_each_enter_out_then_gives_up() -> None:
    client, transport, clock = connected()
    d = defer.Deferred.fromCoroutine(client.enter())
    clock.advance(5)
    clock.advance(5)
    assert transport.value().count(b"ENTER ") == 3 and not d.called
    clock.advance(5)
    with pytest.raises(BootloaderError, match="no bootloader answered ENTER: ENTER: no answer"):
        outcome(d)
    assert not clock.getDelayedCalls()


def test_a_board_that_refuses_enter_fails_with_its_error_without_waiting() -> None:
    client, transport, clock = connected()
    d = defer.Deferred.fromCoroutine(client.enter())
    for _ in range(3):
        client.dataReceived(b"ERR LOCKED flashing disabled by jumper\r\n")
    with pytest.raises(
        BootloaderError, match=r"the bootloader refused ENTER: .*LOCKED flashing disabled"
    ):
        outcome(d)
    assert transport.value().count(b"ENTER ") == 3
    assert clock.seconds() == 0 and not clock.getDelayedCalls()  # no timeout waited for


def test_a_lost_line_fails_what_waits_and_every_later_command() -> None:
    client, _, _ = connected()
    d = client.command("ERASE")
    client.connectionLost(Failure(ConnectionError()))
    with pytest.raises(BootloaderError, match="line went away"):
        outcome(d)
    with pytest.raises(BootloaderError, match="line went away"):
        outcome(client.command("INFO"))
