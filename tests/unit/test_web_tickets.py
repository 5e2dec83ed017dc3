"""The ticket pages over real HTTP: created by hand, from a call and from a voicemail; the
moves offered follow the transition table; an agent cannot dispatch; hostile comment HTML
comes out clean; an attachment is checked by its content and downloaded as an attachment;
the supervisors' board lists overdue tickets first; types and SLA rules by the admin."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any
from unittest import mock

from appliance.cli import resolved
from appliance.crm.customer_store import CustomerStore
from appliance.crm.tickets import sla, transitions
from appliance.crm.tickets.store import TicketStore
from appliance.db import model, upload_quota
from appliance.rich_text import clean_html
from appliance.uploads import UploadStore
from tests.support.appliance import RunningAppliance
from tests.support.http import Browser, Response
from tests.support.tmp import temp_dir
from tests.unit.test_web import WebTestCase
from tests.unit.test_web_ivr import multipart
from webui import ticket_labels, ticket_pages
from webui.ticket_files import upload_root

CALLER = "13800138000"
HOSTILE = "<img src=x onerror=alert(1)>"
MOVE_BUTTON = re.compile(r'<button type="submit" name="to" value="([a-z_]+)"')
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)
COMMENT = (
    "<p>Customer says <b>hi</b> <a href='https://example.com/x'>docs</a></p>"
    "<script>alert(1)</script><img src=x onerror=alert(2)>"
    "<a href='javascript:alert(3)'>js</a><a href='JaVaScRiPt&#58;alert(4)'>js2</a>"
    "<svg onload=alert(5)><circle r=9></circle></svg>"
    "<p style='background:url(javascript:alert(6))' onclick='alert(7)'>styled</p>"
    "<style>body{display:none}</style>"
)


def seed(db: Any) -> None:
    agent_user = resolved(db.users.login_record("agent")).user.id
    a = resolved(db.agents.add("1001", "Agent 1001", "sales", "PJSIP/1001"))
    resolved(db.agents.link_user(a.id, agent_user))
    resolved(db.agents.add("1002", "Agent 1002", "sales", "PJSIP/1002"))
    q = resolved(db.queues.add("support", "Support"))
    resolved(db.agents.set_member(q.id, a.id))
    resolved(CustomerStore(db).create("seed", "Wang Fang", [CALLER]))
    resolved(db.calls.start("c-1", "c-1", "inbound", dt.datetime.now(dt.UTC), CALLER, "", "4000"))
    resolved(db.voicemail.add("8000", "8000/msg1.wav", 4000, CALLER, "Wang"))


def moves(page: Response) -> set[str]:
    return set(MOVE_BUTTON.findall(page.body))


class TicketPagesCase(WebTestCase):
    async def _start(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed)
        self.addCleanup(self.app.stop)
        self.db = self.app.master.db
        self.store = TicketStore(self.db)

    async def post(self, b: Browser, path: str, form: dict[str, str]) -> Response:
        """POST with the page's CSRF token; follow the 303 and return where it went."""
        token = (await self.call(b.get, "/tickets")).csrf()
        r = await self.call(b.post, path, {"_csrf": token, **form})
        self.assertEqual(r.status, 303, (path, r.status, r.body[:300]))
        target = "/" + r.location.split("/", 3)[3]
        page: Response = await self.call(b.get, target)
        self.assertEqual(page.status, 200, (target, page.body[:300]))
        return page

    async def ticket_of(self, page: Response) -> Any:
        found = re.search(r'name="id" value="([0-9]+)"', page.body)
        assert found, page.body[:500]
        return await self.store.get(int(found.group(1)))

    async def from_a_call_and_from_a_voicemail_with_the_customer_found(
        self, sup: Browser, agent: Browser
    ) -> None:
        call_id = 1
        page = await self.call(sup.get, f"/tickets/new?call_id={call_id}")
        self.assertEqual(page.status, 200, page.body[:300])
        self.assertIn(f"Call from {CALLER}", page.body)
        self.assertIn("Wang Fang", page.body)
        # an agent may not open a ticket from a call that is not its own
        self.assertEqual(
            (await self.call(agent.get, f"/tickets/new?call_id={call_id}")).status, 404
        )
        customer = re.search(r'name="customer_id" value="([0-9]+)"', page.body)
        assert customer
        view = await self.post(
            sup,
            "/tickets/create",
            {
                "type": "inquiry",
                "call_id": str(call_id),
                "customer_id": customer.group(1),
                "subject": "asked",
                "priority": "normal",
            },
        )
        ticket = await self.ticket_of(view)
        self.assertEqual(
            (ticket.source, ticket.call_id, ticket.customer_id),
            ("phone", call_id, int(customer.group(1))),
        )

        vm = await self.call(sup.get, "/voicemail")
        self.assertIn('action="/tickets/new"', vm.body)
        page = await self.call(sup.get, "/tickets/new?voicemail_id=1")
        self.assertIn(f"Voicemail from {CALLER}", page.body)
        view = await self.post(
            sup,
            "/tickets/create",
            {
                "type": "complaint",
                "voicemail_id": "1",
                "customer_id": customer.group(1),
                "subject": "voicemail",
                "priority": "urgent",
            },
        )
        ticket = await self.ticket_of(view)
        self.assertEqual((ticket.source, ticket.voicemail_id), ("voicemail", 1))


