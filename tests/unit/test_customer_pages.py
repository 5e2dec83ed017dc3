"""The customer pages over real HTTP (webui/customer_pages.py): who may open what, the
profile and its timeline with hostile caller IDs escaped, the form's errors beside their
fields, custom field definitions, import with its bad rows, export with formula cells
escaped, duplicates merged, and erasure."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time
from typing import Any
from urllib.parse import urlencode

from appliance.cli import resolved
from appliance.crm.customer_store import CustomerStore
from appliance.db import model
from tests.support.appliance import RunningAppliance
from tests.support.http import Browser, Response
from tests.support.tmp import temp_dir
from tests.unit.test_web import WebTestCase
from tests.unit.test_web_ivr import multipart

HOSTILE = "<img src=x onerror=alert(1)>"
T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def seed(db: Any) -> None:
    """Customer 1 (Li Lei, 138 0013 8000) with a call from a hostile caller name, its note
    and recording; customer 2 (Han Meimei) who shares Li's e-mail (a duplicate)."""
    store = CustomerStore(db)
    li = resolved(store.create("admin", "Li Lei", ["13800138000"], email="li@example.com",
                               account="ACC-7"))  # fmt: skip
    resolved(store.create("admin", "Han Meimei", ["13900139000"], email="LI@example.com"))
    with db.engine.begin() as conn:
        call = conn.execute(
            model.calls.insert().values(
                uniqueid="u1",
                linkedid="u1",
                direction="inbound",
                caller_number="013800138000",
                caller_name=HOSTILE,
                started_at=T0,
            )
        ).inserted_primary_key[0]
        conn.execute(
            model.call_notes.insert().values(call_id=call, notes=f"said {HOSTILE}", created_at=T0)
        )
        conn.execute(
            model.recordings.insert().values(
                call_id=call,
                path="2026/12/01/u1.wav",
                started_at=T0,
                duration_ms=61_000,
                caller_number="013800138000",
            )
        )
        ticket = conn.execute(
            model.tickets.insert().values(
                number="T-1",
                type_key="fault",
                subject="No tone",
                state="dispatched",
                customer_id=li,
                created_at=T0,
                updated_at=T0,
            )
        ).inserted_primary_key[0]
    assert li == 1 and ticket == 1


class CustomerPagesCase(WebTestCase):
    async def _start(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed)
        self.addCleanup(self.app.stop)
        self.db = self.app.master.db

    async def form(self, b: Browser, page: str, action: str, form: dict[str, str]) -> Response:
        token = (await self.call(b.get, page)).csrf()
        r: Response = await self.call(b.post, action, {"_csrf": token, **form})
        return r

    async def follow(self, b: Browser, r: Response) -> Response:
        self.assertEqual(r.status, 303, r.body[:300])
        path = "/" + r.location.split("/", 3)[3] if "://" in r.location else r.location
        page: Response = await self.call(b.get, path)
        self.assertEqual(page.status, 200, (path, page.body[:300]))
        return page

    async def customer(self, customer_id: int) -> Any:
        return await CustomerStore(self.db).get(customer_id)


class AccessTests(CustomerPagesCase):
    async def test_each_role_reaches_only_its_pages(self) -> None:
        await self._start()
        anon = self.app.browser()
        r = await self.call(anon.get, "/customers/view?id=1")
        self.assertEqual(r.status, 303)
        self.assertIn("/login?next=/customers/view", r.location)
        # one page of each kind: reading, editing, merging and importing, admin's own
        reading = ("/customers/view?id=1",)
        editing = ("/customers/edit?id=1",)
        merging = ("/customers/duplicates", "/customers/transfer")
        admin_only = ("/customers/export?format=csv", "/customers/fields/", "/customers/erase?id=1")
        allowed = {
            "qa": reading,
            "agent": reading + editing,
            "sup": reading + editing + merging,
            "admin": reading + editing + merging + admin_only,
        }
        everything = reading + editing + merging + admin_only
        for name, pages in allowed.items():
            b = await self.app.logged_in(name)
            for path in everything:
                want = 200 if path in pages else 403
                self.assertEqual((await self.call(b.get, path)).status, want, (name, path))
            if name == "qa":
                qa = b
            elif name == "agent":
                agent = b
        r = await self.form(qa, "/customers", "/customers/create", {"name": "x"})
        self.assertEqual(r.status, 403)
        for action, form in (
            ("/customers/merge", {"survivor": "1", "duplicate": "2"}),
            ("/customers/erase", {"id": "1", "confirm": "1"}),
            ("/customers/fields/save", {"key": "x", "label": "X", "kind": "text"}),
        ):
            r = await self.form(agent, "/customers", action, form)
            self.assertEqual(r.status, 403, action)
        # and without the CSRF token nothing is created
        r = await self.call(agent.post, "/customers/create", {"name": "sneaky"})
        self.assertEqual(r.status, 403)
        self.assertIsNotNone(await self.customer(2))
        self.assertEqual(await CustomerStore(self.db).search("sneaky"), [])


