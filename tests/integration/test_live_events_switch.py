"""Live events end to end: ccboxd's master and the switch simulator on loopback, a caller
through the IVR to an agent's simulated phone, watched on real ``GET /events`` streams by a
supervisor and two agents who logged in over HTTP."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from twisted.internet import endpoints, reactor, threads

from appliance import passwords
from appliance.db import model
from drivers.asterisk.simulator.agi_caller import CallerScript
from drivers.asterisk.simulator.switch import Device
from tests.support.acd_rig import ACDRig, wait_for
from tests.support.http import Browser
from tests.support.sse_client import RawClient

HOSTILE = "<img src=x onerror=alert(1)>"
PASSWORD = "live-events-pw-1"


def users(conn: Any, ids: dict[str, int]) -> None:
    now = sa.func.now()
    for username, role, agent in (
        ("sup", "supervisor", None),
        ("a1", "agent", "1001"),
        ("a2", "agent", "1002"),
    ):
        uid = conn.execute(
            model.users.insert().values(
                username=username,
                password_hash=passwords.hash_password(PASSWORD),
                role=role,
                display_name=username,
                created_at=now,
            )
        ).inserted_primary_key[0]
        if agent is not None:
            conn.execute(
                model.agents.update().where(model.agents.c.id == ids[agent]).values(user_id=uid)
            )


class LiveEventsSwitchTests(ACDRig):
    async def stream(self, port: int, username: str) -> RawClient:
        browser = Browser(port)
        r = await threads.deferToThread(browser.login, username, PASSWORD)
        self.assertEqual(r.status, 303, r.body[:200])
        cookie = browser.cookies["ccbox_session"]
        head = f"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ccbox_session={cookie}"
        head += "\r\nAccept: text/event-stream"  # as an EventSource sends it
        client = RawClient(f"{head}\r\n\r\n".encode())
        await endpoints.connectProtocol(
            endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port), client
        )
        self.addCleanup(lambda: client.transport.loseConnection())
        await wait_for(lambda: client.events(), f"{username}'s snapshot")
        self.assertEqual(client.status, 200)
        return client

    async def test_a_simulated_call_on_the_live_streams(self) -> None:
        master = await self.start({"PJSIP/1001": Device(ring_s=0.4, talk_s=0.6)}, setup=users)
        a1, a2 = self.agent(master, "1001"), self.agent(master, "1002")
        port = master.web.port_number
        sup = await self.stream(port, "sup")
        mine = await self.stream(port, "a1")
        theirs = await self.stream(port, "a2")
        master.acd.login(a1.id)
        outcome = await self.call(CallerScript(caller_name=HOSTILE, prompt_s=0.1))
        row = await self.row(master, outcome.uniqueid)
        self.assertEqual(row["agent_id"], a1.id)
        await wait_for(
            lambda: any(e[0] == "call" and e[2]["state"] == "ended" for e in sup.events()),
            "the call's end on the supervisor's stream",
        )
        await wait_for(
            lambda: any(e[0] == "agent" and e[2]["state"] == "wrap_up" for e in mine.events()),
            "wrap-up on the agent's stream",
        )
        qid = master.acd.queue("support").id
        # The supervisor: the call through its states, with the calls row id and the
        # caller's name as sent (JSON: the pages show it as text).
        calls = [e[2] for e in sup.events() if e[0] == "call"]
        self.assertEqual({c["id"] for c in calls}, {row["id"]})
        states = [c["state"] for c in calls]
        self.assertEqual(states[-2:], ["talking", "ended"])
        self.assertIn(states[0], ("waiting", "ringing"))
        self.assertEqual(calls[-1]["caller_name"], HOSTILE)
        self.assertEqual(calls[-1]["caller_number"], "13800138000")
        self.assertEqual((calls[-1]["queue_id"], calls[-1]["agent_id"]), (qid, a1.id))
        queues = [e[2] for e in sup.events() if e[0] == "queue" and e[2]["id"] == qid]
        self.assertEqual((queues[-1]["offered"], queues[-1]["answered"]), (1, 1))
        agent_states = [e[2]["state"] for e in sup.events() if e[0] == "agent"]
        self.assertEqual(agent_states[:1], ["available"])
        self.assertIn("on_call", agent_states)
        self.assertNotIn("offer", {e[0] for e in sup.events()})
        # The agent who took it: its offer, ringing then answered, and its own state only.
        offers = [e[2] for e in mine.events() if e[0] == "offer"]
        self.assertEqual([o["state"] for o in offers], ["ringing", "answered"])
        self.assertEqual(
            {(o["call_id"], o["agent_id"], o["caller_name"], o["queue_id"]) for o in offers},
            {(row["id"], a1.id, HOSTILE, qid)},
        )
        self.assertEqual({e[2]["id"] for e in mine.events() if e[0] == "agent"}, {a1.id})
        # The other agent: queues and itself, nothing of the call.
        self.assertEqual({e[0] for e in theirs.events()} - {"snapshot"}, {"queue"})
        self.assertNotIn(b"13800138000", theirs.body)
        self.assertNotIn(b"onerror", theirs.body)
        self.assertEqual([a["id"] for a in theirs.events()[0][2]["agents"]], [a2.id])
        # Ids are in order, one message per id.
        ids = [int(e[1].rsplit("-", 1)[1]) for e in sup.events()]
        self.assertEqual(ids, sorted(ids))
