"""The recorder's capture start (issue 21): decided when the call is queued, started once from
the session that rings the agent; "record now" and the PCI pause that come while the
MixMonitor is being started wait for it and act on what it left. A fake session (its EXEC
answered when the test says), a fake manager link, a fake database."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from appliance.config import RecordingConfig
from drivers.asterisk.agi.session import AGIConnectionLost
from drivers.asterisk.ami.codec import Message
from drivers.asterisk.ami.protocol import ActionError
from recorder.service import ControlError, RecorderService
from tests.support.tmp import temp_dir


@dataclass
class Env:
    uniqueid: str = "1795353000.1"
    channel: str = "PJSIP/trunk-00000001"


class Session:
    """EXEC answers when ``answer`` is called (``hold``), or at once."""

    def __init__(self, hold: bool = False) -> None:
        self.env = Env()
        self.execs: list[tuple[str, str]] = []
        self.hold = hold
        self.pending: list[defer.Deferred[int]] = []

    def _exec(self, app: str, arg: str = "") -> defer.Deferred[int]:
        self.execs.append((app, arg))
        if not self.hold:
            return defer.succeed(0)
        d: defer.Deferred[int] = defer.Deferred()
        self.pending.append(d)
        return d

    def exec_(self, app: str, arg: str = "", timeout: float = 0) -> defer.Deferred[int]:
        return self._exec(app, arg)

    def exec_now(self, app: str, arg: str = "", timeout: float = 0) -> defer.Deferred[int]:
        return self._exec(app, arg)

    async def asked(self) -> defer.Deferred[int]:
        """The EXEC in flight, once sent (the legs' folder is made in a thread first)."""
        for _ in range(200):
            if self.pending:
                return self.pending.pop(0)
            await task.deferLater(reactor, 0.01, lambda: None)
        raise AssertionError("no EXEC sent")

    async def answer(self) -> None:
        (await self.asked()).callback(0)


class Manager:
    def __init__(self, refuse: bool = False) -> None:
        self.sent: list[tuple[str, str]] = []
        self.refuse = refuse

    def send_action(self, action: str, headers: Any = (), timeout: Any = None) -> Any:
        h = dict(headers)
        self.sent.append((action, h.get("State", "")))
        if self.refuse:
            error = Message((("Response", "Error"), ("Message", "Cannot set mute flag")))
            return defer.fail(ActionError(action, error))
        return defer.succeed(Message((("Response", "Success"),)))

    def send_list_action(self, action: str, headers: Any = (), timeout: Any = None) -> Any:
        raise AssertionError("not a list action")


class Calls:
    def __init__(self) -> None:
        self.events: list[tuple[int, str, dict[str, Any]]] = []

    def add_event(self, call_id: int, kind: str, at: Any, data: dict[str, Any]) -> Any:
        self.events.append((call_id, kind, data))
        return defer.succeed(None)


class Audit:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []

    def add(self, actor: str, action: str, target: str, detail: Any, ip: str) -> Any:
        self.rows.append((actor, action, target))
        return defer.succeed(None)


class Recordings:
    def did_records(self, number: str) -> Any:
        return defer.succeed(True)


class DB:
    def __init__(self) -> None:
        self.calls, self.audit, self.recordings = Calls(), Audit(), Recordings()


@dataclass
class Queue:
    record_calls: bool


class StartTests(unittest.TestCase):
    def recorder(self, refuse: bool = False) -> RecorderService:
        self.clock = task.Clock()
        self.db = DB()
        self.ami = Manager(refuse)
        root: Path = temp_dir(self) / "recordings"
        db: Any = self.db
        rec = RecorderService(
            self.clock, db, root, settings=RecordingConfig(pause_max_s=60), ami=self.ami
        )

        async def has_room() -> bool:
            return True

        rec.guard.has_room = has_room  # type: ignore[method-assign]
        self.addCleanup(rec.guard.stop)
        return rec

    def mixmonitors(self, session: Session) -> int:
        return sum(app == "MixMonitor" for app, _ in session.execs)

    async def test_queued_starts_nothing_the_ring_starts_once(self) -> None:
        rec = self.recorder()
        session = Session()
        live = await rec.call_queued(session, 7, Queue(True), "")  # type: ignore[arg-type]
        self.assertEqual((session.execs, self.ami.sent), ([], []))
        self.assertEqual(rec.status(7)["started"], False)
        await rec.start_capture(session, live)  # type: ignore[arg-type]
        await rec.start_capture(session, live)  # type: ignore[arg-type]  # a re-offer
        self.assertEqual(self.mixmonitors(session), 1)
        self.assertEqual(rec.status(7)["started"], True)
        self.assertEqual(self.ami.sent, [])  # recorded: never muted

    async def test_record_now_during_the_standbys_start_waits_for_it(self) -> None:
        """The standby's MixMonitor is under way when "record now" comes: the request waits,
        then unmutes what the start muted (mute, then unmute: never the other way)."""
        rec = self.recorder()
        session = Session(hold=True)
        live = await rec.call_queued(session, 7, Queue(False), "")  # type: ignore[arg-type]
        starting = defer.ensureDeferred(rec.start_capture(session, live))  # type: ignore[arg-type]
        asked = defer.ensureDeferred(rec.start_on_demand(7, "sue"))
        self.assertFalse(asked.called)
        await session.answer()  # the MixMonitor is on
        await starting
        status = await asked
        self.assertEqual(self.ami.sent, [("MixMonitorMute", "1"), ("MixMonitorMute", "0")])
        self.assertEqual((status["recording"], status["reason"]), (True, "on_demand"))
        self.assertEqual(self.db.audit.rows, [("sue", "recording.start", "call:7")])

    async def test_record_now_before_the_ring_starts_it_unmuted(self) -> None:
        rec = self.recorder()
        session = Session()
        live = await rec.call_queued(session, 7, Queue(False), "")  # type: ignore[arg-type]
        status = await rec.start_on_demand(7, "sue")
        self.assertEqual((status["recording"], status["started"]), (True, False))
        with self.assertRaises(ControlError) as cm:
            await rec.start_on_demand(7, "sue")
        self.assertEqual(cm.exception.status, 409)
        await rec.start_capture(session, live)  # type: ignore[arg-type]
        self.assertEqual((self.mixmonitors(session), self.ami.sent), (1, []))
        kinds = [k for _, k, _ in self.db.calls.events]
        self.assertEqual(kinds, ["recording_skipped", "recording_started"])

    async def test_a_pause_during_the_start_mutes_once_it_is_on(self) -> None:
        rec = self.recorder()
        session = Session(hold=True)
        live = await rec.call_queued(session, 7, Queue(True), "")  # type: ignore[arg-type]
        starting = defer.ensureDeferred(rec.start_capture(session, live))  # type: ignore[arg-type]
        pausing = defer.ensureDeferred(rec.pause(7, "alice"))
        self.assertEqual(self.ami.sent, [])
        await session.answer()
        await starting
        status = await pausing
        self.assertEqual((status["paused"], self.ami.sent), (True, [("MixMonitorMute", "1")]))

    async def test_a_paused_recording_the_switch_will_not_mute_is_stopped(self) -> None:
        """Paused while waiting and the switch refuses the mute at the start: nothing of
        the call may be written, so the capture is stopped and the call goes unrecorded."""
        rec = self.recorder(refuse=True)
        session = Session()
        live = await rec.call_queued(session, 7, Queue(True), "")  # type: ignore[arg-type]
        await rec.pause(7, "alice")
        await rec.start_capture(session, live)  # type: ignore[arg-type]
        self.assertEqual([app for app, _ in session.execs], ["MixMonitor", "StopMixMonitor"])
        status = rec.status(7)
        self.assertEqual(
            (status["recording"], status["paused"], status["skipped"]),
            (False, False, "mute_failed"),
        )
        with self.assertRaises(ControlError) as cm:
            await rec.start_on_demand(7, "sue")
        self.assertEqual(cm.exception.status, 409)
        self.assertIn("the switch refused to mute its capture", str(cm.exception))
        rec.finished(live)
        self.assertTrue(rec.pending)  # the legs' removal is under way
        await defer.DeferredList(list(rec.pending))

    async def test_a_session_lost_at_the_start_is_the_rings_to_handle(self) -> None:
        rec = self.recorder()
        session = Session(hold=True)
        live = await rec.call_queued(session, 7, Queue(True), "")  # type: ignore[arg-type]
        starting = defer.ensureDeferred(rec.start_capture(session, live))  # type: ignore[arg-type]
        (await session.asked()).errback(AGIConnectionLost("gone"))
        with self.assertRaises(AGIConnectionLost):
            await starting
        status = await rec.pause(7, "alice")  # the lock was let go
        self.assertTrue(status["paused"])

    async def test_without_the_manager_link_nothing_waits_for_a_standby(self) -> None:
        rec = self.recorder()
        rec.ami = None
        session = Session()
        live = await rec.call_queued(session, 7, Queue(False), "")  # type: ignore[arg-type]
        await rec.start_capture(session, live)  # type: ignore[arg-type]
        self.assertEqual(session.execs, [])
        with self.assertRaises(ControlError) as cm:
            await rec.start_on_demand(7, "sue")
        self.assertEqual(cm.exception.status, 409)
        self.assertIn("no link to the switch when it began", str(cm.exception))

    async def test_a_standby_the_switch_will_not_mute_is_stopped_and_record_now_says_so(
        self,
    ) -> None:
        rec = self.recorder(refuse=True)
        session = Session()
        live = await rec.call_queued(session, 7, Queue(False), "")  # type: ignore[arg-type]
        await rec.start_capture(session, live)  # type: ignore[arg-type]
        self.assertEqual([app for app, _ in session.execs], ["MixMonitor", "StopMixMonitor"])
        with self.assertRaises(ControlError) as cm:
            await rec.start_on_demand(7, "sue")
        self.assertEqual(cm.exception.status, 409)
        self.assertIn("the switch refused to mute its capture when it began", str(cm.exception))
        rec.finished(live)
        await defer.DeferredList(list(rec.pending))
