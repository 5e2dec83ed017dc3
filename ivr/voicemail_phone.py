"""Listening to voicemail by phone: mailbox number and PIN, then the messages, newest first.

The dialplan sends ``*98`` here (context ccbox-voicemail). Three tries per call; wrong PINs
also count against the mailbox across calls (PinGuard: five in 15 minutes lock it for 15
minutes, whichever phone they come from) and a lock is logged as an alert. While a message
plays: ``7`` deletes it, ``9`` or ``#`` keeps it and goes to the next, ``*`` plays it again.
A message played to its end is marked heard.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.logger import Logger

from drivers.asterisk.agi.session import AGIConnectionLost, DeadChannel

if TYPE_CHECKING:
    from acd.pin_guard import PinGuard
    from drivers.asterisk.agi.session import AGISessionProtocol
    from ivr.services import IVRServices

log = Logger(namespace="ccbox.ivr.voicemail")
ASK_MAILBOX = "ccbox-vm-mailbox"
ASK_PIN = "ccbox-vm-password"
WRONG = "ccbox-vm-incorrect"
LOCKED = "ccbox-vm-locked"
YOU_HAVE = "ccbox-vm-youhave"
MESSAGES = "ccbox-vm-messages"
DELETED = "ccbox-vm-deleted"
NO_MORE = "ccbox-vm-nomore"
GOODBYE = "ccbox-goodbye"
TRIES = 3
KEYS = "79#*"


async def run(session: AGISessionProtocol, services: IVRServices, guard: PinGuard) -> None:
    try:
        await session.answer()
        mailbox = await _login(session, services, guard)
        if mailbox is not None:
            await _listen(session, services, mailbox)
        if not session.hung_up:
            await session.stream_file(GOODBYE)
            await session.hangup()
    except (DeadChannel, AGIConnectionLost):
        pass


async def _login(session: AGISessionProtocol, services: IVRServices, guard: PinGuard) -> str | None:
    db = services.db
    env = session.env
    assert env is not None
    for _ in range(TRIES):
        box = await session.get_data(ASK_MAILBOX, 6000, 16)
        pin = await session.get_data(ASK_PIN, 6000, 8)
        if box.hung_up or pin.hung_up:
            return None
        number = box.digits if box.digits.isdigit() else ""
        if number and guard.locked(f"vm:{number}"):
            await session.stream_file(LOCKED)
            return None
        if number and pin.digits and await db.voicemail.check_pin(number, pin.digits):
            guard.succeeded(f"vm:{number}")
            log.info(
                "voicemail {box} opened by phone from {caller}",
                box=number,
                caller=env.caller_number,
            )
            return number
        if number and guard.failed(f"vm:{number}"):
            log.warn(
                "ALERT: voicemail {box} locked after repeated wrong PINs (last from {caller})",
                box=number,
                caller=env.caller_number,
            )
            await session.stream_file(LOCKED)
            return None
        await session.stream_file(WRONG)
    return None


async def _listen(session: AGISessionProtocol, services: IVRServices, mailbox: str) -> None:
    db, vm = services.db, services.voicemail
    messages = [m for m in await db.voicemail.messages(mailbox) if not m.heard] + [
        m for m in await db.voicemail.messages(mailbox) if m.heard
    ]
    await session.stream_file(YOU_HAVE)
    await session.say_number(len(messages))
    await session.stream_file(MESSAGES)
    for m in messages:
        path = vm.path_of(m.path)
        if path is None:
            continue
        while True:
            played = await session.stream_file(str(path.with_suffix("")), KEYS)
            if played.digit == "*":
                continue  # again
            break
        if played.digit == "7":
            await vm.delete(m.id)
            await session.stream_file(DELETED)
        elif not played.failed:
            await db.voicemail.mark(m.id, True)
        if session.hung_up:
            return
    await session.stream_file(NO_MORE)