class TicketWorkTests(TicketPagesCase):
    async def test_an_agent_opens_works_and_attaches_to_a_ticket_and_cannot_dispatch(self) -> None:
        await self._start()
        agent = await self.app.logged_in("agent")
        sup = await self.app.logged_in("sup")
        # the customer picker finds by number or name
        picker = await self.call(agent.get, "/tickets/new?customer_q=Wang")
        self.assertIn("Wang Fang", picker.body)
        customer_id = re.search(r"customer_id=([0-9]+)", picker.body)
        assert customer_id
        page = await self.post(
            agent,
            "/tickets/create",
            {
                "type": "complaint",
                "customer_id": customer_id.group(1),
                "subject": HOSTILE,
                "priority": "high",
                "body": "line one\n<b>not bold</b>",
            },
        )
        ticket = await self.ticket_of(page)
        self.assertEqual(
            (ticket.state, ticket.source, ticket.created_by), ("new", "manual", "agent")
        )
        self.assertNotIn(HOSTILE, page.body)
        self.assertIn("&lt;img src=x onerror=alert(1)&gt;", page.body)
        self.assertIn("&lt;b&gt;not bold&lt;/b&gt;", page.body)
        self.assertIn("Wang Fang", page.body)
        self.assertEqual(moves(page), {"accepted"})  # new and nobody's: the pool may accept
        view = f"/tickets/view?id={ticket.id}"

        # an agent cannot dispatch: not by the assignment form (403), not by a move (refused)
        token = page.csrf()
        r = await self.call(
            agent.post,
            "/tickets/assign",
            {"_csrf": token, "id": str(ticket.id), "to": "agent:1002"},
        )
        self.assertEqual(r.status, 403)
        refused = await self.post(
            agent, "/tickets/move", {"id": str(ticket.id), "to": "dispatched"}
        )
        self.assertIn("only a supervisor or an admin may do that", refused.body)
        self.assertEqual((await self.store.get(ticket.id)).state, "new")

        # the supervisor dispatches from the board to agent 1002: not agent 1001's any more
        board = await self.call(sup.get, "/tickets/board")
        self.assertIn(ticket.number, board.body)
        self.assertIn(f'value="{ticket.id}"', board.body)
        await self.post(
            sup, "/tickets/assign", {"id": str(ticket.id), "to": "agent:1002", "next": "board"}
        )
        moved = await self.store.get(ticket.id)
        self.assertEqual(
            (moved.state, moved.assignee_kind, moved.assignee), ("dispatched", "agent", "1002")
        )
        others = await self.call(agent.get, view)
        self.assertEqual(moves(others), set())
        self.assertNotIn('action="/tickets/edit"', others.body)  # not its ticket: read only
        refused = await self.post(agent, "/tickets/move", {"id": str(ticket.id), "to": "accepted"})
        self.assertIn("this ticket is not yours", refused.body)
        # ... then to agent 1001: its buttons follow the table at each step
        await self.post(sup, "/tickets/assign", {"id": str(ticket.id), "to": "agent:1001"})
        for to, then in (("accepted", {"in_progress"}), ("in_progress", {"replied"})):
            self.assertIn(to, moves(await self.call(agent.get, view)))
            page = await self.post(
                agent, "/tickets/move", {"id": str(ticket.id), "to": to, "note": "ok"}
            )
            self.assertEqual(moves(page), then, to)
            self.assertEqual((await self.store.get(ticket.id)).state, to)
        # every move the page offers is one the table allows, for each role
        current = await self.store.get(ticket.id)
        sup_page = await self.call(sup.get, view)
        for to in moves(sup_page):
            self.assertIn((current.state, to), transitions.TRANSITIONS)
        self.assertIn('<option value="agent:1001" selected>', sup_page.body)  # the pickers

        # an SMS reply is kept until the modem can send it: never shown as sent
        page = await self.post(
            agent,
            "/tickets/reply",
            {"id": str(ticket.id), "channel": "sms", "to": CALLER, "body": "Fixed"},
        )
        self.assertIn("SMS saved, waiting for the modem", page.body)
        replies = page.body.split("<h2>Replies to the customer</h2>", 1)[1].split("</table>", 1)[0]
        self.assertIn(f"<td>{CALLER}</td>", replies)
        self.assertIn("Waiting for the modem", replies)
        self.assertNotIn("Sent", replies)
        self.assertEqual((await self.store.get(ticket.id)).state, "in_progress")

        # the agent whose ticket it is edits what it says
        self.assertIn('action="/tickets/edit"', page.body)
        edited = {"id": str(ticket.id), "subject": "Broken router", "body": "resets hourly"}
        page = await self.post(agent, "/tickets/edit", {**edited, "customer_number": "999"})
        self.assertIn("No customer has the number 999.", page.body)
        page = await self.post(
            agent, "/tickets/edit", {**edited, "customer_number": "+86 138-0013-8000"}
        )
        self.assertIn("Ticket saved.", page.body)
        saved = await self.store.get(ticket.id)
        self.assertEqual((saved.subject, saved.customer_id), ("Broken router", ticket.customer_id))

        # hostile comment HTML comes out clean; the history says who did what
        page = await self.post(agent, "/tickets/comment", {"id": str(ticket.id), "html": COMMENT})
        body = page.body.split("<h2>Comments</h2>", 1)[1].split("<h2>Attachments</h2>", 1)[0]
        for bad in (
            "<script",
            "onerror",
            "javascript:",
            "JaVaScRiPt",
            "<svg",
            "onload",
            "style=",
            "onclick",
            "<style",
            "alert(5)",
        ):
            self.assertNotIn(bad, body, bad)
        self.assertIn("<b>hi</b>", body)
        self.assertIn('href="https://example.com/x"', body)
        self.assertIn("styled", body)
        stored = await self.store.comments(ticket.id)
        self.assertEqual(clean_html(stored[0].html), stored[0].html)
        history = page.body.split("<h2>History</h2>", 1)[1]
        await self.attachments_are_checked_by_content_and_downloaded_as_attachments(agent)
        for who, what in (
            ("agent", "Created"),
            ("sup", "Assigned"),
            ("agent", "State changed"),
            ("agent", "Comment added"),
        ):
            self.assertRegex(history, rf"<td>{who}</td><td>{what}</td>")

    async def attachments_are_checked_by_content_and_downloaded_as_attachments(
        self, agent: Browser
    ) -> None:
        ticket_id = await self.store.create("agent", type_key="fault", subject="broken")
        page = await self.call(agent.get, f"/tickets/view?id={ticket_id}")
        token = page.csrf()
        for name, data, refusal in (
            (
                "photo.png",
                b"<html><script>alert(1)</script></html>",
                "HTML, SVG and XML files are not accepted",
            ),
            (
                "pic.png",
                b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
                "HTML, SVG and XML files are not accepted",
            ),
            (
                "run.pdf",
                b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff",
                "this kind of file is not accepted",
            ),
        ):
            body, ctype = multipart({"_csrf": token, "id": str(ticket_id)}, name, data)
            r = await self.call(
                agent.request, "POST", "/tickets/attach", body, {"Content-Type": ctype}
            )
            self.assertEqual(r.status, 303, r.body[:300])
            shown = await self.call(agent.get, f"/tickets/view?id={ticket_id}")
            self.assertIn(refusal, shown.body, name)
        self.assertEqual(await self.store.attachments(ticket_id), [])

        body, ctype = multipart({"_csrf": token, "id": str(ticket_id)}, "报告;x.html", PNG)
        r = await self.call(agent.request, "POST", "/tickets/attach", body, {"Content-Type": ctype})
        self.assertEqual(r.status, 303)
        [stored] = await self.store.attachments(ticket_id)
        self.assertEqual((stored.mime, stored.filename), ("image/png", "报告;x.html.png"))
        page = await self.call(agent.get, f"/tickets/view?id={ticket_id}")
        self.assertIn(f'href="/tickets/attachments/{stored.id}"', page.body)
        r = await self.call(agent.get, f"/tickets/attachments/{stored.id}")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.raw, PNG)
        self.assertEqual(r.headers["Content-Type"], "image/png")
        self.assertEqual(r.headers["X-Content-Type-Options"], "nosniff")
        self.assertEqual(
            r.headers["Content-Disposition"],
            'attachment; filename="___x.html.png"; '
            "filename*=UTF-8''%E6%8A%A5%E5%91%8A%3Bx.html.png",
        )
        for missing in ("999", "../../etc/passwd", "1x", "%2e%2e%2f"):
            r = await self.call(agent.get, f"/tickets/attachments/{missing}")
            self.assertEqual(r.status, 404, missing)
        # past the agent's hour of uploads: said, and the file never reaches the disk
        late = PNG + b"late"
        body, ctype = multipart({"_csrf": token, "id": str(ticket_id)}, "late.png", late)
        with mock.patch.object(upload_quota, "MAX_FILES", 1):
            r = await self.call(
                agent.request, "POST", "/tickets/attach", body, {"Content-Type": ctype}
            )
        self.assertEqual(r.status, 303)
        shown = await self.call(agent.get, f"/tickets/view?id={ticket_id}")
        self.assertIn("uploaded 1 files", shown.body)
        self.assertEqual(len(await self.store.attachments(ticket_id)), 1)
        files = UploadStore(upload_root(self.app.master.config))
        self.assertIsNone(files.path(hashlib.sha256(late).hexdigest()))


