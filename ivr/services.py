"""What the IVR needs from the rest of the daemon, in one bundle handed to each call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from acd.service import ACD
    from appliance.crm.customer_store import CustomerStore
    from appliance.crm.tickets.store import TicketStore
    from appliance.db.connector import DBConnector
    from ivr.prompt_library import PromptLibrary
    from ivr.voicemail import Voicemail
    from recorder.service import RecorderService


@dataclass
class IVRServices:
    reactor: Any
    db: DBConnector
    prompts: PromptLibrary
    voicemail: Voicemail
    acd: ACD | None = None
    # (url, key, timeout) -> fields or None: the HTTP lookup (ivr/http_lookup.py)
    http_lookup: Any = None
    # starts and post-processes call recordings (None: calls are not recorded)
    recorder: RecorderService | None = None
    # the running dialer's do-not-call index (acd/dialer/dnc.py), read when a caller asks
    # not to be called (None: the number is written to the database only)
    do_not_call: Callable[[], Any] = lambda: None
    # customers (appliance/crm): who is calling, found before the caller joins a queue, and
    # the least priority of a VIP's or key account's calls (None: no customer lookups)
    customers: CustomerStore | None = None
    # tickets (appliance/crm/tickets): a complaint recorded in a flow opens one (None: none)
    tickets: TicketStore | None = None
    # into the center's language: what the IVR writes for people to read (a ticket's subject)
    translate: Callable[[str], str] = str
    # a DAHDI channel's trunk group for the calls row (the span monitor's group_of; None:
    # not known, no [dahdi])
    trunk_group: Callable[[int], str | None] = lambda channel: None
    # the DAHDI channel carrying an Asterisk channel (the span monitor's wait_channel: a PRI
    # call's name has no channel number; None: not known, the name's number is used)
    trunk_channel: Callable[[str], Awaitable[int | None]] | None = None
