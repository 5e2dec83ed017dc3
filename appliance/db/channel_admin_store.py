"""What the admin's Channels page reads and changes: chat topics, the widget's allowed
origins, canned replies, e-mail accounts and their routes; and a queue's medium and an
agent's conversation capacity (the queue and agent forms).

Values arrive checked for form by the web layer (webui/admin_channels.py); what needs the
database is checked here, inside the transaction that makes the change: a topic or a
chat canned reply points at a queue of media ``chat``, an e-mail account or route at one of
media ``email``; a queue changes medium only when nothing of the old medium still uses it.
The e-mail passwords are write-only: rows read back say only whether one is set.
Every method returns a Deferred.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer

from appliance.db import model
from appliance.db.admin_store import AdminError
from appliance.db.components import DuplicateError, _Component, _insert
from appliance.text import N_

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
MAX_ORIGIN = 200


def normalize_origin(raw: str) -> str:
    """An allowed origin as a browser sends it in ``Origin``: ``scheme://host[:port]``,
    scheme http or https, the host lower-cased (an international name in its ``xn--``
    form), the port only when it is not the scheme's default. No user, path (a lone
    trailing "/" is dropped), query or fragment. ValueError (a msgid) when it is not one.
    The widget's endpoint compares origins exactly, so both sides use this form."""
    text = raw.strip()
    if not text or len(text) > MAX_ORIGIN or any(ord(c) < 33 or ord(c) == 127 for c in text):
        raise ValueError(N_("an origin is scheme://host[:port], e.g. https://www.example.com"))
    m = re.fullmatch(r"(?i)(https?)://([^/?#@]+)/?", text)
    if m is None:
        raise ValueError(
            N_("an origin is scheme://host[:port] without a path, e.g. https://www.example.com")
        )
    scheme = m.group(1).lower()
    hostport = m.group(2)
    port: int | None = None
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise ValueError(N_("the origin's host is not valid"))
        host_part, rest = hostport[1:end], hostport[end + 1 :]
        try:
            host = f"[{ipaddress.IPv6Address(host_part).compressed}]"
        except ValueError:
            raise ValueError(N_("the origin's host is not valid")) from None
        if rest and not rest.startswith(":"):
            raise ValueError(N_("the origin's host is not valid"))
        port_text = rest[1:] if rest else None
    else:
        host_part, _, port_text_raw = hostport.partition(":")
        port_text = port_text_raw if ":" in hostport else None
        host = _host_name(host_part)
    if port_text is not None:
        if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(N_("the origin's port is a number from 1 to 65535"))
        port = int(port_text)
    if port == {"http": 80, "https": 443}[scheme]:
        port = None
    return f"{scheme}://{host}" + (f":{port}" if port is not None else "")


def _host_name(raw: str) -> str:
    try:
        return str(ipaddress.IPv4Address(raw))
    except ValueError:
        pass
    try:
        name = raw.lower().rstrip(".").encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(N_("the origin's host is not valid")) from None
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_LABEL.fullmatch(x) for x in labels):
        raise ValueError(N_("the origin's host is not valid"))
    return name


@dataclass(frozen=True)
class TopicRow:
    id: int
    name: str
    label_zh: str
    label_en: str
    queue_id: int | None
    queue_name: str
    position: int
    enabled: bool


@dataclass(frozen=True)
class OriginRow:
    id: int
    origin: str


@dataclass(frozen=True)
class CannedRow:
    id: int
    title: str
    body: str
    topic_id: int | None
    queue_id: int | None
    language: str
    position: int


@dataclass(frozen=True)
class AccountRow:
    """An e-mail account as the page shows it: the passwords only as "set or not"."""

    id: int
    name: str
    address: str
    display_name: str
    imap_host: str
    imap_port: int
    imap_security: str
    imap_user: str
    imap_password_set: bool
    imap_folder: str
    smtp_host: str
    smtp_port: int
    smtp_security: str
    smtp_user: str
    smtp_password_set: bool
    queue_id: int | None
    auto_reply: bool
    auto_reply_body: str
    make_tickets: bool
    sla_minutes: int
    enabled: bool
    last_error: str