class ProfileTests(CustomerPagesCase):
    async def test_profile_timeline_forms_and_fields(self) -> None:
        await self._start()
        admin = await self.app.logged_in("admin")
        # a custom field; a bad definition says why beside its input
        r = await self.form(admin, "/customers/fields/", "/customers/fields/save",
                            {"key": "Bad Key!", "label": "x", "kind": "text"})  # fmt: skip
        self.assertEqual(r.status, 400)
        self.assertRegex(r.body, r'class="error">[^<]*lower-case')
        page = await self.follow(admin, await self.form(
            admin, "/customers/fields/", "/customers/fields/save",
            {"key": "credit", "label": "Credit <b>", "kind": "number", "position": "1"},
        ))  # fmt: skip
        self.assertIn("Credit &lt;b&gt;", page.body)

        agent = await self.app.logged_in("agent")
        bad = {"name": HOSTILE, "numbers": "13700137000\ncall me", "email": "nope",
               "customer_class": "vip", "field.credit": "lots"}  # fmt: skip
        r = await self.form(agent, "/customers/new", "/customers/create", bad)
        self.assertEqual(r.status, 400)
        for field in ("numbers", "email", "field.credit"):
            self.assertIn(f'id="error-{field}"', r.body, field)
        self.assertNotIn('id="error-name"', r.body)
        self.assertIn('value="&lt;img src=x onerror=alert(1)&gt;"', r.body)  # kept, escaped
        self.assertEqual(await CustomerStore(self.db).search("13700137000"), [])
        good = {**bad, "numbers": "13700137000\n+86 010 1234 5678", "email": "a@b.cn",
                "field.credit": "12.50"}  # fmt: skip
        page = await self.follow(agent, await self.form(agent, "/customers/new",
                                                        "/customers/create", good))  # fmt: skip
        self.assertIn("<h1>&lt;img src=x onerror=alert(1)&gt;", page.body)
        self.assertIn("01012345678", page.body)
        self.assertIn("12.5", page.body)
        self.assertNotIn("<img", page.body)

        # Li's profile: the call with its hostile caller name, escaped, and its links
        page = (await self.call(agent.get, "/customers/view?id=1")).body
        self.assertIn("Call from 013800138000", page)
        self.assertIn("said &lt;img src=x onerror=alert(1)&gt;", page)
        self.assertNotIn("<img", page)
        call_link = re.search(r'href="(/customers/call\?id=\d+)"', page)
        rec_link = re.search(r'href="/recordings/view\?id=(\d+)"', page)
        assert call_link is not None and rec_link is not None
        # a ticket opens the ticket, its state in words
        self.assertIn('href="/tickets/view?id=1"', page)
        self.assertRegex(page, r'<span class="chip">Dispatched</span>')
        call_page = (await self.call(agent.get, call_link.group(1))).body
        self.assertIn("&lt;img src=x onerror=alert(1)&gt;", call_page)
        self.assertIn(f'href="/recordings/view?id={rec_link.group(1)}"', call_page)
        self.assertNotIn("<img", call_page)

        # found by any form of a number, by account, by name
        for q in ("+86 138-0013-8000", "ACC-7", "Li Lei"):
            r = await self.call(agent.get, "/customers?" + urlencode({"q": q}))
            self.assertIn('data-customer="1"', r.body, q)
            self.assertNotIn('data-customer="2"', r.body, q)

        # edit: the class changes, the numbers stay
        page = await self.follow(agent, await self.form(
            agent, "/customers/edit?id=1", "/customers/save",
            {"id": "1", "name": "Li Lei", "numbers": "13800138000", "customer_class": "vip",
             "email": "li@example.com", "account": "ACC-7", "note": ""},
        ))  # fmt: skip
        self.assertIn("VIP", page.body)
        li = await self.customer(1)
        self.assertEqual((li.customer_class, li.numbers), ("vip", ("13800138000",)))


