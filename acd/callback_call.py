"""The FastAGI session of a callback: the agent's phone answered the ACD's Originate and runs
``ccbox-callback,<callback id>``; this session dials the customer and reports the outcome.

The number dialed is the one the ACD validated when the callback was requested (digits
only); it goes out through the generated ``ccbox-outbound`` context.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.logger import Logger

from acd.service import CALLBACK_NUMBER
from drivers.asterisk.agi.session import AGIError, AGISessionProtocol

if TYPE_CHECKING:
    from acd.service import ACD

log = Logger(namespace="ccbox.acd.callback")
DIAL_TIMEOUT_S = 45
CONNECTING = "ccbox-callback-connecting"  # "Calling the customer back, please hold"


async def run(session: AGISessionProtocol, acd: ACD) -> str:
    """Returns what happened: ``reached``, ``not_reached`` or ``unknown``."""
    env = session.env
    assert env is not None
    arg = env.args[0] if env.args else ""
    call = acd.callback(int(arg)) if arg.isdigit() else None
    device = env.channel.rsplit("-", 1)[0]
    if call is None or not CALLBACK_NUMBER.match(call.caller):
        log.warn("callback {arg!r} from {dev}: no such callback waiting", arg=arg, dev=device)
        await session.hangup()
        return "unknown"
    if acd.answered(call, device) is None:
        # The agent's phone answered late (the offer moved on): nothing for it to do.
        await session.hangup()
        return "unknown"
    reached = False
    try:
        await session.stream_file(CONNECTING)
        await session.exec_("Dial", f"Local/{call.caller}@ccbox-outbound,{DIAL_TIMEOUT_S}")
        reached = await session.get_variable("DIALSTATUS") == "ANSWER"
    except AGIError as exc:
        # The session was lost (GET VARIABLE answers even after a hangup): not counted as
        # reached, so the customer is tried again rather than forgotten.
        log.warn("callback {id}: session lost: {err}", id=call.callback_id, err=exc)
    finally:
        acd.callback_finished(call, reached)
    if not session.hung_up:
        await session.hangup()
    return "reached" if reached else "not_reached"