@dataclass(frozen=True)
class RouteRow:
    id: int
    account_id: int | None
    kind: str
    pattern: str
    queue_id: int
    position: int


# The account columns the form edits (the passwords apart: write-only).
ACCOUNT_COLUMNS = (
    "name",
    "address",
    "display_name",
    "imap_host",
    "imap_port",
    "imap_security",
    "imap_user",
    "imap_folder",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "smtp_user",
    "queue_id",
    "auto_reply",
    "auto_reply_body",
    "make_tickets",
    "sla_minutes",
    "enabled",
)
TOPIC_COLUMNS = ("name", "label_zh", "label_en", "queue_id", "position", "enabled")
CANNED_COLUMNS = ("title", "body", "topic_id", "queue_id", "language", "position")
ROUTE_COLUMNS = ("account_id", "kind", "pattern", "queue_id", "position")
# What a queue takes, as a refusal names it.
MEDIA_NAMES = {"call": N_("calls"), "chat": N_("chats"), "email": N_("e-mails")}
# Conversations in these states still hold their queue.
LIVE_STATES = ("waiting", "offered", "active", "wrap_up")


def _queue_of_media(conn: Connection, queue_id: int | None, media: str) -> None:
    if queue_id is None:
        return
    q = model.queues
    row = conn.execute(sa.select(q.c.name, q.c.media).where(q.c.id == queue_id)).one_or_none()
    if row is None:
        raise AdminError(N_("no queue {queue_id}", queue_id=queue_id))
    if row.media != media:
        raise AdminError(
            N_(
                "the queue {name} takes {has}, not {media}",
                name=row.name,
                has=MEDIA_NAMES.get(row.media, row.media),
                media=MEDIA_NAMES.get(media, media),
            )
        )


def _need(conn: Connection, table: sa.Table, row_id: int, what: str) -> None:
    if conn.execute(sa.select(table.c.id).where(table.c.id == row_id)).first() is None:
        raise AdminError(N_("no {what} {row_id}", what=what, row_id=row_id))


