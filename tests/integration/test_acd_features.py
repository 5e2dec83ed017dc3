"""ACD features end to end over the switch simulator: overflow, VIP priority, callbacks,
voicemail, announcements, transfers, closed queues, and desk-phone login with a PIN."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from twisted.internet import defer, reactor, task

from acd import agent_state as st
from appliance.db import model
from appliance.master import ApplianceMaster
from drivers.asterisk.simulator.agi_caller import CallerScript, CallOutcome
from drivers.asterisk.simulator.switch import Device
from drivers.asterisk.simulator.traffic import run_call
from tests.support.acd_rig import ACDRig, second_queue, wait_for

QUICK = Device(ring_s=0.2, talk_s=0.3)


class ACDFeatureTests(ACDRig):
    def queue_id(self, master: ApplianceMaster, name: str) -> int:
        return master.acd.queue(name).id

    def stats(self, master: ApplianceMaster, name: str) -> dict[str, Any]:
        return next(q for q in master.acd.snapshot()["queues"] if q["name"] == name)

    async def test_overflow_on_timeout_moves_the_call_to_the_other_queue(self) -> None:
        add_backup = second_queue("backup", "1002")

        def setup(conn: Any, ids: dict[str, int]) -> None:
            add_backup(conn, ids)
            conn.execute(
                model.queues.update()
                .where(model.queues.c.id == ids["support"])
                .values(overflow_queue_id=ids["backup"])
            )

        master = await self.start({"PJSIP/1002": QUICK}, setup=setup, max_wait_s=1)
        backup = self.queue_id(master, "backup")
        master.acd.login(self.agent(master, "1002").id)
        outcome = await self.call(CallerScript(prompt_s=0.1))
        row = await self.row(master, outcome.uniqueid)
        self.assertEqual(
            (row["disposition"], row["queue_id"], row["agent_id"]),
            ("completed", backup, self.agent(master, "1002").id),
        )
        self.assertEqual(self.stats(master, "support")["overflowed"], 1)
        self.assertEqual(self.stats(master, "backup")["answered"], 1)

    async def test_a_vip_caller_jumps_the_queue(self) -> None:
        def red(conn: Any, ids: dict[str, int]) -> None:
            conn.execute(
                model.number_lists.insert().values(
                    number="13900000009", kind="red", priority=5, created_at=sa.func.now()
                )
            )

        master = await self.start({"PJSIP/1001": QUICK}, setup=red, wrapup_s=0)
        support = self.queue_id(master, "support")
        first = defer.ensureDeferred(self.call(CallerScript("13800000001", prompt_s=0.1)))
        await wait_for(lambda: master.acd.stats[support].offered == 1, "the first caller")
        vip = defer.ensureDeferred(self.call(CallerScript("13900000009", prompt_s=0.1)))
        await wait_for(lambda: master.acd.stats[support].offered == 2, "the VIP caller")
        master.acd.login(self.agent(master, "1001").id)
        await defer.gatherResults([first, vip])
        dialing = [e["CallerIDNum"] for e in self.sim_events("DialBegin")]
        self.assertEqual(dialing, ["13900000009", "13800000001"])

    async def test_a_callback_keeps_its_place_and_is_dialed_out(self) -> None:
        master = await self.start(
            {"PJSIP/1001": QUICK, "Local/13800000001@ccbox-outbound": QUICK},
            callback_key="5",
            announce_every_s=0,
            wrapup_s=0,
        )
        support = self.queue_id(master, "support")
        asker = await self.call(CallerScript("13800000001", digits="5", prompt_s=0.2))
        self.assertIn('STREAM FILE ccbox-callback-registered ""', asker.commands)
        later = defer.ensureDeferred(self.call(CallerScript("13800000002", prompt_s=0.1)))
        await wait_for(lambda: master.acd.stats[support].offered == 2, "the second caller")
        row = await self.row(master, asker.uniqueid)
        self.assertEqual(row["disposition"], "callback")
        master.acd.login(self.agent(master, "1001").id)
        await later

        def callbacks(conn: Any) -> Any:
            return conn.execute(model.callbacks.select()).all()

        await wait_for(lambda: not master.acd.callbacks, "the callback to finish")
        [cb] = await master.db.run(callbacks)
        self.assertEqual((cb.number, cb.state, cb.attempts), ("13800000001", "done", 1))
        self.assertEqual(cb.agent_id, self.agent(master, "1001").id)
        # The callback was first in line: the agent's phone was originated before the
        # second caller's Dial. (The Local channel's ;2 dials the trunk itself: DAHDI/2.)
        begins = self.sim_events("DialBegin")
        self.assertEqual(
            [e["DestChannel"].rsplit("-", 1)[0] for e in begins],
            ["PJSIP/1001", "Local/13800000001@ccbox-outbound", "DAHDI/2", "PJSIP/1001"],
        )
        self.assertEqual(begins[3]["CallerIDNum"], "13800000002")
        self.assertEqual(self.stats(master, "support")["callbacks"], 1)

    async def test_a_callback_for_a_number_that_cannot_be_dialed_is_refused(self) -> None:
        master = await self.start({}, callback_key="5", announce_every_s=0, max_wait_s=2)
        outcome = await self.call(CallerScript("<b>1</b>", digits="5", prompt_s=0.2))
        self.assertIn('STREAM FILE ccbox-callback-unavailable ""', outcome.commands)
        self.assertEqual(master.acd.callbacks, {})
        row = await self.row(master, outcome.uniqueid)
        self.assertEqual(row["disposition"], "overflow")

    async def test_the_voicemail_key_records_a_message(self) -> None:
        master = await self.start({}, announce_every_s=0, voicemail_key="2")
        outcome = await self.call(CallerScript(digits="2", prompt_s=0.2, message_s=0.5))
        row = await self.row(master, outcome.uniqueid)
        self.assertEqual(row["disposition"], "voicemail")
        [path] = outcome.recorded
        self.assertTrue(path.startswith(str(master.config.data_dir / "voicemail" / "queue-")))
        events = dict(await master.db.calls.events(row["id"]))
        self.assertEqual(events["voicemail_left"]["seconds"], 0.5)
        # The message is stored in the queue's mailbox, with the file Asterisk wrote.
        [message] = await master.db.voicemail.messages()
        queue_id = master.acd.queue("support").id
        self.assertEqual(
            (message.id, message.mailbox, message.duration_ms, message.call_id),
            (events["voicemail_left"]["message"], f"queue-{queue_id}", 500, row["id"]),
        )
        self.assertEqual(master.config.data_dir / "voicemail" / message.path, Path(path + ".wav"))
        self.assertTrue(Path(path + ".wav").is_file())

    async def test_the_holding_caller_hears_position_and_expected_wait(self) -> None:
        await self.start({}, announce_every_s=1)
        outcome = await self.call(CallerScript(prompt_s=0.1, patience_s=2.6))
        # The keys: callback 1, voicemail 2. Nobody is logged in: 1 x 180 s (the default
        # talk time while the queue has none measured) / 1 = 3 minutes.
        # The switch's music, and one wait for the keys; the session's interrupt marker cuts
        # the wait (its late "result=1" is dropped), then the NOOP; the prompts stop the
        # music, so it is started again after them.
        i = outcome.commands.index("GET FULL VARIABLE ccbox-sync-1")
        self.assertEqual(
            outcome.commands[i - 2 : i + 9],
            [
                "SET MUSIC ON default",
                "WAIT FOR DIGIT -1",
                "GET FULL VARIABLE ccbox-sync-1",
                "NOOP",
                'STREAM FILE ccbox-queue-position "12"',
                'SAY NUMBER 1 "12"',
                'STREAM FILE ccbox-queue-wait "12"',
                'SAY NUMBER 3 "12"',
                'STREAM FILE ccbox-queue-minutes "12"',
                "SET MUSIC ON default",
                "WAIT FOR DIGIT -1",
            ],
        )
        # the caller hangs up on the music: the wait's -1 says so, nothing more is sent
        # (a SET MUSIC OFF on the dead channel was two AGI events more on the switch)
        self.assertEqual(outcome.commands[-1], "WAIT FOR DIGIT -1")

    async def test_a_queue_closed_without_agents_sends_callers_away(self) -> None:
        master = await self.start({}, join_empty=False)
        outcome = await self.call(CallerScript(prompt_s=0.1))
        row = await self.row(master, outcome.uniqueid)
        self.assertEqual(row["disposition"], "overflow")
        self.assertIn('STREAM FILE ccbox-goodbye ""', outcome.commands)

    async def test_overflow_to_an_extension_of_the_old_pbx(self) -> None:
        master = await self.start(
            {"Local/2000@ccbox-extensions": QUICK},
            max_wait_s=1,
            overflow_kind="extension",
            overflow_target="2000",
        )
        outcome = await self.call(CallerScript(prompt_s=0.1))
        row = await self.row(master, outcome.uniqueid)
        self.assertEqual(row["disposition"], "extension")
        self.assertIn('EXEC Dial "Local/2000@ccbox-extensions,60"', outcome.commands)
        # The Local ;1 answered the caller's Dial when the extension answered ;2's.
        self.assertEqual(
            [e["DialStatus"] for e in self.sim_events("DialEnd")], ["ANSWER", "ANSWER"]
        )

    async def test_blind_transfer_to_another_queue(self) -> None:
        master = await self.start(
            {"PJSIP/1001": Device(ring_s=0.2), "PJSIP/1002": QUICK},
            setup=second_queue("billing", "1002"),
        )
        a1001, a1002 = self.agent(master, "1001"), self.agent(master, "1002")
        first = await self.a_call_for_billing(master)
        said = await master.acd.transfer(a1001.id, "queue", "billing")
        self.assertEqual(said, "transferred to queue billing")
        outcome = await first
        self.assertTrue(outcome.redirected)
        await wait_for(lambda: self.stats(master, "billing")["answered"] == 1, "1002 answers")
        for _ in range(100):  # the first session finished the row; the second finishes last
            row = await self.row(master, outcome.uniqueid)
            if row["disposition"] != "transferred":
                break
            await task.deferLater(reactor, 0.05, lambda: None)
        self.assertEqual(
            (row["queue_id"], row["agent_id"], row["disposition"]),
            (self.queue_id(master, "billing"), a1002.id, "completed"),
        )
        kinds = [k for k, _ in await master.db.calls.events(row["id"])]
        self.assertIn("transfer_in", kinds)
        self.assertIn(a1001.state, (st.WRAP_UP, st.AVAILABLE))

    async def test_an_attended_transfer_is_done_when_asterisk_says_so(self) -> None:
        """Agents are dialed with t, so Atxfer starts the consult; the call moves to 1002
        on the switch's AttendedTransfer, when 1001 hangs up with 1002 on the line."""
        master = await self.start(
            {
                "PJSIP/1001": Device(ring_s=0.2, talk_s=8),
                "PJSIP/1002": Device(ring_s=0.3, talk_s=8),
            },
            setup=second_queue("billing", "1002"),
        )
        a1001, a1002 = self.agent(master, "1001"), self.agent(master, "1002")
        first = await self.a_call_for_billing(master)
        said = await master.acd.transfer(a1001.id, "agent", "1002", attended=True)
        self.assertEqual(said, "calling agent 1002: hang up to complete the transfer")
        self.assertEqual((a1002.state, a1002.reason), (st.ON_CALL, "consult"))
        await wait_for(lambda: a1001.reason == "transferred", "the AttendedTransfer", 15)
        self.assertEqual([e["Result"] for e in self.sim_events("AttendedTransfer")], ["Success"])
        call = a1002.call
        self.assertIsNotNone(call)
        self.assertIs(call.agent, a1002)  # type: ignore[union-attr]
        self.assertEqual((a1001.call, a1001.stats.handled), (None, 1))
        outcome = await first  # the caller's Dial returns when 1002 hangs up
        self.assertFalse(outcome.caller_hung_up)
        await wait_for(lambda: a1002.state != st.ON_CALL, "1002's end of the call")
        self.assertEqual((a1002.stats.handled, a1002.call), (1, None))
        self.assertEqual(master.acd.violations(), [])

    async def test_transfer_refuses_a_busy_agent_and_an_extension_with_letters(self) -> None:
        master = await self.start({"PJSIP/1001": Device(ring_s=0.1)})
        a1001 = self.agent(master, "1001")
        master.acd.login(a1001.id)
        call = defer.ensureDeferred(self.call(CallerScript(prompt_s=0.1, patience_s=2)))
        await wait_for(lambda: a1001.state == st.ON_CALL, "agent 1001 to answer")
        from acd.service import ACDError

        with self.assertRaisesRegex(ACDError, "agent 1002 is logged out"):
            await master.acd.transfer(a1001.id, "agent", "1002")
        with self.assertRaisesRegex(ACDError, "1-20 digits"):
            await master.acd.transfer(a1001.id, "extension", "2000@evil")
        await call

    async def phone(self, device: str, code: str, digits: str) -> CallOutcome:
        channel = self.sim.switch.phone_call(device, code)
        outcome = await run_call(
            reactor,
            self.sim.agi_endpoint,
            CallerScript(caller_number="", digits=digits, prompt_s=0.05),
            "agent",
            self.sim.switch,
            channel,
        )
        assert outcome is not None
        return outcome

    async def test_desk_phone_login_with_three_wrong_pins_then_the_right_one(self) -> None:
        master = await self.start({})
        a1001 = self.agent(master, "1001")
        wrong = await self.phone("PJSIP/1005", "*71", "1001#1111#1001#2222#1001#3333#")
        self.assertEqual(
            sum(1 for c in wrong.commands if c.startswith("STREAM FILE ccbox-agent-invalid")), 3
        )
        self.assertTrue(wrong.script_hung_up)
        self.assertEqual(a1001.state, st.LOGGED_OUT)
        right = await self.phone("PJSIP/1005", "*71", "1001#1234#")
        self.assertIn('STREAM FILE ccbox-agent-logged-in ""', right.commands)
        self.assertEqual((a1001.state, a1001.device), (st.AVAILABLE, "PJSIP/1005"))
        paused = await self.phone("PJSIP/1005", "*73", "2")
        self.assertIn('STREAM FILE ccbox-agent-paused ""', paused.commands)
        self.assertEqual((a1001.state, a1001.reason), (st.PAUSED, "lunch"))
        await self.phone("PJSIP/1005", "*72", "")
        self.assertEqual(a1001.state, st.LOGGED_OUT)
        stranger = await self.phone("PJSIP/1009", "*73", "")
        self.assertIn('STREAM FILE ccbox-agent-not-logged-in ""', stranger.commands)

    async def test_repeated_wrong_pins_lock_the_agent_number(self) -> None:
        master = await self.start({})
        await self.phone("PJSIP/1005", "*71", "1001#1111#1001#2222#1001#3333#")
        locked = await self.phone("PJSIP/1005", "*71", "1001#4444#1001#5555#")
        self.assertIn('STREAM FILE ccbox-agent-locked ""', locked.commands)
        # Locked: even the right PIN is refused now.
        again = await self.phone("PJSIP/1005", "*71", "1001#1234#")
        self.assertIn('STREAM FILE ccbox-agent-locked ""', again.commands)
        self.assertEqual(self.agent(master, "1001").state, st.LOGGED_OUT)
        await task.deferLater(reactor, 0, lambda: None)


