"""The IVR end to end: ccboxd and the switch simulator on loopback, flows published through
the flow service and bound to the dialed number, callers pressing keys. Every node type,
a hangup in every node that talks to the switch, and each path of the sample center."""

from __future__ import annotations

import atexit
import datetime as dt
import json
import shutil
import tempfile
import zoneinfo
from pathlib import Path
from typing import Any

from twisted.internet import defer, reactor, task
from twisted.trial import unittest
from twisted.web import resource, server

from appliance.crm.customer_store import CustomerStore
from appliance.master import ApplianceMaster
from drivers.asterisk.simulator.agi_caller import CallerScript
from drivers.asterisk.simulator.switch import Device
from ivr import sample_center
from ivr.flow_model import NODE_TYPES
from ivr.flows import FlowService
from ivr.http_lookup import HTTPLookup
from ivr.prompt_audio import tone_wav, write_atomically
from tests.support.acd_rig import ACDRig, wait_for

# TTS renders once per test run, not once per test (espeak-ng is real, and slowish).
TTS_CACHE = Path(tempfile.mkdtemp(prefix="ccbox-tts-"))
atexit.register(shutil.rmtree, TTS_CACHE, True)
QUICK = Device(ring_s=0.2, talk_s=0.3)


def n(node_id: str, node_type: str, **props: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "props": props}


def doc(nodes: list[dict[str, Any]], edges: list[tuple[str, str, str]]) -> dict[str, Any]:
    return {
        "start": nodes[0]["id"],
        "nodes": nodes,
        "edges": [{"from": a, "out": o, "to": b} for a, o, b in edges],
    }


class _Lookup(resource.Resource):
    isLeaf = True

    def render_GET(self, request: Any) -> bytes:
        key = request.args.get(b"key", [b""])[0].decode()
        if key == "big":
            return json.dumps({"x": "y" * 100_000}).encode()
        if key == "list":
            return b"[1, 2]"
        if key == "555":
            request.setHeader(b"content-type", b"application/json")
            return json.dumps({"Level": "7", "name": "<b>x</b>"}).encode()
        request.setResponseCode(404)
        return b"{}"