class BoardAndAdminTests(TicketPagesCase):
    async def test_board_overdue_first_admin_types_and_rules_and_tickets_from_calls_and_voicemail(
        self,
    ) -> None:
        await self._start()
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=4)
        old = TicketStore(self.db, clock=lambda: long_ago)
        fresh_id = await self.store.create(
            "sup", type_key="inquiry", subject="fresh one", priority="urgent"
        )
        late_id = await old.create("sup", type_key="inquiry", subject="late one", priority="low")
        fresh, late = await self.store.get(fresh_id), await self.store.get(late_id)
        assert fresh.due_at is not None and late.due_at is not None
        self.assertLess(late.due_at, dt.datetime.now(dt.UTC))
        self.assertLess(dt.datetime.now(dt.UTC), fresh.due_at)
        sup = await self.app.logged_in("sup")
        board = await self.call(sup.get, "/tickets/board")
        self.assertEqual(board.status, 200)
        self.assertLess(board.body.index(late.number), board.body.index(fresh.number))
        self.assertRegex(board.body, r'<span class="num">1</span><span class="label">Overdue')
        self.assertIn("overdue by 1 d 0 h", board.body)
        only = await self.call(sup.get, "/tickets/board?overdue=1")
        self.assertIn(late.number, only.body)
        self.assertNotIn(fresh.number, only.body)
        by_priority = await self.call(sup.get, "/tickets/board?priority=urgent")
        self.assertIn(fresh.number, by_priority.body)
        self.assertNotIn(late.number, by_priority.body)
        agent = await self.app.logged_in("agent")
        for path in ("/tickets/board", "/tickets/types", "/tickets/sla"):
            self.assertEqual((await self.call(agent.get, path)).status, 403, path)
        mine = await self.call(agent.get, "/tickets")
        self.assertIn(late.number, mine.body)  # nobody's yet: the agent's pool
        # "open" is in the query: closed tickets due sooner take none of the list's places
        t = model.tickets
        await self.db.run(
            lambda conn: conn.execute(t.update().where(t.c.id == late_id).values(state="closed"))
        )
        with mock.patch.object(ticket_pages, "LIST_MAX", 1):
            open_list = await self.call(sup.get, "/tickets")
        self.assertIn(fresh.number, open_list.body)
        self.assertNotIn(late.number, open_list.body)

        # an admin's own type with a required field; a ticket without it is refused
        admin = await self.app.logged_in("admin")
        form = {
            "key": "warranty",
            "name": "Warranty claim",
            "active": "1",
            "fd_0_key": "serial",
            "fd_0_label": "Serial number",
            "fd_0_kind": "text",
            "fd_0_required": "1",
            "fd_1_key": "model",
            "fd_1_label": "Model",
            "fd_1_kind": "choice",
            "fd_1_choices": "A1\nB2",
        }
        page = await self.post(admin, "/tickets/types/save", form)
        self.assertIn("Type Warranty claim saved.", page.body)
        new = await self.call(agent.get, "/tickets/new?type=warranty")
        self.assertIn('name="f_serial"', new.body)
        self.assertIn('<option value="B2"', new.body)
        token = new.csrf()
        r = await self.call(
            agent.post,
            "/tickets/create",
            {
                "_csrf": token,
                "type": "warranty",
                "subject": "x",
                "priority": "normal",
                "f_model": "C3",
            },
        )
        self.assertEqual(r.status, 400)
        self.assertIn('class="error"', r.body)
        r = await self.call(
            agent.post,
            "/tickets/create",
            {
                "_csrf": token,
                "type": "warranty",
                "subject": "x",
                "priority": "normal",
                "f_serial": "S-1",
                "f_model": "B2",
            },
        )
        self.assertEqual(r.status, 303, r.body[:500])

        # an SLA rule with an escalation step
        rule = {
            "type": "warranty",
            "priority": "high",
            "respond": "10",
            "resolve": "60",
            "s_0_after": "5",
            "s_0_action": "reassign",
            "s_0_to": "queue:support",
            "s_1_after": "30",
            "s_1_action": "notify",
        }
        page = await self.post(admin, "/tickets/sla/save", rule)
        self.assertIn("SLA rule saved.", page.body)
        rules = await self.store_rules()
        warranty = [r for r in rules if (r.type_key, r.priority) == ("warranty", "high")]
        self.assertEqual(
            warranty[0].steps,
            (
                sla.EscalationStep(5, "reassign", "queue", "support"),
                sla.EscalationStep(30, "notify"),
            ),
        )
        bad = await self.post(admin, "/tickets/sla/save", {**rule, "respond": "90"})
        self.assertIn("the resolve time cannot be shorter than the respond time", bad.body)

        # hostile or broken requests: a clear 400/404 or a message, never a 500
        sup_token = board.csrf()
        for path in (
            "/tickets/view?id=abc",
            "/tickets/view?id=1&id=2",
            "/tickets/view?id=99999",
            "/tickets/new?call_id=-1",
            "/tickets/new?voicemail_id=1e9",
            "/tickets/new?call_id=424242",
            "/tickets/board?state=x&state=y",
            "/tickets/board?state=%27%3B%20DROP%20TABLE%20tickets%3B--&assignee=agent%3A%27",
            "/tickets/types?key=" + "k" * 40,
            "/tickets/attachments/1/../../etc/passwd",
        ):
            r = await self.call(admin.get, path)
            self.assertIn(r.status, (200, 400, 404), (path, r.body[:300]))
        for form in (
            {"id": str(fresh_id), "to": "nowhere"},
            {"id": str(fresh_id), "to": "agent:" + "9" * 90},
            {"id": "x", "to": "accepted"},
        ):
            r = await self.call(sup.post, "/tickets/assign", {"_csrf": sup_token, **form})
            self.assertIn(r.status, (303, 400), (form, r.body[:300]))
        r = await self.call(
            sup.post, "/tickets/move", [("_csrf", sup_token), ("id", "1"), ("to", "a"), ("to", "b")]
        )
        self.assertEqual(r.status, 400)

        await self.from_a_call_and_from_a_voicemail_with_the_customer_found(
            await self.app.logged_in("sup"), agent
        )

    async def store_rules(self) -> list[sla.SlaRule]:
        from appliance.crm.tickets.catalog import TicketCatalog

        return await TicketCatalog(self.db).rules()


def test_every_ticket_label_table_names_exactly_its_owners_codes() -> None:
    owners = {
        "ticket_state": model.TICKET_STATES,
        "ticket_priority": model.TICKET_PRIORITIES,
        "ticket_source": model.TICKET_SOURCES,
        "assignee_kind": model.ASSIGNEE_KINDS,
        "escalation_action": sla.ACTIONS,
        "reply_channel": model.CRM_CHANNELS,
        "message_state": model.CRM_MESSAGE_STATES,
    }
    for table, codes in owners.items():
        assert tuple(ticket_labels.TABLES[table]) == codes, table
