"""``/api/desk_lead/*`` over real HTTP: the agent disposes of its own campaign call (the
disposition on the lead, the note on the attempt's call), schedules a callback for itself,
another agent or anyone, and drives a preview; another agent's attempt is 404, every bad
field 400 with its name, all of it audited."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from appliance.cli import resolved
from appliance.db.dialer_store import NewLead
from tests.support.appliance import RunningAppliance
from tests.support.tmp import temp_dir
from tests.unit.test_web import WebTestCase
from tests.unit.test_web_desk import seed as desk_seed

DISPOSITIONS = ["Interested", "Call back later", "Not interested 不感兴趣"]


def seed(db: Any) -> None:
    desk_seed(db)
    queue = resolved(db.queues.list_all())[0].id  # "support"
    campaign = resolved(
        db.dialer.create_campaign(
            "spring",
            queue,
            caller_id_number="4008001234",
            dispositions_json=json.dumps(DISPOSITIONS),
            script="Hello, this is Acme.",
        )
    )
    resolved(
        db.dialer.add_leads(
            campaign.id,
            [NewLead(number="13800000001", name="Zhang"), NewLead(number="13800000002")],
        )
    )


class PreviewHooks:
    """Stands in for the running Dialer's two preview hooks (their behaviour is the engine's,
    tests/unit/test_dialer_engine.py): what the desk asked for, and whether a lead is shown."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, int]] = []
        self.showing = True

    def preview_dial_now(self, agent_id: int) -> bool:
        self.asked.append(("dial", agent_id))
        return self.showing

    def preview_skip(self, agent_id: int) -> bool:
        self.asked.append(("skip", agent_id))
        return self.showing