class RestartTests(ACDRig):
    async def test_a_call_up_across_a_restart_keeps_its_agent_busy(self) -> None:
        master = await self.start({"PJSIP/1001": Device(ring_s=0.1, talk_s=2.5)})
        a1001 = self.agent(master, "1001")
        master.acd.login(a1001.id)
        call = defer.ensureDeferred(self.call(CallerScript(prompt_s=0.1)))
        await wait_for(lambda: a1001.state == st.ON_CALL, "agent 1001 to answer")
        # ccboxd restarts; Asterisk's Dial goes on (a bridged call needs no grace: the stop
        # leaves it to the switch at once, appliance/shutdown.py)
        await master.stopService()
        self.assertEqual(len([c for c in self.sim.switch.channels.values() if c.alive]), 2)

        again = ApplianceMaster(self.config, reactor)
        again.startService()
        self.addCleanup(again.stopService)  # before ready: a half-started master is stopped too
        await again.ready
        await wait_for(lambda: again.ami is not None and again.ami.ready, "the AMI login")
        agent = self.agent(again, "1001")
        await wait_for(lambda: agent.state == st.ON_CALL, "the re-attach from the resync")
        self.assertEqual(agent.reason, "reattached")
        await call  # the agent hangs up after the talk time
        await wait_for(lambda: agent.state == st.AVAILABLE, "the agent to be free again")
