"""Web callback requests: a public page ``/callback`` and ``POST /api/public/callback``.

Anyone may ask to be called back, without logging in: a name, a number and a preferred time
(empty: as soon as an agent is free). The request becomes a callback of the ACD (source
``web``, ``due_at`` the preferred time) in the queue ``[web] callback_queue`` names; both
routes answer 404 while that is empty. Nothing else is reachable from them: the page is
standalone (no navigation, no data of the box), the answers say only accepted or why not.

Abuse: every field is validated (the number by acd/dialer/numbers.normalise; the name
bounded, without control characters); requests are rate limited per address and for the
whole box (webui/throttle.RequestRate); a number that has a callback waiting gets no second
one; and a number on the center's or the national do-not-call list is not scheduled, with
the same answer as any accepted request (the form must not tell a stranger who is on the
list, nor make the box call someone who asked not to be called).

POST needs the session's CSRF token like every other form (GET the page first: its form
carries it, and the JSON answer of a refused POST says so); behind a reverse proxy every
request comes from the proxy's address, so the per-address limit becomes one limit for
all: publish the page on the proxy with its own limit.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import cherrypy
from twisted.internet import defer
from twisted.logger import Logger

from acd.dialer.numbers import normalise, tz_of
from appliance.text import N_
from webui import access, i18n
from webui.access import public
from webui.admin_forms import bounded
from webui.context import WebContext
from webui.json_body import json_object
from webui.render import render
from webui.throttle import RequestRate

log = Logger(namespace="ccbox.web.callback")

MAX_NAME = 64
MAX_AHEAD = dt.timedelta(days=14)
GRACE = dt.timedelta(minutes=5)  # a time just past (the form sat open): as soon as possible
EARLIEST, LATEST = dt.time(8, 0), dt.time(21, 0)  # the caller's local time
PER_ADDRESS = 5  # requests an hour from one address
OVERALL = 200  # requests an hour from everyone


class CallbackRefused(ValueError):
    """A field is wrong: the message says which and why (an ``N_`` message)."""


class TooMany(CallbackRefused):
    """The address (or everyone) asked too often."""


def parse_request(
    name: str, number: str, preferred: str, now: dt.datetime
) -> tuple[str, str, dt.datetime | None]:
    """(name, normalised number, due time in UTC or None: as soon as possible)."""
    name = " ".join(name.split())
    if len(name) > MAX_NAME:
        raise CallbackRefused(N_("the name is longer than {max} characters", max=MAX_NAME))
    if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in name):
        raise CallbackRefused(N_("the name contains control characters"))
    if not number.strip():
        raise CallbackRefused(N_("enter the number to call"))
    try:
        number = normalise(number)
    except ValueError as exc:
        raise CallbackRefused(exc.args[0]) from None
    preferred = preferred.strip()
    if not preferred:
        return name, number, None
    try:
        wanted = dt.datetime.fromisoformat(preferred)
        if abs(wanted.year - now.year) > 1:  # year 1 or 9999 would overflow the zones
            raise ValueError(preferred)
        if wanted.tzinfo is None:  # the caller's wall clock: the zone of the number, else ours
            zone = tz_of(number, "")
            wanted = wanted.replace(tzinfo=zoneinfo.ZoneInfo(zone)) if zone else wanted.astimezone()
        due = wanted.astimezone(dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise CallbackRefused(N_("the preferred time is not a date and time")) from None
    if not EARLIEST <= wanted.timetz().replace(tzinfo=None) <= LATEST:
        raise CallbackRefused(N_("we call between {start} and {end}", start="08:00", end="21:00"))
    if due < now - GRACE:
        raise CallbackRefused(N_("the preferred time has passed"))
    if due > now + MAX_AHEAD:
        raise CallbackRefused(N_("the preferred time is more than 14 days ahead"))
    return name, number, (due if due > now else None)


class CallbackService:
    """What both routes do: check, limit, hand to the ACD. Runs in a WSGI thread."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.rate = RequestRate(PER_ADDRESS, OVERALL)

    def enabled(self) -> bool:
        name = self.ctx.config.web.callback_queue
        return bool(name) and name in self.ctx.acd.queue_by_name

    def request(self, name: str, number: str, preferred: str) -> tuple[str, dt.datetime | None]:
        """Schedule it (CallbackRefused: why not): the number as it will be dialed and the
        due time (None: as soon as an agent is free)."""
        address = cherrypy.serving.request.remote.ip or "?"
        now = dt.datetime.now(dt.UTC)
        name, number, due = parse_request(name, number, preferred, now)
        if self.rate.take(address):
            log.info("web callback request from {ip} refused: too many", ip=address)
            raise TooMany(N_("too many requests: try again later"))
        queue = self.ctx.config.web.callback_queue
        outcome = self.ctx.call(
            lambda: defer.ensureDeferred(_schedule(self.ctx, queue, number, name, due))
        )
        log.info("web callback request from {ip}: {outcome}", ip=address, outcome=outcome)
        return number, due


