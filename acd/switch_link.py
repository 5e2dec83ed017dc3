"""What the ACD asks of the switch besides FastAGI: ring a phone (Originate), move a caller
(Redirect), start an attended transfer (Atxfer), find a phone's live channel, and for the
supervisor: ring a phone into ChanSpy (listen, whisper, barge) and hang up a stuck channel.

``SwitchLink`` is the interface the ACD holds; ``AMISwitch`` is it over the AMI client and
the call model (every value goes through the allowlists of drivers/asterisk/ami/actions.py).
"""

from __future__ import annotations

from typing import Protocol

from drivers.asterisk.ami import actions
from drivers.asterisk.ami.client import AMIClient
from drivers.asterisk.callmodel import UP, CallModel


class SwitchLink(Protocol):
    async def originate(
        self, device: str, context: str, exten: str, caller: tuple[str, str], timeout_s: float
    ) -> str:
        """Ring ``device`` (showing ``caller``: name, number); once answered it runs
        ``context``/``exten``. Returns the ActionID that the OriginateResponse
        (OriginateResult on the bus) will carry."""
        ...

    async def redirect(self, channel: str, context: str, exten: str) -> None: ...

    async def atxfer(self, channel: str, context: str, exten: str) -> None: ...

    def channel_of(self, device: str) -> str | None:
        """The live, answered channel of a phone (``PJSIP/1001`` -> ``PJSIP/1001-0000002a``)."""
        ...

    async def supervise(self, device: str, target_channel: str, mode: str) -> str:
        """Ring ``device``; answered, it spies on ``target_channel`` (listen, whisper or
        barge). Returns the Originate's ActionID."""
        ...

    async def hangup(self, channel: str) -> None: ...


class AMISwitch:
    def __init__(self, ami: AMIClient, model: CallModel) -> None:
        self.ami = ami
        self.model = model

    async def originate(
        self, device: str, context: str, exten: str, caller: tuple[str, str], timeout_s: float
    ) -> str:
        result = await actions.originate(
            self.ami, device, context, exten, timeout_s=timeout_s, caller=caller
        )
        if result.action_id is None:  # pragma: no cover - the client always sets one
            raise RuntimeError("Originate was sent without an ActionID")
        return result.action_id

    async def redirect(self, channel: str, context: str, exten: str) -> None:
        await actions.redirect(self.ami, channel, context, exten)

    async def atxfer(self, channel: str, context: str, exten: str) -> None:
        await actions.atxfer(self.ami, channel, exten, context)

    async def supervise(self, device: str, target_channel: str, mode: str) -> str:
        result = await actions.supervise(self.ami, device, target_channel, mode)
        return result.action_id or ""

    async def hangup(self, channel: str) -> None:
        await actions.hangup(self.ami, channel, 16)

    def channel_of(self, device: str) -> str | None:
        prefix = device + "-"
        for ch in self.model.channels.values():
            if ch.name.startswith(prefix) and ch.state == UP and ch.hungup_at is None:
                return ch.name
        return None
