"""The placeholder inbound flow: answer, welcome, then the ACD queue, and the call written down.

It stands where the IVR interpreter will (the IVR issue replaces it); until then it proves
the path of one call: FastAGI session -> black list -> queue -> agent -> calls row with its
events, with a hangup handled at any point. The queue is the one named by the dialplan's
second AGI argument, else the first queue, unless the caller presses a digit during the
welcome: digit N picks the N-th queue. Without an ACD (or queues) the call just ends after
the welcome.

A caller transferred by an agent comes back over FastAGI (``transfer-queue`` with the queue
id, ``transfer-agent`` with the agent number) and continues the same calls row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from twisted.internet import threads

from acd.caller import wait_in_queue
from acd.service import EXTENSION, ACDError
from drivers.asterisk.agi.session import AGIConnectionLost, AGISessionProtocol, DeadChannel

if TYPE_CHECKING:
    from acd.service import ACD, QueuedCall
    from appliance.db.acd_store import ACDQueue
    from appliance.db.connector import DBConnector

PROMPT = "ccbox-welcome"
BLOCKED = "ccbox-blocked"
LEAVE_MESSAGE = "ccbox-leave-message"
GOODBYE = "ccbox-goodbye"
MAX_MESSAGE_MS = 120_000


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class _Outcome:
    """What the calls row gets when the session ends."""

    answered_at: dt.datetime | None = None
    disposition: str = "completed"
    queue_id: int | None = None
    agent_id: int | None = None


async def inbound(
    session: AGISessionProtocol,
    db: DBConnector,
    acd: ACD | None = None,
    voicemail_dir: Path | None = None,
) -> None:
    env = session.env
    assert env is not None
    call_id = await db.calls.start(
        uniqueid=env.uniqueid,
        linkedid=env.uniqueid,
        direction="inbound",
        started_at=_now(),
        caller_number=env.caller_number,
        caller_name=env.caller_name,
        called_number=(env.args[0] if env.args else env.dialed),
        channel=env.channel,
        trunk=env.channel.split("/", 1)[0],
    )
    out = _Outcome()
    try:
        await db.calls.add_event(call_id, "flow_start", _now(), {"flow": "placeholder"})
        await session.answer()
        out.answered_at = _now()
        if acd is not None and acd.is_blacklisted(env.caller_number):
            out.disposition = "blacklisted"
            await db.calls.add_event(call_id, "blacklisted", _now(), {})
            await session.stream_file(BLOCKED)
            await session.hangup()
            return
        queues = [acd.queues[k] for k in sorted(acd.queues)][:9] if acd is not None else []
        keys = "".join(str(i + 1) for i in range(len(queues)))
        playback = await session.stream_file(PROMPT, keys)
        await db.calls.add_event(
            call_id,
            "prompt",
            _now(),
            {"prompt": PROMPT, "failed": playback.failed, "digit": playback.digit},
        )
        if session.hung_up:
            out.disposition = "caller_hangup"
            return
        if acd is not None and queues:
            wanted = env.args[1] if len(env.args) > 1 else None
            if playback.digit is not None and playback.digit in keys:
                q = queues[int(playback.digit) - 1]
            else:
                try:
                    q = acd.queue(wanted) if wanted else queues[0]
                except ACDError:
                    q = queues[0]
            call = acd.join(
                q.id,
                env.caller_number,
                env.uniqueid,
                acd.priority_of(env.caller_number),
                env.channel,
            )
            await _queue(session, db, acd, call_id, call, q, out, voicemail_dir)
        if not session.hung_up:
            await session.hangup()
    except (DeadChannel, AGIConnectionLost):
        if out.disposition == "completed" and out.agent_id is None:
            out.disposition = "caller_hangup"
    finally:
        await _finish(db, call_id, out)


async def transferred(
    session: AGISessionProtocol,
    db: DBConnector,
    acd: ACD,
    kind: str,
    voicemail_dir: Path | None = None,
) -> None:
    """A caller an agent transferred (blind) to a queue or to another agent."""
    env = session.env
    assert env is not None
    call_id = await db.calls.find(env.uniqueid)
    if call_id is None:  # not a call we know (a stale redirect): nothing to continue
        await session.hangup()
        return
    out = _Outcome(answered_at=_now())
    target = env.args[0] if env.args else ""
    try:
        await db.calls.add_event(call_id, "transfer_in", _now(), {"kind": kind, "target": target})
        priority = acd.priority_of(env.caller_number)
        previous = acd.last_queue_of(env.uniqueid)
        if kind == "agent":
            fallback = previous if previous is not None else min(acd.queues)
            call = acd.join_agent(
                target, env.caller_number, env.uniqueid, env.channel, fallback, priority
            )
        else:
            try:
                queue_id = acd.queue(int(target)).id if target.isdigit() else -1
            except ACDError:
                queue_id = -1
            if queue_id < 0:
                out.disposition = "transfer_failed"
                await session.stream_file(GOODBYE)
                await session.hangup()
                return
            call = acd.join(queue_id, env.caller_number, env.uniqueid, priority, env.channel)
        await _queue(session, db, acd, call_id, call, acd.queues[call.queue_id], out, voicemail_dir)
        if not session.hung_up:
            await session.hangup()
    except (DeadChannel, AGIConnectionLost):
        if out.disposition == "completed" and out.agent_id is None:
            out.disposition = "caller_hangup"
    finally:
        await _finish(db, call_id, out)


async def _queue(
    session: AGISessionProtocol,
    db: DBConnector,
    acd: ACD,
    call_id: int,
    call: QueuedCall,
    q: ACDQueue,
    out: _Outcome,
    voicemail_dir: Path | None,
) -> None:
    out.queue_id = q.id
    await db.calls.add_event(
        call_id, "queued", _now(), {"queue": q.name, "priority": call.priority}
    )
    outcome = await wait_in_queue(acd, session, call)
    out.queue_id = call.queue_id
    out.agent_id = call.agent.id if call.agent is not None else None
    await db.calls.add_event(
        call_id, outcome, _now(), {"agent": out.agent_id, "queue": out.queue_id}
    )
    out.disposition = {"answered": "completed"}.get(outcome, outcome)
    if call.transferred:
        out.disposition = "transferred"
    elif outcome == "voicemail" and not session.hung_up:
        await _leave_message(session, db, call_id, acd.queues[call.queue_id], voicemail_dir)
    elif outcome == "extension" and not session.hung_up and EXTENSION.match(call.exit_target):
        await session.exec_("Dial", f"Local/{call.exit_target}@ccbox-extensions,60")
    elif outcome in ("overflow", "callback") and not session.hung_up:
        await session.stream_file(GOODBYE)


async def _leave_message(
    session: AGISessionProtocol,
    db: DBConnector,
    call_id: int,
    q: ACDQueue,
    voicemail_dir: Path | None,
) -> None:
    """The queue's mailbox: a beep, the message until silence, ``#`` or two minutes. The
    file name is ours (queue id, time, call id), never anything the caller sent."""
    if voicemail_dir is None:
        await session.stream_file(GOODBYE)
        return
    folder = voicemail_dir / f"queue-{q.id}"
    await threads.deferToThread(folder.mkdir, parents=True, exist_ok=True)
    stamp = _now().strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{stamp}-call{call_id}"
    await session.stream_file(LEAVE_MESSAGE)
    rec = await session.record_file(str(path), "wav", "#", MAX_MESSAGE_MS, beep=True, silence_s=3)
    await db.calls.add_event(
        call_id,
        "voicemail_left",
        _now(),
        {"path": f"{path}.wav", "seconds": round(rec.endpos / 8000, 1), "queue": q.name},
    )


async def _finish(db: DBConnector, call_id: int, out: _Outcome) -> None:
    await db.calls.add_event(call_id, "hangup", _now(), {"disposition": out.disposition})
    await db.calls.finish(
        call_id,
        _now(),
        out.answered_at,
        16,
        out.disposition,
        queue_id=out.queue_id,
        agent_id=out.agent_id,
    )