async def _schedule(
    ctx: WebContext, queue: str, number: str, name: str, due: dt.datetime | None
) -> str:
    """On the reactor thread (the ACD's state is its own): what became of the request.
    "blocked" and "waiting" answer like "scheduled" (see the module docstring)."""
    acd = ctx.acd
    if acd.is_blacklisted(number) or await _on_dnc(ctx, number):
        return "blocked"
    if any(c.caller == number and not c.done for c in acd.callbacks.values()):
        return "waiting"
    callback_id = await acd.schedule_callback(queue, number, name, "web", due)
    sms = getattr(ctx.hardware, "sms", None)
    if callback_id is not None and sms is not None:  # its confirmation, when [sms] says so
        await sms.notices.callback_requested(number, queue, due)
    return f"scheduled as callback {callback_id}"


async def _on_dnc(ctx: WebContext, number: str) -> bool:
    index = getattr(ctx.dialer, "dnc", None)
    if index is not None:
        return bool(index.blocks(number) in ("center", "national"))
    rows = await ctx.db.dialer.dnc_rows(number_prefix=number, limit=50)
    return any(r.number == number and r.scope in ("center", "national") for r in rows)


class CallbackPage:
    """``/callback``: the form, and what became of it."""

    def __init__(self, ctx: WebContext, service: CallbackService) -> None:
        self.ctx = ctx
        self.service = service

    @public(methods=("GET", "POST"))
    def index(self, **params: Any) -> str:
        if not self.service.enabled():
            raise cherrypy.NotFound()
        values = {k: bounded(params, k, n) for k, n in FIELDS.items()}
        if cherrypy.serving.request.method == "GET":
            return render(self.ctx, "callback.html", error=None, done=False, **values)
        try:
            number, _due = self.service.request(
                values["name"], values["number"], values["preferred"]
            )
        except CallbackRefused as exc:
            cherrypy.serving.response.status = 400
            return render(self.ctx, "callback.html", error=i18n.error(exc), done=False, **values)
        values["number"] = number
        return render(self.ctx, "callback.html", error=None, done=True, **values)


class PublicApi:
    """``/api/public/...``: what anyone may ask without logging in."""

    def __init__(self, service: CallbackService) -> None:
        self.service = service

    @public(methods=("POST",))
    @cherrypy.tools.json_out()
    def callback(self) -> dict[str, Any]:
        """``{"name", "number", "preferred_time"}`` -> 201 ``{"accepted": true, "due_at"}``
        (``due_at``: UTC ISO time, or null: as soon as an agent is free)."""
        if not self.service.enabled():
            raise cherrypy.NotFound()
        from webui.json_body import text_field

        body = json_object()
        name = text_field(body, "name", MAX_NAME * 2)
        number = text_field(body, "number", 64, required=True)
        preferred = text_field(body, "preferred_time", 64)
        try:
            _number, due = self.service.request(name, number, preferred)
        except CallbackRefused as exc:
            access.json_error(429 if isinstance(exc, TooMany) else 400, exc)
        cherrypy.serving.response.status = 201
        return {"accepted": True, "due_at": due.isoformat() if due else None}


FIELDS = {"name": MAX_NAME * 2, "number": 64, "preferred": 64}