class DeskLeadTests(WebTestCase):
    async def _attempt(self, agent_number: str, number: str, channel: str) -> tuple[int, int]:
        """An answered attempt of the lead with ``number`` talked on by the agent, ended, with
        its outbound calls row; (attempt id, lead id)."""
        store = self.db.dialer
        campaign = await store.campaign_by_name("spring")
        lead = await store.lead_by_number(campaign.id, number)
        agent = self.acd.agent_by_number(agent_number)
        now = dt.datetime.now(dt.UTC)
        attempt = await store.start_attempt(campaign.id, lead.id, channel, now)
        await store.note_attempt(attempt, answered_at=now, agent_id=agent.id, wait_ms=300)
        await self.db.calls.start(channel, channel, "outbound", now, number, "", number)
        await store.finish_attempt(attempt, "answered", now)
        await store.finish_lead(lead.id, "done", outcome="answered")
        return attempt, lead.id

    async def test_disposition_callback_and_preview_of_the_agents_own_lead(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed)
        self.addCleanup(self.app.stop)
        self.acd = self.app.master.acd
        self.db = self.app.master.db
        store = self.db.dialer
        mine, lead_id = await self._attempt("1001", "13800000001", "ccbox-dl-1")
        theirs, their_lead = await self._attempt("1002", "13800000002", "ccbox-dl-2")
        b = await self.app.logged_in("agent")
        page = await self.call(b.get, "/desk")
        self.assertIn('id="desk-lead"', page.body)
        self.assertIn("Dial now", page.body)
        token = page.csrf()

        async def post(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            r = await self.call(b.post_json, "/api/desk_lead/" + path, body, token)
            return r.status, r.json()

        # the agent's own call: the disposition on the lead, the note on the call
        status, answer = await post(
            "disposition", {"attempt_id": mine, "disposition": "Interested", "notes": "wants tea"}
        )
        self.assertEqual(status, 200, answer)
        self.assertEqual((answer["lead_id"], answer["callback_at"]), (lead_id, None))
        lead = await store.lead(lead_id)
        self.assertEqual((lead.disposition, lead.status), ("Interested", "done"))
        notes = await self.db.desk.notes(answer["call_id"])
        self.assertEqual([(n.disposition, n.notes) for n in notes], [("Interested", "wants tea")])

        # another agent's attempt: as if it did not exist; nothing written
        status, answer = await post(
            "disposition", {"attempt_id": theirs, "disposition": "Interested"}
        )
        self.assertEqual(status, 404, answer)
        self.assertEqual((await store.lead(their_lead)).disposition, "")
        status, answer = await post(
            "disposition", {"attempt_id": 999999, "disposition": "Interested"}
        )
        self.assertEqual(status, 404, answer)

        # every bad field: 400 naming it
        later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).replace(microsecond=0)
        bad: list[tuple[dict[str, Any], str]] = [
            ({"attempt_id": "7", "disposition": "Interested"}, "attempt_id"),
            ({"attempt_id": -1, "disposition": "Interested"}, "attempt_id"),
            ({"attempt_id": True, "disposition": "Interested"}, "attempt_id"),
            ({"attempt_id": mine, "disposition": "resolved"}, "disposition must be one of"),
            ({"attempt_id": mine, "disposition": ["Interested"]}, "disposition"),
            ({"attempt_id": mine, "disposition": "Interested", "notes": "x" * 4001}, "notes"),
            ({"attempt_id": mine, "disposition": "Interested", "notes": "a\x00b"}, "notes"),
            ({"attempt_id": mine, "disposition": "Interested", "notes": 5}, "notes"),
            (
                {"attempt_id": mine, "disposition": "Interested", "callback_at": "tomorrow"},
                "callback_at",
            ),
            (  # no zone: whose 9 o'clock?
                {
                    "attempt_id": mine,
                    "disposition": "Interested",
                    "callback_at": "2030-01-01T09:00",
                },
                "callback_at",
            ),
            (
                {
                    "attempt_id": mine,
                    "disposition": "Interested",
                    "callback_at": "2020-01-01T09:00Z",
                },
                "callback_at must be from now",
            ),
            (
                {
                    "attempt_id": mine,
                    "disposition": "Interested",
                    "callback_at": later.isoformat(),
                    "callback_agent": "9999",
                },
                "callback_agent",
            ),
        ]
        for body, said in bad:
            status, answer = await post("disposition", body)
            self.assertEqual(status, 400, (body, answer))
            self.assertIn(said, str(answer["error"]), body)
        lead = await store.lead(lead_id)
        self.assertEqual((lead.disposition, lead.status), ("Interested", "done"))

        # a callback for the agent itself, then one handed to agent 1002, then for anyone
        status, answer = await post(
            "disposition",
            {
                "attempt_id": mine,
                "disposition": "Call back later",
                "callback_at": later.isoformat(),
            },
        )
        self.assertEqual(status, 200, answer)
        self.assertIn("called back", answer["message"])
        a1001, a1002 = self.acd.agent_by_number("1001"), self.acd.agent_by_number("1002")
        lead = await store.lead(lead_id)
        self.assertEqual(
            (lead.status, lead.next_at, lead.agent_id, lead.last_outcome, lead.disposition),
            ("scheduled", later, a1001.id, "callback", "Call back later"),
        )
        for who, expected in (("1002", a1002.id), ("*", None)):
            status, answer = await post(
                "disposition",
                {
                    "attempt_id": mine,
                    "disposition": "Call back later",
                    "callback_at": later.isoformat(),
                    "callback_agent": who,
                },
            )
            self.assertEqual(status, 200, answer)
            self.assertEqual((await store.lead(lead_id)).agent_id, expected)
        # the engine reads it when due (and only for that agent, when one was named)
        due = await store.due_leads(lead.campaign_id, later + dt.timedelta(seconds=1))
        self.assertIn(lead_id, [d.id for d in due])

        # a number put on do-not-call meanwhile: the disposition is kept, no callback
        await store.finish_lead(lead_id, "dnc", outcome="dnc")
        status, answer = await post(
            "disposition",
            {"attempt_id": mine, "disposition": "Interested", "callback_at": later.isoformat()},
        )
        self.assertEqual((status, answer["callback_at"]), (200, None), answer)
        self.assertIn("do-not-call", answer["message"])
        lead = await store.lead(lead_id)
        self.assertEqual((lead.status, lead.disposition), ("dnc", "Interested"))

        # a call still up: the disposition is taken, a callback waits for the call's end
        campaign = await store.campaign_by_name("spring")
        up = await store.start_attempt(campaign.id, their_lead, "ccbox-dl-3")
        await store.note_attempt(up, agent_id=a1001.id)
        status, answer = await post(
            "disposition",
            {"attempt_id": up, "disposition": "Interested", "callback_at": later.isoformat()},
        )
        self.assertEqual(status, 409, answer)
        status, answer = await post("disposition", {"attempt_id": up, "disposition": "Interested"})
        self.assertEqual((status, answer["call_id"]), (200, None))  # no calls row yet

        # preview: no dialer running, then the hooks asked for this agent
        status, answer = await post("dial_now", {})
        self.assertEqual(status, 409, answer)
        hooks = PreviewHooks()
        master = self.app.master
        setattr(master, "dialer", hooks)  # noqa: B010
        self.addCleanup(setattr, master, "dialer", None)
        self.assertEqual((await post("dial_now", {}))[0], 200)
        self.assertEqual((await post("skip", {}))[0], 200)
        hooks.showing = False
        status, answer = await post("skip", {})
        self.assertEqual(status, 409, answer)
        self.assertIn("no lead is waiting", answer["error"])
        self.assertEqual(hooks.asked, [("dial", a1001.id), ("skip", a1001.id), ("skip", a1001.id)])

        audit = await self.db.audit.recent(action="desk.disposition")
        self.assertEqual(
            [(a.target, a.detail["disposition"], a.detail.get("callback_agent")) for a in audit][
                ::-1
            ],
            [
                ("agent:1001", "Interested", None),
                ("agent:1001", "Call back later", a1001.id),
                ("agent:1001", "Call back later", a1002.id),
                ("agent:1001", "Call back later", None),
                ("agent:1001", "Interested", a1001.id),
                ("agent:1001", "Interested", None),
            ],
        )
        done = [a.action for a in await self.db.audit.recent()]
        self.assertEqual(done.count("desk.preview_dial"), 1)
        self.assertEqual(done.count("desk.preview_skip"), 1)

        # without the CSRF token: refused; a supervisor has no lead of its own
        r = await self.call(
            b.post_json, "/api/desk_lead/disposition", {"attempt_id": mine}, "wrong"
        )
        self.assertEqual(r.status, 403)
        sup = await self.app.logged_in("sup")
        sup_token = (await self.call(sup.get, "/")).csrf()
        r = await self.call(sup.post_json, "/api/desk_lead/skip", {}, sup_token)
        self.assertEqual(r.status, 403)
