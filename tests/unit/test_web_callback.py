"""Web callback requests over real HTTP: the public page and its JSON twin hand a validated,
rate-limited request to the ACD, which dials it when it is due and an agent is free; nothing
else is public; off (404) until ``[web] callback_queue`` names a queue."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import zoneinfo
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from twisted.trial import unittest

from appliance.cli import resolved
from appliance.config import Config
from appliance.db import model
from tests.support.appliance import RunningAppliance
from tests.support.tmp import temp_dir
from tests.unit.test_acd_service import FakeSwitch
from tests.unit.test_routes import walk
from webui.access import access_of
from webui.app import Root
from webui.callback_pages import OVERALL, PER_ADDRESS, CallbackRefused, parse_request

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def seed(db: Any) -> None:
    tech = resolved(db.skills.add("tech")).id
    agent = resolved(db.agents.add("1001", "Agent 1001", "", "PJSIP/1001"))
    resolved(db.agents.set_skill(agent.id, tech, 5))
    resolved(db.queues.add("support", skills={tech: 3}))


async def start(tmp: Path, callback_queue: str = "support") -> RunningAppliance:
    def configure(config: Config) -> Config:
        return dataclasses.replace(
            config, web=dataclasses.replace(config.web, callback_queue=callback_queue)
        )

    return await RunningAppliance.start(tmp, seed=seed, configure=configure)


class CallbackRequestTests(unittest.TestCase):
    async def _start(self, callback_queue: str = "support") -> None:
        self.app = await start(temp_dir(self), callback_queue)
        self.addCleanup(self.app.stop)
        self.acd = self.app.master.acd

    async def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await self.app.in_thread(fn, *args, **kwargs)

    async def page(self) -> tuple[Any, str]:
        b = self.app.browser()
        r = await self.call(b.get, "/callback")
        assert r.status == 200, r.status
        return b, r.csrf()

    def rows(self) -> list[Any]:
        engine = self.app.master.db.engine
        with engine.connect() as conn:
            return list(conn.execute(sa.select(model.callbacks).order_by(model.callbacks.c.id)))

    async def test_off_until_a_queue_is_named(self) -> None:
        await self._start(callback_queue="")
        b = self.app.browser()
        self.assertEqual((await self.call(b.get, "/callback")).status, 404)
        token = (await self.call(b.get, "/login")).csrf()
        r = await self.call(b.post_json, "/api/public/callback", {"number": "110"}, token)
        self.assertEqual(r.status, 404)

    async def test_the_page_submits_a_request_the_acd_dials_when_an_agent_is_free(self) -> None:
        await self._start()
        # only the login, the language switch and these two routes are public
        ctx = self.app.master.web.ctx
        public = sorted(
            path
            for path, handler in walk(Root(ctx)).items()
            if (a := access_of(handler)) is not None and a.public
        )
        self.assertEqual(public, ["/api/public/callback", "/callback/", "/locale", "/login"])
        self.acd.switch = FakeSwitch()
        b, token = await self.page()
        r = await self.call(b.get, "/callback")
        # standalone: no navigation, no link into the box
        self.assertEqual(re.findall(r'href="([^"]*)"', r.body), ["/static/ccbox.css"])
        self.assertNotIn("/admin", r.body)
        form = {"_csrf": token, "name": "<b>Li</b>", "number": "+86 138-0013-8000"}
        r = await self.call(b.post, "/callback", {**form, "preferred": ""})
        self.assertEqual(r.status, 200, r.body[:400])
        self.assertIn("We will call +8613800138000 as soon as one of us is free", r.body)
        [cb] = self.acd.callbacks.values()
        self.assertEqual((cb.caller, self.acd.position(cb)), ("+8613800138000", 1))
        [row] = self.rows()
        self.assertEqual(
            (row.source, row.name, row.due_at, row.state), ("web", "<b>Li</b>", None, "waiting")
        )
        # an agent logs in: the ACD dials the callback for it
        agent = self.acd.agent_by_number("1001")
        assert agent is not None
        self.acd.login(agent.id)
        self.assertEqual(
            self.acd.switch.originated,
            [("PJSIP/1001", "ccbox-callback", str(row.id), ("Callback", "+8613800138000"))],
        )

    async def test_bad_fields_are_refused_then_a_preferred_time_is_kept(self) -> None:
        await self._start()
        b, token = await self.page()
        past = (dt.datetime.now(SHANGHAI) - dt.timedelta(days=1)).strftime("%Y-%m-%dT10:00")
        night = (dt.datetime.now(SHANGHAI) + dt.timedelta(days=1)).strftime("%Y-%m-%dT03:00")
        for fields, reason in [
            ({"number": "call me"}, "the number contains letters"),
            ({"number": ""}, "enter the number to call"),
            ({"number": "555\r\nAction: Originate"}, "not a digit"),
            ({"number": "110", "name": "x" * 65}, "longer than 64"),
            ({"number": "110", "name": "a\x00b"}, "control characters"),
            ({"number": "110", "preferred": past}, "the preferred time has passed"),
            ({"number": "110", "preferred": night}, "we call between 08:00 and 21:00"),
            ({"number": "110", "preferred": "soon"}, "not a date and time"),
        ]:
            r = await self.call(b.post, "/callback", {"_csrf": token, **fields})
            self.assertEqual(r.status, 400, fields)
            self.assertIn(reason, r.body, fields)
        r = await self.call(b.post, "/callback", {"number": "110"})  # no CSRF token
        self.assertEqual(r.status, 403)
        self.assertEqual(self.rows(), [])
        # then a good one with a preferred time: the caller's, and the ACD waits for it
        day = (dt.datetime.now(SHANGHAI) + dt.timedelta(days=2)).date()
        r = await self.call(
            b.post,
            "/callback",
            {"_csrf": token, "name": "Wang", "number": "13900139000", "preferred": f"{day}T10:30"},
        )
        self.assertEqual(r.status, 200, r.body[:400])
        self.assertIn(f"We will call 13900139000 at {day} 10:30", r.body)
        [row] = self.rows()
        want = dt.datetime.combine(day, dt.time(10, 30), SHANGHAI).astimezone(dt.UTC)
        self.assertEqual(row.due_at, want)
        [cb] = self.acd.callbacks.values()
        self.assertEqual(self.acd.position(cb), 0)  # out of line until it is due

    async def test_json_requests_are_validated_limited_and_merged_by_number(self) -> None:
        await self._start()
        b, token = await self.page()
        url = "/api/public/callback"
        r = await self.call(
            b.post_json, url, {"name": "Zhao", "number": "0086 139 1234 5678"}, token
        )
        self.assertEqual((r.status, r.json()), (201, {"accepted": True, "due_at": None}))
        # the same number again: accepted, not a second callback
        r = await self.call(b.post_json, url, {"number": "+8613912345678"}, token)
        self.assertEqual(r.status, 201)
        # a black-listed number: the same answer, nothing scheduled
        self.acd.black.add("13666666666")
        r = await self.call(b.post_json, url, {"number": "13666666666"}, token)
        self.assertEqual(r.status, 201)
        # a number on the center's do-not-call list: the same answer, nothing scheduled
        await self.app.master.db.dialer.add_dnc("13555555555", "center", "admin")
        r = await self.call(b.post_json, url, {"number": "135 5555 5555"}, token)
        self.assertEqual((r.status, r.json()["accepted"]), (201, True))
        self.assertEqual([row.number for row in self.rows()], ["+8613912345678"])
        for bad, status in [
            ({"number": 13800138000}, 400),
            ({"number": "1" * 65}, 400),
            ({"number": "<script>"}, 400),
            ({}, 400),
        ]:
            r = await self.call(b.post_json, url, bad, token)
            self.assertEqual(r.status, status, bad)
            self.assertIn("error", r.json())
        r = await self.call(b.post_json, url, {"number": "110"}, None)
        self.assertEqual(r.status, 403)
        # four accepted from this address so far; the limit is per hour
        for i in range(PER_ADDRESS - 4):
            r = await self.call(b.post_json, url, {"number": f"1390000000{i}"}, token)
            self.assertEqual(r.status, 201)
        r = await self.call(b.post_json, url, {"number": "13800000009"}, token)
        self.assertEqual(r.status, 429)
        self.assertIn("too many requests", r.json()["error"])
        self.assertEqual(len(self.rows()), 1 + PER_ADDRESS - 4)


def test_parse_request_interprets_the_time_in_the_numbers_zone() -> None:
    now = dt.datetime(2026, 12, 6, 0, 0, tzinfo=dt.UTC)  # 08:00 in Shanghai
    name, number, due = parse_request("  Li   Lei ", "+1 212 555 1234", "2026-12-07T09:00", now)
    assert (name, number) == ("Li Lei", "+12125551234")
    assert due == dt.datetime(2026, 12, 7, 14, 0, tzinfo=dt.UTC)  # 09:00 in New York
    assert parse_request("", "13800138000", "2026-12-06T08:01", now)[2] == dt.datetime(
        2026, 12, 6, 0, 1, tzinfo=dt.UTC
    )
    # a time a few minutes past (the form sat open): as soon as possible
    assert parse_request("", "13800138000", "2026-12-06T08:00", now)[2] is None
    for hostile in ("0001-01-01T08:00", "9999-12-31T20:00", "0001-01-01T08:00+12:00", "T", "1e9"):
        for number in ("+12125551234", "13800138000", "110"):
            with pytest.raises(CallbackRefused):
                parse_request("", number, hostile, now)
    assert OVERALL > PER_ADDRESS


def test_request_rate_per_address_and_overall_within_a_window() -> None:
    from webui.throttle import RequestRate

    now = [0.0]
    rate = RequestRate(per_key=2, overall=3, window_s=100, clock=lambda: now[0])
    assert [rate.take("a"), rate.take("a")] == [0.0, 0.0]
    assert rate.take("a") == 100.0  # refused: nothing counted
    assert rate.take("b") == 0.0
    now[0] = 10.0
    assert rate.take("c") == 90.0  # everyone's ceiling
    now[0] = 100.5  # the first requests left the window
    assert rate.take("a") == 0.0 and rate.take("c") == 0.0


class CallbackConfirmationTests(unittest.TestCase):
    async def test_a_request_is_confirmed_by_sms_when_the_box_has_a_modem(self) -> None:
        """[sms] callback_confirmation on a box with a [modem] device (here one that is not
        plugged in: the SMS waits for it): the master wires the SMS service, the request
        queues its confirmation to the number asked for, once."""

        def configure(config: Config) -> Config:
            return dataclasses.replace(
                config,
                web=dataclasses.replace(config.web, callback_queue="support"),
                modem=dataclasses.replace(config.modem, device="/dev/ccbox-test-no-modem"),
                sms=dataclasses.replace(config.sms, callback_confirmation=True),
            )

        app = await RunningAppliance.start(temp_dir(self), seed=seed, configure=configure)
        self.addCleanup(app.stop)
        assert app.master.hardware.sms is not None
        self.assertEqual(app.master.hardware.modem.status().state, "absent")
        b = app.browser()
        token = (await app.in_thread(b.get, "/callback")).csrf()
        for _ in range(2):  # a second request within the hour: no second SMS
            form = {"_csrf": token, "name": "Li", "number": "13800138000", "preferred": ""}
            r = await app.in_thread(b.post, "/callback", form)
            self.assertEqual(r.status, 200, r.body[:400])
        m = model.crm_messages
        with app.master.db.engine.connect() as conn:
            rows = list(conn.execute(sa.select(m.c.address, m.c.subject, m.c.state, m.c.body)))
        self.assertEqual(
            [(r.address, r.subject) for r in rows], [("13800138000", "callback_confirmation")]
        )
        # queued, or parked by the outbox's pass for the modem that is not there: not sent
        self.assertIn(rows[0].state, ("queued", "waiting_for_modem"))
        self.assertIn("as soon as an agent is free", rows[0].body)
