"""The IVR's customer lookup against the daemon's real connector (its thread pool, the
reactor's thread hop): a burst of lookups while the database is stuck never piles up in the
pool ahead of the calls' writes."""

from __future__ import annotations

import datetime as dt
import threading

from twisted.internet import reactor, task
from twisted.trial import unittest

from appliance.crm.customer_store import LOOKUPS_MAX, CustomerStore
from appliance.db.connector import DBConnector
from ivr.caller_customer import LOOKUP_TIMEOUT_S
from tests.support.inline_db import migrated_sqlite
from tests.support.tmp import temp_dir


class LookupBoundTests(unittest.TestCase):
    async def test_a_burst_of_slow_lookups_is_bounded_and_call_writes_get_through(self) -> None:
        db = DBConnector(reactor, migrated_sqlite(temp_dir(self) / "c.sqlite"))
        await db.startService()
        gate = threading.Event()
        try:
            store = CustomerStore(db)
            await store.create("x", "Li", ["13800138000"], "vip")
            stuck = db.run(lambda conn: gate.wait(10))  # the database's one thread, held
            clock = task.Clock()  # the lookups' timeouts, driven
            burst = [
                store.by_number_within(clock, "13800138000", LOOKUP_TIMEOUT_S) for _ in range(50)
            ]
            waiting = [d for d in burst if not d.called]
            self.assertEqual(len(waiting), LOOKUPS_MAX)
            self.assertEqual([d.result for d in burst if d.called], [None] * (50 - LOOKUPS_MAX))
            clock.advance(LOOKUP_TIMEOUT_S)  # too slow: the callers go on without
            for d in waiting:
                self.assertIsNone(self.successResultOf(d))
            # the late lookups still hold their places: a second burst adds nothing
            again = [store.by_number_within(clock, "13800138000", 1.0) for _ in range(20)]
            self.assertTrue(all(d.called for d in again))
            at = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
            write = db.calls.start("u1", "u1", "inbound", at, "13800138000", "Li")
            # the held operation, the bounded lookups and the write: nothing else queued
            self.assertEqual(len(db._in_flight), 1 + LOOKUPS_MAX + 1)
            gate.set()
            await stuck
            self.assertIsInstance(await write, int)
            while store.lookups:  # the late answers come back through the reactor
                await task.deferLater(reactor, 0.01, lambda: None)
            found = await store.by_number_within(reactor, "+86 138 0013 8000", 5.0)
            self.assertIsNotNone(found)
            self.assertEqual(found.customer_class if found else "", "vip")
        finally:
            gate.set()
            await db.stopService()