def _unknown(values: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = set(values) - set(allowed)
    if unknown:
        raise AdminError(N_("unknown settings: {items}", items=", ".join(sorted(unknown))))


def _flow_queues(graph_text: str) -> set[str]:
    """The queue names (or ids) a flow's graph hands callers to."""
    try:
        graph = json.loads(graph_text or "{}")
    except ValueError:
        return set()
    nodes = graph.get("nodes", []) if isinstance(graph, dict) else []
    out = set()
    for node in nodes if isinstance(nodes, list) else []:
        if isinstance(node, dict) and node.get("type") == "queue":
            props = node.get("props")
            if isinstance(props, dict) and props.get("queue") is not None:
                out.add(str(props["queue"]))
    return out


def _media_users(conn: Connection, queue_id: int, name: str, old: str) -> list[str]:
    """What still needs the queue to keep medium ``old`` (msgids for the message)."""
    found: list[str] = []
    if old == "call":
        f, v = model.ivr_flows, model.ivr_flow_versions
        flows = conn.execute(sa.select(f.c.name, f.c.graph, f.c.id, f.c.published_version)).all()
        for flow in flows:
            graphs = [flow.graph]
            if flow.published_version is not None:
                published = conn.execute(
                    sa.select(v.c.graph).where(
                        (v.c.flow_id == flow.id) & (v.c.version == flow.published_version)
                    )
                ).scalar()
                if published:
                    graphs.append(published)
            if any({name, str(queue_id)} & _flow_queues(g) for g in graphs):
                found.append(N_("the IVR flow {name}", name=flow.name))
        q = model.queues
        for other in conn.execute(
            sa.select(q.c.name).where((q.c.overflow_queue_id == queue_id) & (q.c.id != queue_id))
        ):
            found.append(N_("the overflow of queue {name}", name=other.name))
    if old == "chat":
        t = model.chat_topics
        for topic in conn.execute(sa.select(t.c.name).where(t.c.queue_id == queue_id)):
            found.append(N_("the chat topic {name}", name=topic.name))
    if old == "email":
        a, r = model.email_accounts, model.email_routes
        for acc in conn.execute(sa.select(a.c.name).where(a.c.queue_id == queue_id)):
            found.append(N_("the e-mail account {name}", name=acc.name))
        routes = conn.execute(
            sa.select(sa.func.count()).select_from(r).where(r.c.queue_id == queue_id)
        ).scalar()
        if routes:
            found.append(N_("{n} e-mail route(s)", n=int(routes or 0)))
    c = model.conversations
    live = conn.execute(
        sa.select(sa.func.count())
        .select_from(c)
        .where((c.c.queue_id == queue_id) & c.c.state.in_(LIVE_STATES))
    ).scalar()
    if live:
        found.append(N_("{n} open conversation(s)", n=int(live or 0)))
    return found


class ChannelAdminStore(_Component):
    # ---- chat topics ----------------------------------------------------------------------

    def topics(self) -> defer.Deferred[list[TopicRow]]:
        t, q = model.chat_topics, model.queues

        def thd(conn: Connection) -> list[TopicRow]:
            rows = conn.execute(
                sa.select(t, q.c.name.label("queue_name"))
                .select_from(t.outerjoin(q, q.c.id == t.c.queue_id))
                .order_by(t.c.position, t.c.name)
            )
            return [
                TopicRow(
                    r.id,
                    r.name,
                    r.label_zh,
                    r.label_en,
                    r.queue_id,
                    r.queue_name or "",
                    r.position,
                    bool(r.enabled),
                )
                for r in rows
            ]

        return self.db.run(thd)

    def save_topic(self, topic_id: int | None, values: dict[str, Any]) -> defer.Deferred[int]:
        """Add (``topic_id`` None) or change a topic; its queue must take chats."""
        t = model.chat_topics

        def thd(conn: Connection) -> int:
            _unknown(values, TOPIC_COLUMNS)
            _queue_of_media(conn, values.get("queue_id"), "chat")
            what = N_("topic {name}", name=values.get("name", ""))
            if topic_id is None:
                return _insert(conn, t, what, **values)
            _need(conn, t, topic_id, N_("topic"))
            _update(conn, t, topic_id, what, values)
            return topic_id

        return self.db.run(thd)

    def delete_topic(self, topic_id: int) -> defer.Deferred[None]:
        return self._delete(model.chat_topics, topic_id, N_("topic"))

    # ---- allowed origins ------------------------------------------------------------------

    def origins(self) -> defer.Deferred[list[OriginRow]]:
        o = model.chat_origins

        def thd(conn: Connection) -> list[OriginRow]:
            return [
                OriginRow(r.id, r.origin)
                for r in conn.execute(sa.select(o.c.id, o.c.origin).order_by(o.c.origin))
            ]

        return self.db.run(thd)

    def add_origin(self, raw: str) -> defer.Deferred[int]:
        """Store ``raw`` in its normal form (``normalize_origin``); ValueError when bad."""
        try:
            origin = normalize_origin(raw)
        except ValueError as exc:
            return defer.fail(exc)
        o = model.chat_origins

        def thd(conn: Connection) -> int:
            return _insert(conn, o, N_("origin {origin}", origin=origin), origin=origin)

        return self.db.run(thd)

    def delete_origin(self, origin_id: int) -> defer.Deferred[None]:
        return self._delete(model.chat_origins, origin_id, N_("origin"))

    # ---- canned replies -------------------------------------------------------------------

    def canned(self) -> defer.Deferred[list[CannedRow]]:
        c = model.canned_replies

        def thd(conn: Connection) -> list[CannedRow]:
            rows = conn.execute(c.select().order_by(c.c.position, c.c.title, c.c.id))
            return [
                CannedRow(
                    r.id, r.title, r.body, r.topic_id, r.queue_id, r.language, int(r.position)
                )
                for r in rows
            ]

        return self.db.run(thd)

    def save_canned(self, canned_id: int | None, values: dict[str, Any]) -> defer.Deferred[int]:
        """For one topic, one queue (of chats or e-mails) or all (neither), not both."""
        c = model.canned_replies

        def thd(conn: Connection) -> int:
            _unknown(values, CANNED_COLUMNS)
            topic_id, queue_id = values.get("topic_id"), values.get("queue_id")
            if topic_id is not None and queue_id is not None:
                raise AdminError(N_("a canned reply is for a topic or a queue, not both"))
            if topic_id is not None:
                _need(conn, model.chat_topics, topic_id, N_("topic"))
            if queue_id is not None:
                q = model.queues
                media = conn.execute(sa.select(q.c.media).where(q.c.id == queue_id)).scalar()
                if media is None:
                    raise AdminError(N_("no queue {queue_id}", queue_id=queue_id))
                if media == "call":
                    raise AdminError(N_("canned replies are for chat and e-mail queues"))
            if canned_id is None:
                return _insert(conn, c, N_("canned reply"), **values)
            _need(conn, c, canned_id, N_("canned reply"))
            conn.execute(c.update().where(c.c.id == canned_id).values(**values))
            return canned_id

        return self.db.run(thd)

    def delete_canned(self, canned_id: int) -> defer.Deferred[None]:
        return self._delete(model.canned_replies, canned_id, N_("canned reply"))

    # ---- e-mail accounts ------------------------------------------------------------------

    def accounts(self) -> defer.Deferred[list[AccountRow]]:
        a = model.email_accounts

        def thd(conn: Connection) -> list[AccountRow]:
            return [_account_row(r) for r in conn.execute(a.select().order_by(a.c.name))]

        return self.db.run(thd)

    def save_account(
        self,
        account_id: int | None,
        values: dict[str, Any],
        imap_password: str | None = None,
        smtp_password: str | None = None,
    ) -> defer.Deferred[int]:
        """Add or change an account. A password None keeps the stored one (the form's blank
        field) for the same server only (AdminError when the host, port or security moved);
        a string replaces it. The default queue must take e-mails."""
        a = model.email_accounts

        def thd(conn: Connection) -> int:
            _unknown(values, ACCOUNT_COLUMNS)
            _queue_of_media(conn, values.get("queue_id"), "email")
            row = dict(values)
            if imap_password is not None:
                row["imap_password"] = imap_password
            if smtp_password is not None:
                row["smtp_password"] = smtp_password
            what = N_("account {name}", name=values.get("name", ""))
            if account_id is None:
                return _insert(conn, a, what, **row)
            _need(conn, a, account_id, N_("account"))
            stored = conn.execute(a.select().where(a.c.id == account_id)).one()._mapping
            for kind, typed in (("imap", imap_password), ("smtp", smtp_password)):
                if typed is None and _server_moved(stored, values, kind):
                    raise AdminError(
                        N_(
                            "the {kind} server changed: type its password again (a stored "
                            "password only goes to the server it was given for)",
                            kind=kind.upper(),
                        )
                    )
            _update(conn, a, account_id, what, row)
            return account_id

        return self.db.run(thd)

    def account_secrets(self, account_id: int) -> defer.Deferred[dict[str, Any] | None]:
        """Every column of one account, the passwords too: only for trying its servers
        (the page's "Test connection"), never for showing. None when there is none."""
        a = model.email_accounts

        def thd(conn: Connection) -> dict[str, Any] | None:
            row = conn.execute(a.select().where(a.c.id == account_id)).one_or_none()
            return dict(row._mapping) if row is not None else None

        return self.db.run(thd)

    def delete_account(self, account_id: int) -> defer.Deferred[None]:
        """Refused while an open e-mail thread was received by it: its replies go out from
        the account (without it, every agent's reply to such a thread was refused as "the
        thread's e-mail account is gone"). Disabling it stops new mail and keeps the
        replies going."""
        a, c = model.email_accounts, model.conversations

        def thd(conn: Connection) -> None:
            _need(conn, a, account_id, N_("account"))
            live = conn.execute(
                sa.select(sa.func.count())
                .select_from(c)
                .where((c.c.account_id == account_id) & c.c.state.in_(LIVE_STATES))
            ).scalar()
            if live:
                raise AdminError(
                    N_(
                        "{n} open e-mail thread(s) reply from this account: disable it instead",
                        n=int(live),
                    )
                )
            conn.execute(a.delete().where(a.c.id == account_id))

        return self.db.run(thd)

    # ---- e-mail routes --------------------------------------------------------------------

    def routes(self) -> defer.Deferred[list[RouteRow]]:
        r = model.email_routes

        def thd(conn: Connection) -> list[RouteRow]:
            rows = conn.execute(r.select().order_by(r.c.position, r.c.id))
            return [
                RouteRow(x.id, x.account_id, x.kind, x.pattern, x.queue_id, int(x.position))
                for x in rows
            ]

        return self.db.run(thd)

    def save_route(self, route_id: int | None, values: dict[str, Any]) -> defer.Deferred[int]:
        r = model.email_routes

        def thd(conn: Connection) -> int:
            _unknown(values, ROUTE_COLUMNS)
            if values.get("kind") not in model.EMAIL_ROUTE_KINDS:
                raise AdminError(N_("a route is by sender or by keyword"))
            _queue_of_media(conn, values.get("queue_id"), "email")
            if values.get("queue_id") is None:
                raise AdminError(N_("a route needs a queue"))
            account_id = values.get("account_id")
            if account_id is not None:
                _need(conn, model.email_accounts, account_id, N_("account"))
            if route_id is None:
                return _insert(conn, r, N_("route"), **values)
            _need(conn, r, route_id, N_("route"))
            conn.execute(r.update().where(r.c.id == route_id).values(**values))
            return route_id

        return self.db.run(thd)

    def delete_route(self, route_id: int) -> defer.Deferred[None]:
        return self._delete(model.email_routes, route_id, N_("route"))

    # ---- the queue's medium and the agent's capacity -----------------------------------

    def set_queue_media(self, queue_id: int, media: str) -> defer.Deferred[str]:
        """Change what a queue takes; refused (AdminError naming what still uses it) while
        a flow, an overflow, a topic, an account, a route or an open conversation needs the
        old medium. Returns the old medium."""
        q = model.queues

        def thd(conn: Connection) -> str:
            if media not in model.QUEUE_MEDIA:
                raise AdminError(N_("a queue takes calls, chats or e-mails"))
            row = conn.execute(sa.select(q.c.name, q.c.media).where(q.c.id == queue_id)).first()
            if row is None:
                raise AdminError(N_("no queue {queue_id}", queue_id=queue_id))
            if row.media == media:
                return str(media)
            users = _media_users(conn, queue_id, row.name, row.media)
            if users:
                raise QueueInUse(row.name, row.media, users)
            conn.execute(q.update().where(q.c.id == queue_id).values(media=media))
            return str(row.media)

        return self.db.run(thd)

    def queue_media(self) -> defer.Deferred[dict[int, str]]:
        q = model.queues
        return self.db.run(
            lambda conn: {int(i): str(m) for i, m in conn.execute(sa.select(q.c.id, q.c.media))}
        )

    def agent_capacity(self, agent_id: int) -> defer.Deferred[tuple[int, bool, bool] | None]:
        """(max_chats, chat_on_call, call_with_chats), None when there is no such agent."""
        a = model.agents

        def thd(conn: Connection) -> tuple[int, bool, bool] | None:
            r = conn.execute(
                sa.select(a.c.max_chats, a.c.chat_on_call, a.c.call_with_chats).where(
                    a.c.id == agent_id
                )
            ).first()
            if r is None:
                return None
            return int(r.max_chats), bool(r.chat_on_call), bool(r.call_with_chats)

        return self.db.run(thd)

    def set_agent_capacity(
        self, agent_id: int, max_chats: int, chat_on_call: bool, call_with_chats: bool
    ) -> defer.Deferred[None]:
        a = model.agents

        def thd(conn: Connection) -> None:
            if not 0 <= max_chats <= 10:
                raise AdminError(N_("an agent takes 0 to 10 conversations at once"))
            _need(conn, a, agent_id, N_("agent"))
            conn.execute(
                a.update()
                .where(a.c.id == agent_id)
                .values(
                    max_chats=max_chats,
                    chat_on_call=chat_on_call,
                    call_with_chats=call_with_chats,
                )
            )

        return self.db.run(thd)

    def _delete(self, table: sa.Table, row_id: int, what: str) -> defer.Deferred[None]:
        def thd(conn: Connection) -> None:
            _need(conn, table, row_id, what)
            conn.execute(table.delete().where(table.c.id == row_id))

        return self.db.run(thd)


def _listed(items: list[str]) -> str:
    """``a; b; c`` as one message whose parts are translated each (msgids kept)."""
    if not items:
        return ""
    out = items[-1]
    for item in reversed(items[:-1]):
        out = N_("{first}; {rest}", first=item, rest=out)
    return out


class QueueInUse(AdminError):
    """A queue's medium cannot change: ``users`` (msgids) still need the old one."""

    def __init__(self, name: str, media: str, users: list[str]) -> None:
        super().__init__(
            N_(
                "the queue {name} keeps taking {media} while these use it: {users}",
                name=name,
                media=MEDIA_NAMES.get(media, media),
                users=_listed(users),
            )
        )
        self.users = users


def _update(
    conn: Connection, table: sa.Table, row_id: int, what: str, values: dict[str, Any]
) -> None:
    try:
        with conn.begin_nested():
            conn.execute(table.update().where(table.c.id == row_id).values(**values))
    except sa.exc.IntegrityError:
        raise DuplicateError(N_("{what} already exists", what=what)) from None


def _account_row(r: Any) -> AccountRow:
    return AccountRow(
        id=r.id,
        name=r.name,
        address=r.address,
        display_name=r.display_name,
        imap_host=r.imap_host,
        imap_port=int(r.imap_port),
        imap_security=r.imap_security,
        imap_user=r.imap_user,
        imap_password_set=bool(r.imap_password),
        imap_folder=r.imap_folder,
        smtp_host=r.smtp_host,
        smtp_port=int(r.smtp_port),
        smtp_security=r.smtp_security,
        smtp_user=r.smtp_user,
        smtp_password_set=bool(r.smtp_password),
        queue_id=r.queue_id,
        auto_reply=bool(r.auto_reply),
        auto_reply_body=r.auto_reply_body,
        make_tickets=bool(r.make_tickets),
        sla_minutes=int(r.sla_minutes),
        enabled=bool(r.enabled),
        last_error=r.last_error,
    )


def _server_moved(stored: Any, values: dict[str, Any], kind: str) -> bool:
    """The form keeps the stored password (left blank) but names another server for it: a
    host, port or security other than the stored ones, while a password is stored. Sent
    there, the password would leave the center (an admin session misused, a typo)."""
    if not stored[f"{kind}_password"]:
        return False
    for column in ("host", "port", "security"):
        key = f"{kind}_{column}"
        if key not in values:
            continue
        was, now = stored[key], values[key]
        if column == "host":
            was, now = str(was).strip().lower().rstrip("."), str(now).strip().lower().rstrip(".")
        elif column == "port":
            was, now = int(was), int(now)
        if was != now:
            return True
    return False
