"""The supervisor's actions end to end: ccboxd's master and the switch simulator on loopback
sockets, driven through /api/supervisor over real HTTP.

Listen, whisper and barge on a bridged call: the simulator receives an Originate of the
supervisor's phone into [ccbox-supervise] (the mode as the extension, the agent's channel in
CCBOX_SPY_TARGET) and runs ChanSpy with the mode's options on the agent's channel, as in the
bridged-call-and-spy trace. Force pause and logout; a waiting call moved to another queue
(answered there); a call hung up."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from twisted.internet import defer, threads

from acd import agent_state as st
from appliance.db import model
from drivers.asterisk.confgen import SPY_OPTIONS
from drivers.asterisk.simulator.agi_caller import CallerScript
from drivers.asterisk.simulator.switch import Device
from tests.support.acd_rig import ACDRig, wait_for
from tests.support.http import Browser

SUPERVISOR_PHONES = {"listen": "PJSIP/2001", "whisper": "PJSIP/2002", "barge": "PJSIP/2003"}


def backup_queue(conn: Any, ids: dict[str, int]) -> None:
    """A queue "backup" served by agent 1002 alone (membership, no skills)."""
    qid = conn.execute(
        model.queues.insert().values(
            name="backup", created_at=sa.func.now(), wrapup_s=1, ring_timeout_s=2
        )
    ).inserted_primary_key[0]
    conn.execute(model.queue_members.insert().values(queue_id=qid, agent_id=ids["1002"]))
    ids["backup"] = qid


class SupervisorSwitchTests(ACDRig):
    async def _supervisor(self, master: Any) -> tuple[Browser, str]:
        await master.db.users.add("sue", "sue-password", "supervisor", "Sue")
        b = Browser(master.web.port_number)
        r = await threads.deferToThread(b.login, "sue", "sue-password")
        self.assertEqual(r.status, 303, r.body[:200])
        return b, (await threads.deferToThread(b.get, "/")).csrf()

    def _post(self, sup: tuple[Browser, str], action: str, body: Any) -> Any:
        b, token = sup
        return threads.deferToThread(b.post_json, f"/api/supervisor/{action}", body, token)

    def _record_originates(self) -> list[tuple[dict[str, str], dict[str, str]]]:
        seen: list[tuple[dict[str, str], dict[str, str]]] = []
        original = self.sim.switch.originate

        def recording(action_id: str | None, fields: dict[str, str], vars_: dict[str, str]) -> None:
            seen.append((dict(fields), dict(vars_)))
            original(action_id, fields, vars_)

        self.sim.switch.originate = recording  # type: ignore[method-assign]
        return seen

    async def _audit(self, master: Any) -> list[tuple[str, str, str]]:
        c = model.audit_log.c
        rows = await master.db.run(
            lambda conn: conn.execute(sa.select(c.actor, c.action, c.target).order_by(c.id)).all()
        )
        return [tuple(r) for r in rows]

    async def test_listen_whisper_and_barge_start_chanspy_with_the_modes_options(self) -> None:
        phones = {dev: Device(ring_s=0.2) for dev in SUPERVISOR_PHONES.values()}
        master = await self.start({"PJSIP/1001": Device(ring_s=0.2, talk_s=4.0), **phones})
        sup = await self._supervisor(master)
        originates = self._record_originates()
        agent = self.agent(master, "1001")
        master.acd.login(agent.id)
        r = await self._post(
            sup, "spy", {"agent": "1001", "mode": "listen", "device": "PJSIP/2001"}
        )
        self.assertEqual((r.status, r.json()["error"]), (409, "agent 1001 is not on a call"))
        done = defer.ensureDeferred(self.call(CallerScript(prompt_s=0.1)))
        await wait_for(lambda: self.sim_events("BridgeEnter"), "the agent answering")
        await wait_for(lambda: agent.state == st.ON_CALL, "the agent on the call")
        [agent_channel] = [
            c.name for c in self.sim.switch.channels.values() if c.name.startswith("PJSIP/1001-")
        ]
        for mode, phone in SUPERVISOR_PHONES.items():
            r = await self._post(sup, "spy", {"agent": "1001", "mode": mode, "device": phone})
            self.assertEqual((r.status, r.json()["channel"]), (200, agent_channel), r.body)
        await wait_for(lambda: len(self.sim_events("ChanSpyStart")) == 3, "three spies")
        self.assertEqual(
            [(f["Channel"], f["Context"], f["Exten"], v) for f, v in originates],
            [
                (phone, "ccbox-supervise", mode, {"CCBOX_SPY_TARGET": agent_channel})
                for mode, phone in SUPERVISOR_PHONES.items()
            ],
        )
        self.assertTrue(all(f["Async"] == "true" and "Application" not in f for f, _ in originates))
        chanspy = [e for e in self.sim_events("Newexten") if e.get("Application") == "ChanSpy"]
        self.assertEqual(
            [(e["Channel"].split("-")[0], e["Extension"], e["AppData"]) for e in chanspy],
            [
                (phone, mode, f"{agent_channel},{SPY_OPTIONS[mode]}")
                for mode, phone in SUPERVISOR_PHONES.items()
            ],
        )
        self.assertEqual(
            [
                (s["SpyerChannel"].split("-")[0], s["SpyeeChannel"])
                for s in self.sim_events("ChanSpyStart")
            ],
            [(phone, agent_channel) for phone in SUPERVISOR_PHONES.values()],
        )
        self.assertEqual(  # whisper talks to the agent only, barge to both
            [SPY_OPTIONS[m] for m in SUPERVISOR_PHONES], ["qEu", "qEuw", "qEuB"]
        )
        await done
        await wait_for(lambda: len(self.sim_events("ChanSpyStop")) == 3, "the spies ending")
        await wait_for(
            lambda: (
                not any(c.name.startswith("PJSIP/200") for c in self.sim.switch.channels.values())
            ),
            "the supervisors' phones hung up with the call",
        )
        self.assertEqual(await self._audit(master), [("sue", "supervisor.spy", "agent:1001")] * 3)

    async def test_force_pause_logout_move_and_hang_up(self) -> None:
        master = await self.start(
            {
                "PJSIP/1001": Device(ring_s=0.2, talk_s=30.0),
                "PJSIP/1002": Device(ring_s=0.2, talk_s=0.3),
            },
            backup_queue,
        )
        sup = await self._supervisor(master)
        a1001, a1002 = self.agent(master, "1001"), self.agent(master, "1002")
        master.acd.login(a1001.id)
        r = await self._post(sup, "pause", {"agent": "1001", "reason": "meeting"})
        self.assertEqual((r.status, r.json()["state"]), (200, "paused"), r.body)
        self.assertEqual((a1001.state, a1001.reason), (st.PAUSED, "meeting"))

        # A caller waits in "support" (1001 paused, 1002 logged out): moved to "backup".
        waiting = defer.ensureDeferred(self.call(CallerScript(prompt_s=0.1)))
        await wait_for(lambda: master.acd.calls, "the caller in the queue")
        [queued] = master.acd.calls.values()
        await wait_for(lambda: master.acd.is_waiting(queued), "the caller waiting")
        moved_id = await master.db.calls.find(queued.uniqueid)
        r = await self._post(sup, "move", {"call_id": moved_id, "queue": "backup"})
        self.assertEqual((r.status, r.json()["queue"]), (200, "backup"), r.body)
        backup = master.acd.queue("backup")
        self.assertEqual(queued.queue_id, backup.id)
        master.acd.login(a1002.id)  # serves backup: gets the call
        outcome = await waiting
        row = await self.row(master, outcome.uniqueid)
        self.assertEqual((row["disposition"], row["agent_id"]), ("completed", a1002.id))
        self.assertEqual(master.acd.stats[backup.id].answered, 1)

        r = await self._post(sup, "logout", {"agent": "1001"})
        self.assertEqual((r.status, r.json()["state"]), (200, "logged_out"))
        self.assertEqual(a1001.state, st.LOGGED_OUT)

        # A call that would go on for 30 s: hung up by the supervisor.
        master.acd.login(a1001.id)
        talking = defer.ensureDeferred(self.call(CallerScript(prompt_s=0.1)))
        await wait_for(lambda: a1001.state == st.ON_CALL, "1001 on the call")
        [queued] = [c for c in master.acd.calls.values() if c.agent is a1001]
        row_id = await master.db.calls.find(queued.uniqueid)
        r = await self._post(sup, "hangup", {"call_id": row_id})
        self.assertEqual((r.status, r.json()["channel"]), (200, queued.channel), r.body)
        outcome = await talking
        row = await self.row(master, outcome.uniqueid)
        self.assertIsNotNone(row["ended_at"])
        hangups = [e for e in self.sim_events("Hangup") if e["Uniqueid"] == queued.uniqueid]
        self.assertEqual([h["Cause"] for h in hangups], ["16"])
        self.assertEqual(
            [
                e["Cause"]
                for e in self.sim_events("SoftHangupRequest")
                if e["Uniqueid"] == queued.uniqueid
            ],
            ["16"],
        )
        await wait_for(lambda: a1001.state == st.WRAP_UP, "1001 in wrap-up")
        r = await self._post(sup, "hangup", {"call_id": row_id})
        self.assertEqual(r.status, 409)  # gone: the switch says no such channel
        self.assertEqual(
            [(a, t) for _, a, t in await self._audit(master)],
            [
                ("supervisor.pause", "agent:1001"),
                ("supervisor.move", f"call:{moved_id}"),
                ("supervisor.logout", "agent:1001"),
                ("supervisor.hangup", f"call:{row['id']}"),
            ],
        )