class TransferTests(CustomerPagesCase):
    async def upload(self, b: Browser, name: str, data: bytes) -> Response:
        token = (await self.call(b.get, "/customers/transfer")).csrf()
        body, ctype = multipart({"_csrf": token}, name, data)
        r: Response = await self.call(b.request, "POST", "/customers/upload", body,
                                      {"Content-Type": ctype})  # fmt: skip
        return r

    async def test_import_export_merge_and_erase(self) -> None:
        await self._start()
        sup = await self.app.logged_in("sup")
        data = (
            b"name,numbers,email,note\n"
            b'Wang Wu,13600136000,,=HYPERLINK("http://evil")\n'
            b"Bad,call me maybe,,\n"
        )
        r = await self.upload(sup, f"{HOSTILE}.csv", data)
        self.assertEqual(r.status, 303, r.body[:300])
        token = re.search(r"job=([A-Za-z0-9_-]+)", r.location)
        assert token is not None
        deadline = time.monotonic() + 20
        while True:
            p = (await self.call(sup.get, f"/customers/progress?job={token.group(1)}")).json()
            if p["done"] or time.monotonic() > deadline:
                break
            await self.call(time.sleep, 0.05)
        self.assertEqual((p["state"], p["rows_ok"], p["rows_bad"]), ("done", 1, 1))
        page = (await self.call(sup.get, f"/customers/transfer?job={token.group(1)}")).body
        self.assertRegex(page, r"<td>3</td><td>[^<]*letters")
        self.assertIn("&lt;img src=x onerror=alert(1)&gt;.csv", page)
        self.assertNotIn("<img", page)
        wang = (await CustomerStore(self.db).search("13600136000"))[0]

        # the two who share an e-mail are a pair; merging keeps the first
        page = (await self.call(sup.get, "/customers/duplicates")).body
        self.assertIn("Li Lei", page)
        self.assertIn("Han Meimei", page)
        await self.follow(sup, await self.form(sup, "/customers/duplicates", "/customers/merge",
                                               {"survivor": "1", "duplicate": "2"}))  # fmt: skip
        li = await self.customer(1)
        self.assertEqual(set(li.numbers), {"13800138000", "13900139000"})
        self.assertEqual((await self.customer(2)).id, 1)  # the duplicate leads to Li

        # the export: formula cells escaped, the numbers as they are
        admin = await self.app.logged_in("admin")
        r = await self.call(admin.get, "/customers/export?format=csv")
        self.assertEqual(r.status, 200)
        self.assertIn("attachment", r.headers["Content-Disposition"])
        rows = {row[0]: row for row in csv.reader(io.StringIO(r.raw.decode("utf-8-sig")))}
        self.assertEqual(rows["Wang Wu"][5], '\'=HYPERLINK("http://evil")')
        self.assertEqual(rows["Li Lei"][1], "13800138000; 13900139000")
        self.assertNotIn("Han Meimei", rows)
        xlsx = await self.call(admin.get, "/customers/export?format=xlsx")
        self.assertTrue(xlsx.raw.startswith(b"PK"))
        self.assertEqual((await self.call(admin.get, "/customers/export?format=pdf")).status, 400)

        # erasure: what goes is shown; nothing without the box ticked; then it is gone
        page = (await self.call(admin.get, f"/customers/erase?id={wang.id}")).body
        self.assertIn("Wang Wu", page)
        r = await self.form(admin, "/customers", "/customers/erase", {"id": str(wang.id)})
        self.assertIsNotNone(await self.customer(wang.id))
        page = (await self.call(admin.get, "/customers/erase?id=1")).body
        self.assertRegex(page, r'class="erase-count"><th>Call</th><td>1</td>')
        self.assertRegex(page, r'class="erase-count"><th>Recording</th><td>1</td>')
        await self.follow(admin, await self.form(admin, "/customers", "/customers/erase",
                                                 {"id": "1", "confirm": "1"}))  # fmt: skip
        self.assertIsNone(await self.customer(1))
        self.assertEqual((await self.call(admin.get, "/customers/view?id=1")).status, 404)
        self.assertEqual(await CustomerStore(self.db).search("13800138000"), [])