class HTTPLookupTests(unittest.TestCase):
    async def test_answers_found_not_found_too_big_and_not_an_object(self) -> None:
        port = reactor.listenTCP(0, server.Site(_Lookup()), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        url = f"http://127.0.0.1:{port.getHost().port}/level?site=1"
        lookup = HTTPLookup(reactor)
        self.assertEqual(await lookup(url, "555", 3), {"Level": "7", "name": "<b>x</b>"})
        for key in ("404", "big", "list"):
            self.assertIsNone(await lookup(url, key, 3), key)
        await lookup.agent._pool.closeCachedConnections()


class IVRTestCase(ACDRig):
    timeout = 60

    async def start_ivr(
        self, devices: dict[str, Device] | None = None, *, queues: tuple[str, ...] = (), **q: Any
    ) -> ApplianceMaster:
        def setup(conn: Any, ids: dict[str, int]) -> None:
            from appliance.db import model

            for name in queues:
                conn.execute(
                    model.queues.insert().values(
                        name=name, created_at=dt.datetime.now(dt.UTC), wrapup_s=1
                    )
                )

        master = await self.start(devices or {}, setup, **q)
        master.ivr.prompts.tts_dir = TTS_CACHE
        prompts = master.config.data_dir / "prompts"
        for name in ("hello", "menu", "bye"):
            write_atomically(prompts, name, tone_wav(440, 0.2))
            await master.db.ivr.add_prompt(name, "upload", 200, "", "test")
        # a short limit: a silent caller is recorded until it (the traces: silence alone
        # does not end RECORD FILE before its timeout)
        await master.db.voicemail.add_mailbox("800", "Front desk", max_message_s=5)
        return master

    async def publish(self, master: ApplianceMaster, name: str, graph: dict[str, Any]) -> None:
        flows = FlowService(master.ivr)
        row = await flows.create(name, graph, "tester")
        problems = await flows.publish(row.id, row.version, "tester")
        self.assertEqual([str(p) for p in problems], [])
        await master.db.ivr.bind_did("*", row.id)

    async def steps(self, master: ApplianceMaster, call_id: int) -> list[tuple[str, str, Any]]:
        return [
            (d["node"], d["input"], d["branch"])
            for k, d in await master.db.calls.events(call_id)
            if k == "ivr_step"
        ]


class IVRNodeTests(IVRTestCase):
    async def test_set_condition_lookups_say_and_goto(self) -> None:
        site = server.Site(_Lookup())
        port = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        master = await self.start_ivr()
        await CustomerStore(master.db).create(
            "admin", "Li Lei", ["13800138000"], "vip", account="4711"
        )
        url = f"http://127.0.0.1:{port.getHost().port}/level"
        await self.publish(
            master,
            "second",
            doc([n("bye", "hangup", prompt="bye")], []),
        )
        await self.publish(
            master,
            "first",
            doc(
                [
                    n("hi", "play", prompt="hello", barge_in=False),
                    n("who", "lookup", source="customer", key="${caller_number}", store="cust"),
                    n("gold", "condition", left="${customer_class}", op="eq", right="vip"),
                    n("ask", "collect", prompt="menu", variable="code", max_digits=4),
                    n("site", "lookup", source="http", url=url, key="${code}", timeout_s=3),
                    n("say", "say", mode="digits", value="${found_level}${code}"),
                    n("when", "say", mode="date", value="2026-12-24"),
                    n("mark", "set", variable="seen", value="yes"),
                    n("next", "goto", flow="second"),
                ],
                [
                    ("hi", "next", "who"),
                    ("who", "found", "gold"),
                    ("who", "not_found", "gold"),
                    ("gold", "true", "ask"),
                    ("gold", "false", "next"),
                    ("ask", "ok", "site"),
                    ("site", "found", "say"),
                    ("site", "not_found", "next"),
                    ("say", "next", "when"),
                    ("when", "next", "mark"),
                    ("mark", "next", "next"),
                ],
            ),
        )
        outcome = await self.call(CallerScript(digits="555#", prompt_s=0.05))
        row = await self.row(master, outcome.uniqueid)
        self.assertEqual(
            await self.steps(master, row["id"]),
            [
                ("hi", "", "next"),
                ("who", "13800138000", "found"),
                ("gold", "vip", "true"),
                ("ask", "555", "ok"),
                ("site", "555", "found"),
                ("say", "7555", "next"),
                ("when", "2026-12-24", "next"),
                ("mark", "yes", "next"),
                ("next", "second", "@bye"),
                ("bye", "", None),
            ],
        )
        prompts = master.config.data_dir / "prompts"
        noon = int(dt.datetime(2026, 12, 24, 12, tzinfo=dt.UTC).timestamp())
        self.assertEqual(
            outcome.commands,
            [
                'SET VARIABLE CCBOX_AGI "1"',  # the session mark (drivers/asterisk/agi/server.py)
                "ANSWER",
                f'STREAM FILE {prompts}/hello ""',
                f"GET DATA {prompts}/menu 5000 4",
                'SAY DIGITS 7555 ""',
                f'SAY DATE {noon} ""',
                f'STREAM FILE {prompts}/bye ""',
                "HANGUP",
            ],
        )
        kinds = [k for k, _ in await master.db.calls.events(row["id"])]
        self.assertEqual(kinds.count("flow_start"), 2)  # first, then second
        self.assertEqual(row["disposition"], "self_service")

    async def test_http_lookup_that_times_out_or_fails_is_not_found(self) -> None:
        master = await self.start_ivr()
        await self.publish(
            master,
            "main",
            doc(
                [
                    n("site", "lookup", source="http", url="http://127.0.0.1:9/x", key="1"),
                    n("bye", "hangup", prompt="bye"),
                ],
                [("site", "found", "bye"), ("site", "not_found", "bye")],
            ),
        )
        outcome = await self.call(CallerScript(prompt_s=0.05))
        row = await self.row(master, outcome.uniqueid)
        self.assertEqual((await self.steps(master, row["id"]))[0], ("site", "1", "not_found"))

    async def test_queue_node_with_priority_reaches_an_agent(self) -> None:
        master = await self.start_ivr({"PJSIP/1001": QUICK})
        master.acd.login(self.agent(master, "1001").id)
        await self.publish(
            master,
            "main",
            doc([n("q", "queue", queue="support", priority=20)], []),
        )
        outcome = await self.call(CallerScript(prompt_s=0.05))
        row = await self.row(master, outcome.uniqueid)
        self.assertEqual(
            (row["disposition"], row["agent_id"]), ("completed", self.agent(master, "1001").id)
        )
        events = dict(await master.db.calls.events(row["id"]))
        self.assertEqual(events["queued"], {"queue": "support", "priority": 20})
        self.assertEqual(await self.steps(master, row["id"]), [("q", "answered", None)])

    async def test_transfer_to_an_extension_and_when_it_fails(self) -> None:
        master = await self.start_ivr({"Local/8200@ccbox-extensions": QUICK})
        await self.publish(
            master,
            "main",
            doc(
                [
                    n("x", "transfer", kind="extension", number="8200"),
                    n("y", "transfer", kind="external", number="01088886666"),
                    n("bye", "hangup"),
                ],
                [("x", "failed", "y"), ("y", "failed", "bye")],
            ),
        )
        outcome = await self.call(CallerScript(prompt_s=0.05))
        row = await self.row(master, outcome.uniqueid)
        self.assertIn('EXEC Dial "Local/8200@ccbox-extensions,60"', outcome.commands)
        self.assertEqual(await self.steps(master, row["id"]), [("x", "8200", None)])
        self.assertEqual(row["disposition"], "transferred")

    async def test_voicemail_node_stores_the_message(self) -> None:
        master = await self.start_ivr()
        await self.publish(
            master,
            "main",
            doc([n("vm", "voicemail", mailbox="800"), n("bye", "hangup")], [("vm", "next", "bye")]),
        )
        outcome = await self.call(
            CallerScript(prompt_s=0.05, message_s=1.0, caller_name='"<img src=x>"')
        )
        row = await self.row(master, outcome.uniqueid)
        [message] = await master.db.voicemail.messages("800")
        self.assertEqual(
            (message.caller_number, message.caller_name, message.duration_ms, message.call_id),
            # markup stays text; the display name's quotes go (drivers/asterisk/caller_id.py)
            ("13800138000", "<img src=x>", 1000, row["id"]),
        )
        path = master.config.data_dir / "voicemail" / message.path
        self.assertTrue(path.is_file())
        self.assertEqual(row["disposition"], "voicemail")

    async def test_a_silent_caller_leaves_no_message(self) -> None:
        master = await self.start_ivr()
        await self.publish(master, "main", doc([n("vm", "voicemail", mailbox="800")], []))
        outcome = await self.call(CallerScript(prompt_s=0.05))
        row = await self.row(master, outcome.uniqueid)
        self.assertEqual(await master.db.voicemail.messages(), [])
        self.assertEqual(await self.steps(master, row["id"]), [("vm", "silent", "next")])

    async def test_a_call_keeps_the_version_it_entered_with(self) -> None:
        master = await self.start_ivr()
        await self.publish(
            master,
            "main",
            doc(
                [n("m", "menu", prompt="menu", options=["1"]), n("a", "hangup", prompt="hello")],
                [("m", "1", "a")],
            ),
        )
        flows = FlowService(master.ivr)
        [row] = await master.db.ivr.flows()

        # While the first caller hears the menu, version 2 is saved and published.
        async def republish() -> None:
            new = doc(
                [n("m", "menu", prompt="menu", options=["1"]), n("a", "hangup", prompt="bye")],
                [("m", "1", "a")],
            )
            version = await flows.save(row.id, new, "tester")
            self.assertEqual(await flows.publish(row.id, version, "tester"), [])

        call = defer.ensureDeferred(self.call(CallerScript(digits="1", prompt_s=1.0)))
        for _ in range(200):  # until the call has entered the flow (version 1)
            if await master.db.calls.count_events("flow_start"):
                break
            await task.deferLater(reactor, 0.02, lambda: None)
        await republish()
        outcome = await call
        self.assertIn(f'STREAM FILE {master.config.data_dir}/prompts/hello ""', outcome.commands)
        second = await self.call(CallerScript(digits="1", prompt_s=0.05))
        self.assertIn(f'STREAM FILE {master.config.data_dir}/prompts/bye ""', second.commands)
        first_row = await self.row(master, outcome.uniqueid)
        starts = [d for k, d in await master.db.calls.events(first_row["id"]) if k == "flow_start"]
        self.assertEqual(starts, [{"flow": "main", "version": 1}])


class HangupInEveryNodeTests(IVRTestCase):
    """The caller hangs up while each kind of node talks to the switch: the run stops there,
    the node is named, the row is closed and no session is left behind."""

    async def hang_up_in(self, node: dict[str, Any], disposition: str = "caller_hangup") -> None:
        master = await self.start_ivr()
        outputs = [*NODE_TYPES[node["type"]].outputs, *node["props"].get("options", [])]
        edges = [(node["id"], out, "bye") for out in outputs]
        nodes = [node, n("bye", "hangup")] if edges else [node]
        await self.publish(master, "main", doc(nodes, edges))
        outcome = await self.call(CallerScript(prompt_s=5.0, patience_s=0.4, message_s=5.0))
        self.assertTrue(outcome.caller_hung_up)
        row = await self.row(master, outcome.uniqueid)
        self.assertEqual(row["disposition"], disposition)
        steps = await self.steps(master, row["id"])
        self.assertEqual((steps[-1][0], steps[-1][2]), (node["id"], "hangup"))
        assert master.fastagi is not None
        await wait_for(lambda: not master.fastagi.factory.sessions, "the session to end")

    async def test_play(self) -> None:
        await self.hang_up_in(n("p", "play", prompt="hello"))

    async def test_menu(self) -> None:
        await self.hang_up_in(n("m", "menu", prompt="menu", options=["1"]))

    async def test_collect(self) -> None:
        await self.hang_up_in(n("c", "collect", prompt="menu", variable="x"))

    async def test_say(self) -> None:
        await self.hang_up_in(n("s", "say", mode="number", value="42"))

    async def test_voicemail(self) -> None:
        await self.hang_up_in(n("v", "voicemail", mailbox="800"))

    async def test_record(self) -> None:
        await self.hang_up_in(n("r", "record", prompt="hello", kind="complaint"))

    async def test_queue(self) -> None:
        await self.hang_up_in(n("q", "queue", queue="support"), "abandoned")

    async def test_hangup(self) -> None:
        await self.hang_up_in(n("h", "hangup", prompt="bye"))


class SampleCenterTests(IVRTestCase):
    """Each path of the shipped sample flow."""

    async def start_center(self, devices: dict[str, Device] | None = None, **q: Any) -> Any:
        master = await self.start_ivr(devices, queues=("sales", "billing", "care"), **q)
        for number, name, kind, owner in sample_center.MAILBOXES:
            await master.db.voicemail.add_mailbox(number, name, kind, owner)
        for key, fields in sample_center.ACCOUNTS.items():
            await master.db.ivr.put_record("accounts", key, fields)
        await self.publish(master, sample_center.NAME, sample_center.flow())
        return master

    async def walk(self, master: Any, digits: str, **script: Any) -> tuple[Any, Any, list]:
        outcome = await self.call(CallerScript(digits=digits, prompt_s=0.05, **script))
        row = await self.row(master, outcome.uniqueid)
        return outcome, row, [s[0] for s in await self.steps(master, row["id"])]

    async def test_zero_reaches_an_agent_of_group_a(self) -> None:
        master = await self.start_center({"PJSIP/1001": QUICK})
        master.acd.login(self.agent(master, "1001").id)
        _, row, nodes = await self.walk(master, "0")
        self.assertEqual(nodes, ["main", "agent"])
        self.assertEqual(
            (row["disposition"], row["queue_id"]), ("completed", master.acd.queue("support").id)
        )

    async def test_nobody_answers_so_the_caller_leaves_a_message(self) -> None:
        master = await self.start_center(max_wait_s=1)
        _, row, nodes = await self.walk(master, "0", message_s=1.0)
        self.assertEqual(nodes, ["main", "agent", "no-agent", "goodbye"])
        [message] = await master.db.voicemail.messages("801")
        self.assertEqual((message.call_id, row["disposition"]), (row["id"], "voicemail"))

    async def test_eight_records_a_complaint_for_group_b_to_call_back(self) -> None:
        master = await self.start_center()
        _, _, nodes = await self.walk(master, "8", message_s=1.5)
        self.assertEqual(nodes, ["main", "complaint", "complaint-thanks", "goodbye"])
        [message] = await master.db.voicemail.messages("803")
        self.assertEqual((message.kind, message.duration_ms), ("complaint", 1500))
        [callback] = await master.db.acd.open_callbacks()
        self.assertEqual(
            (callback.queue_id, callback.number, callback.source),
            (master.acd.queue("care").id, "13800138000", "ivr"),
        )
        self.assertEqual(len(master.acd.callbacks), 1)  # in line for group B

    async def test_account_balance(self) -> None:
        master = await self.start_center()
        outcome, _, nodes = await self.walk(master, "11123456#")
        self.assertEqual(
            nodes,
            [
                "main",
                "accounts",
                "ask-account",
                "find-account",
                "balance-is",
                "say-balance",
                "goodbye",
            ],
        )
        self.assertIn('SAY NUMBER 250 ""', outcome.commands)

    async def test_star_goes_back_then_zero(self) -> None:
        master = await self.start_center()
        _, _, nodes = await self.walk(master, "2*0", patience_s=3)
        self.assertEqual(nodes[:4], ["main", "billing", "main", "agent"])

    async def test_billing_paths(self) -> None:
        master = await self.start_center({"Local/8200@ccbox-extensions": Device(busy=True)})
        _, _, nodes = await self.walk(master, "21")
        self.assertEqual(nodes, ["main", "billing", "bill-sent", "goodbye"])
        outcome, _, nodes = await self.walk(master, "22", patience_s=3)
        self.assertEqual(nodes[:4], ["main", "billing", "pay-line", "billing-queue"])
        self.assertIn('EXEC Dial "Local/8200@ccbox-extensions,60"', outcome.commands)

    async def test_tech_menu_goes_to_group_a_with_priority(self) -> None:
        master = await self.start_center()
        _, row, nodes = await self.walk(master, "31", patience_s=2)
        self.assertEqual(nodes[:2], ["main", "tech"])
        events = dict(await master.db.calls.events(row["id"]))
        self.assertEqual(events["queued"], {"queue": "support", "priority": 5})

    async def test_sales_by_opening_hours(self) -> None:
        master = await self.start_center()
        local = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Shanghai"))
        open_now = local.weekday() <= 5 and "08:00" <= local.strftime("%H:%M") < "20:00"
        _, _, nodes = await self.walk(master, "4", message_s=1.0, patience_s=4)
        expected = ["sales-queue"] if open_now else ["sales-closed", "sales-mailbox"]
        self.assertEqual(nodes[1 : 2 + len(expected)], ["sales-hours", *expected])
