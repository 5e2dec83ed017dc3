"""Agent feature codes on the desk phone, over FastAGI (``agent,<action>`` from the
generated ``ccbox-features`` context): log in with agent number and PIN, log out, pause with
a reason digit, unpause, end wrap-up.

Login binds the agent to the phone it dialed from. A call allows ``MAX_ATTEMPTS`` tries;
wrong PINs also count against the agent number across calls (acd/pin_guard.py). Every
attempt is logged with the phone it came from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.logger import Logger

from acd import agent_state as st
from acd.service import ACDError
from drivers.asterisk.agi.session import AGISessionProtocol
from drivers.asterisk.device_names import device_of_channel

if TYPE_CHECKING:
    from acd.pin_guard import PinGuard
    from acd.service import ACD
    from appliance.db.connector import DBConnector

log = Logger(namespace="ccbox.acd.phone")

MAX_ATTEMPTS = 3
ASK_NUMBER = "ccbox-agent-number"  # "Please enter your agent number, then pound"
ASK_PIN = "ccbox-agent-pin"  # "Please enter your PIN, then pound"
INVALID = "ccbox-agent-invalid"  # "Login incorrect"
LOCKED = "ccbox-agent-locked"  # "Too many attempts; try again later"
LOGGED_IN = "ccbox-agent-logged-in"
LOGGED_OUT = "ccbox-agent-logged-out"
PAUSED = "ccbox-agent-paused"
UNPAUSED = "ccbox-agent-unpaused"
ASK_REASON = "ccbox-agent-pause-reason"  # "1 break, 2 lunch, 3 training, 4 meeting, ..."
REFUSED = "ccbox-agent-refused"  # "That is not possible now"
NOT_LOGGED_IN = "ccbox-agent-not-logged-in"
# The pause reason digit -> reason (after_call_work last; missed_calls is the ACD's own).
REASON_KEYS = {str(i + 1): r for i, r in enumerate(st.PAUSE_REASONS) if r != "missed_calls"}


async def run(session: AGISessionProtocol, acd: ACD, db: DBConnector, guard: PinGuard) -> str:
    """Returns the outcome (for logs and tests): logged_in, rejected, locked, logged_out,
    paused, unpaused, wrapup_done, refused, not_logged_in, unknown."""
    env = session.env
    assert env is not None
    action = env.args[0] if env.args else ""
    device = device_of_channel(env.channel) or env.channel
    await session.answer()
    if action == "login":
        outcome = await _login(session, acd, db, guard, device)
    else:
        outcome = await _other(session, acd, action, device)
    if not session.hung_up:
        await session.hangup()
    return outcome


async def _login(
    session: AGISessionProtocol, acd: ACD, db: DBConnector, guard: PinGuard, device: str
) -> str:
    for _attempt in range(MAX_ATTEMPTS):
        number = await session.get_data(ASK_NUMBER, 6000, 16)
        if number.hung_up:
            return "rejected"
        pin = await session.get_data(ASK_PIN, 6000, 8)
        if pin.hung_up:
            return "rejected"
        if guard.locked(number.digits):
            log.warn("agent login from {dev}: {n} is locked out", dev=device, n=number.digits)
            await session.stream_file(LOCKED)
            return "locked"
        agent_id = None
        if number.digits and pin.digits:
            agent_id = await db.agents.check_pin(number.digits, pin.digits)
        if agent_id is None:
            locked = guard.failed(number.digits) if number.digits else False
            log.warn(
                "agent login from {dev}: wrong number or PIN for {n!r}",
                dev=device,
                n=number.digits,
            )
            await session.stream_file(LOCKED if locked else INVALID)
            if locked:
                return "locked"
            continue
        guard.succeeded(number.digits)
        try:
            acd.login(agent_id, device)
        except ACDError as exc:
            log.info("agent {n} login refused: {why}", n=number.digits, why=exc)
            await session.stream_file(REFUSED)
            return "refused"
        log.info("agent {n} logged in on {dev}", n=number.digits, dev=device)
        await session.stream_file(LOGGED_IN)
        return "logged_in"
    return "rejected"


async def _other(session: AGISessionProtocol, acd: ACD, action: str, device: str) -> str:
    agent = acd.by_device.get(device)
    if agent is None or agent.state == st.LOGGED_OUT:
        await session.stream_file(NOT_LOGGED_IN)
        return "not_logged_in"
    try:
        if action == "logout":
            acd.logout(agent.id)
            await session.stream_file(LOGGED_OUT)
            return "logged_out"
        if action == "pause":
            key = await session.get_data(ASK_REASON, 5000, 1)
            acd.pause(agent.id, REASON_KEYS.get(key.digits, "break"))
            await session.stream_file(PAUSED)
            return "paused"
        if action == "unpause":
            acd.unpause(agent.id)
            await session.stream_file(UNPAUSED)
            return "unpaused"
        if action == "wrapup_done":
            acd.wrapup_done(agent.id)
            await session.stream_file(UNPAUSED)
            return "wrapup_done"
    except ACDError as exc:
        log.info("agent {n}: {action} refused: {why}", n=agent.number, action=action, why=exc)
        await session.stream_file(REFUSED)
        return "refused"
    await session.stream_file(REFUSED)
    return "unknown"
