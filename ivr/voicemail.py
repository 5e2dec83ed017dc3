"""Leaving a voicemail: greeting, beep, the recording (silence and length limits), the
message stored with caller, time and duration, then the e-mail and the wallboard told.

Files are ``<data_dir>/voicemail/<mailbox>/<UTC time>-call<id>.wav``: every part of the
name is ours (the mailbox number is digits, or ``queue-<id>`` for a queue without a
mailbox), never anything the caller sent. Asterisk writes the file (RECORD FILE); the row
stores the path relative to the voicemail folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twisted.internet import defer, threads
from twisted.logger import Logger

from appliance.config import SmtpConfig
from appliance.text import N_
from drivers.asterisk.agi.session import RecordFileError
from ivr import mail_notify
from ivr.call_record import CallRecord, now

if TYPE_CHECKING:
    from appliance.db.connector import DBConnector
    from appliance.eventbus import EventBus
    from drivers.asterisk.agi.session import AGISessionProtocol
    from ivr.prompt_library import PromptLibrary

log = Logger(namespace="ccbox.ivr.voicemail")
LEAVE_MESSAGE = "ccbox-leave-message"
SAMPLE_RATE = 8000


@dataclass(frozen=True)
class VoicemailLeft:
    """Published on the bus for the wallboard and the web UI."""

    mailbox: str
    message_id: int
    caller_number: str
    seconds: float
    kind: str


class Voicemail:
    def __init__(
        self,
        reactor: Any,
        db: DBConnector,
        folder: Path,
        prompts: PromptLibrary,
        smtp: SmtpConfig | None = None,
        bus: EventBus | None = None,
    ) -> None:
        self.reactor = reactor
        self.db = db
        self.folder = folder
        self.prompts = prompts
        self.smtp = smtp or SmtpConfig()
        self.bus = bus
        self.mails: set[defer.Deferred[bool]] = set()  # notifications on their way

    def path_of(self, relative: str) -> Path | None:
        """The file of a stored message, only if it really is under the voicemail folder."""
        root = self.folder.resolve()
        path = (root / relative).resolve()
        return path if path.is_relative_to(root) and path != root else None

    async def leave(
        self,
        session: AGISessionProtocol,
        call: CallRecord,
        mailbox: str,
        *,
        kind: str = "message",
        greeting: str | None = None,
        max_s: int | None = None,
        silence_s: int = 3,
    ) -> int | None:
        """Record a message into ``mailbox``; its id, or None when the caller said nothing."""
        box = await self.db.voicemail.mailbox(mailbox)
        limit = max_s or (box.max_message_s if box else 120)
        sound = greeting or LEAVE_MESSAGE
        if box is not None and box.greeting:
            sound = self.prompts.sound_for_name(box.greeting)
        folder = self.folder / mailbox
        await threads.deferToThread(folder.mkdir, parents=True, exist_ok=True)
        stamp = now().strftime("%Y%m%dT%H%M%S%fZ")
        name = f"{stamp}-call{call.call_id}"
        await session.stream_file(sound)
        try:
            rec = await session.record_file(
                str(folder / name), "wav", "#", limit * 1000, beep=True, silence_s=silence_s or None
            )
        except RecordFileError as exc:
            # Asterisk cannot write the file (a full disk, permissions): nothing recorded,
            # the caller still there; the flow goes on as after silence.
            log.error("voicemail for {mailbox} not recorded: {why}", mailbox=mailbox, why=exc)
            await call.event("voicemail_failed", {"mailbox": mailbox, "why": "writefile"})
            return None
        seconds = round(rec.endpos / SAMPLE_RATE, 1)
        if rec.endpos <= 0:
            await call.event("voicemail_empty", {"mailbox": mailbox})
            return None
        env = session.env
        assert env is not None
        row = await self.db.voicemail.add(
            mailbox,
            f"{mailbox}/{name}.wav",
            int(seconds * 1000),
            env.caller_number,
            env.caller_name,
            call.call_id,
            kind,
        )
        await call.event(
            "voicemail_left",
            {"mailbox": mailbox, "message": row.id, "seconds": seconds, "kind": kind},
        )
        if self.bus is not None:
            self.bus.publish(VoicemailLeft(mailbox, row.id, env.caller_number, seconds, kind))
        if box is not None and box.email:
            self._mail(box.email, mailbox, env.caller_number, env.caller_name, seconds, name)
        return row.id

    def _mail(
        self, to: str, mailbox: str, number: str, name: str, seconds: float, file: str
    ) -> None:
        received = now().strftime("%Y-%m-%d %H:%M:%S UTC")
        notice = mail_notify.Notice(to, mailbox, number, name, seconds, received)
        audio = self.folder / mailbox / f"{file}.wav"
        d = defer.ensureDeferred(mail_notify.notify(self.reactor, self.smtp, notice, audio))
        self.mails.add(d)

        def done(result: object) -> object:
            self.mails.discard(d)
            return result

        d.addBoth(done)

    async def forward(self, message_id: int, to_mailbox: str) -> int:
        """A copy of the message in another mailbox (the file is shared; deleting one copy
        keeps it for the other)."""
        msg = await self.db.voicemail.message(message_id)
        if msg is None:
            raise LookupError(N_("no message {message_id}", message_id=message_id))
        if await self.db.voicemail.mailbox(to_mailbox) is None:
            raise LookupError(N_("no mailbox {to_mailbox}", to_mailbox=to_mailbox))
        row = await self.db.voicemail.add(
            to_mailbox,
            msg.path,
            msg.duration_ms,
            msg.caller_number,
            msg.caller_name,
            msg.call_id,
            msg.kind,
            forwarded_from=msg.id,
            received_at=msg.received_at,
        )
        return row.id

    async def delete(self, message_id: int) -> bool:
        found, path = await self.db.voicemail.delete(message_id)
        target = self.path_of(path) if path is not None else None
        if target is not None:
            await threads.deferToThread(target.unlink, missing_ok=True)
        return found
