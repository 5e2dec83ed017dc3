"""Admin pages for the internet channels: chat topics, the sites allowed to embed the
widget, canned replies, e-mail accounts and their routes. Admin only.

Every form is checked here for form (webui/admin_forms.py) and by the store
(appliance/db/channel_admin_store.py) for what needs the database (a topic's queue takes
chats, a route's queue e-mails); each change is audited, then the running services are told
(``notify``). E-mail passwords are write-only: the page never renders them, and a blank
password field keeps the stored one.
"""

from __future__ import annotations

import re
from typing import Any

import cherrypy
from twisted.internet import defer
from twisted.logger import Logger

from acd.channels import canned
from appliance.db.channel_admin_store import ChannelAdminStore, normalize_origin
from appliance.db.model import EMAIL_ROUTE_KINDS, EMAIL_SECURITY
from appliance.email_address import is_email
from drivers.mail import check
from drivers.mail.imap import ImapSettings
from drivers.mail.smtp import SmtpSettings
from webui import admin_forms as f
from webui import i18n
from webui.access import page
from webui.context import WebContext
from webui.i18n import N_
from webui.render import render

log = Logger(namespace="ccbox.web.admin")

TOPIC_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
ACCOUNT_NAME = TOPIC_NAME
HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
# The languages a canned reply may be for ("" : every language).
CANNED_LANGUAGES = ("", "en", "zh_CN")
# What each of a canned reply's variables (acd/channels/canned.py VARIABLES) stands for.
CANNED_MEANINGS = {
    "customer_name": N_("the customer's name"),
    "agent_name": N_("the agent's name"),
    "reference": N_("the conversation's reference number"),
    "topic": N_("the chat's topic"),
    "queue": N_("the queue's name"),
}
CANNED_VARIABLES = tuple(
    ("{" + name + "}", CANNED_MEANINGS.get(name, name)) for name in canned.VARIABLES
)
MAX_BODY = 4000
MAX_PASSWORD = 500
TEST_TIMEOUT_S = 10.0  # each server's connect and each read, when the admin tries an account
TEST_WITHIN_S = 25.0  # the whole test, both servers: the page answers by then


def notify(ctx: WebContext, what: str) -> None:
    """Tell the running services that ``what`` (topics, origins, canned, accounts, routes,
    queues, agents) changed: the channels' engine's ``reload_<what>()`` when it has one
    (``reload_topics``; queues and agents reach it through the ACD's live config), and the
    e-mail channel's ``reload()`` after accounts, routes or queues. Each service is optional
    (None in a box or a test that runs none); one without such a method reads the rows when
    it needs them (the widget's origins: on its short refresh timer). A reload that fails is
    logged: the change itself is saved."""
    channels = ctx.channels
    email = ctx.email_channel

    def started(call: Any) -> defer.Deferred[Any]:
        d: defer.Deferred[Any] = defer.maybeDeferred(call)  # a coroutine too
        d.addErrback(lambda fail: log.failure("reloading {what}", fail, what=what))
        return d

    def tell() -> defer.Deferred[None]:
        # the e-mail channel restarts a changed account's IMAP watcher: not waited for
        if what in ("accounts", "routes", "queues") and callable(getattr(email, "reload", None)):
            started(email.reload)
        # the engine's reload is quick: the page shows the change once it is applied
        if channels is not None and callable(getattr(channels, f"reload_{what}", None)):
            return started(getattr(channels, f"reload_{what}")).addCallback(lambda _: None)
        return defer.succeed(None)

    ctx.call(tell)


class ChannelsAdmin:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.store = ChannelAdminStore(ctx.db)

    # ---- reading ----------------------------------------------------------------------

    def _queues(self) -> dict[str, list[tuple[int, str]]]:
        """The queues by medium, as (id, name)."""
        rows = self.ctx.call(self.ctx.db.queues.list_all)
        media = self.ctx.call(self.store.queue_media)
        out: dict[str, list[tuple[int, str]]] = {"call": [], "chat": [], "email": []}
        for q in rows:
            out.setdefault(media.get(q.id, "call"), []).append((q.id, q.name))
        return out

    @page("admin")
    def index(self) -> str:
        queues = self._queues()
        topics = self.ctx.call(self.store.topics)
        accounts = self.ctx.call(self.store.accounts)
        names = {qid: name for group in queues.values() for qid, name in group}
        return render(
            self.ctx,
            "admin_channels.html",
            topics=topics,
            origins=self.ctx.call(self.store.origins),
            canned=self.ctx.call(self.store.canned),
            accounts=accounts,
            routes=self.ctx.call(self.store.routes),
            chat_queues=queues["chat"],
            email_queues=queues["email"],
            conversation_queues=queues["chat"] + queues["email"],
            queue_names=names,
            topic_names={t.id: t.name for t in topics},
            account_names={a.id: a.name for a in accounts},
            route_kinds=EMAIL_ROUTE_KINDS,
            languages=CANNED_LANGUAGES,
            variables=CANNED_VARIABLES,
        )

    @page("admin")
    def account(self, id: str = "") -> str:
        """An e-mail account's form: ``id`` empty for a new one."""
        row = None
        if id:
            wanted = f.page_id(id)
            row = next((a for a in self.ctx.call(self.store.accounts) if a.id == wanted), None)
            if row is None:
                raise cherrypy.NotFound()
        return render(
            self.ctx,
            "admin_channels_account.html",
            a=row,
            email_queues=self._queues()["email"],
            security=EMAIL_SECURITY,
        )

    # ---- topics -----------------------------------------------------------------------

    @page("admin", methods=("POST",))
    def topic_save(self, **params: Any) -> None:
        """Add a topic (no ``id``) or change one."""

        def work() -> str:
            topic_id = f.optional_id(params, "id", "id")
            name = f.matching(
                params,
                "name",
                i18n._("Topic name"),
                TOPIC_NAME,
                i18n._("letters, digits, '.', '_' or '-'"),
                64,
            )
            if not name:
                raise f.FormError(i18n._("{field}: required.").format(field=i18n._("Topic name")))
            values = {
                "name": name,
                "label_zh": f.text(params, "label_zh", i18n._("Chinese label"), 128),
                "label_en": f.text(params, "label_en", i18n._("English label"), 128),
                "queue_id": f.optional_id(params, "queue_id", i18n._("Queue")),
                "position": f.integer(params, "position", i18n._("Order"), 0, 999),
                "enabled": f.checkbox(params, "enabled"),
            }
            if not values["label_zh"] and not values["label_en"]:
                raise f.FormError(i18n._("A topic needs a Chinese or an English label."))
            if values["enabled"] and values["queue_id"] is None:
                raise f.FormError(i18n._("An enabled topic needs a chat queue."))
            saved = self.ctx.call(self.store.save_topic, topic_id, values)
            f.audit(self.ctx, "channels.topic.save", f"chat_topic:{saved}", **values)
            notify(self.ctx, "topics")
            return i18n._("Topic {name} saved.").format(name=name)

        f.finish("/admin/channels", work)

    @page("admin", methods=("POST",))
    def topic_delete(self, **params: Any) -> None:
        topic_id = f.target_id(params)

        def work() -> str:
            self.ctx.call(self.store.delete_topic, topic_id)
            f.audit(self.ctx, "channels.topic.delete", f"chat_topic:{topic_id}")
            notify(self.ctx, "topics")
            return i18n._("Topic deleted.")

        f.finish("/admin/channels", work)

    # ---- allowed origins --------------------------------------------------------------

    @page("admin", methods=("POST",))
    def origin_add(self, **params: Any) -> None:
        def work() -> str:
            label = i18n._("Web site")
            raw = f.text(params, "origin", label, 200, required=True)
            try:
                origin = normalize_origin(raw)
            except ValueError as exc:
                raise f.FormError(
                    i18n._("{field}: {reason}").format(field=label, reason=i18n.error(exc))
                ) from None
            origin_id = self.ctx.call(self.store.add_origin, origin)
            f.audit(self.ctx, "channels.origin.add", f"chat_origin:{origin_id}", origin=origin)
            notify(self.ctx, "origins")
            return i18n._("{origin} may embed the chat widget.").format(origin=origin)

        f.finish("/admin/channels", work)

    @page("admin", methods=("POST",))
    def origin_delete(self, **params: Any) -> None:
        origin_id = f.target_id(params)

        def work() -> str:
            self.ctx.call(self.store.delete_origin, origin_id)
            f.audit(self.ctx, "channels.origin.delete", f"chat_origin:{origin_id}")
            notify(self.ctx, "origins")
            return i18n._("Web site removed.")

        f.finish("/admin/channels", work)

    # ---- canned replies ---------------------------------------------------------------

    @page("admin", methods=("POST",))
    def canned_save(self, **params: Any) -> None:
        """Add (no ``id``) or change a canned reply. ``scope``: "" (all), ``topic:<id>`` or
        ``queue:<id>``."""

        def work() -> str:
            canned_id = f.optional_id(params, "id", "id")
            scope = f.text(params, "scope", i18n._("For"), 24)
            m = re.fullmatch(r"(topic|queue):([0-9]{1,9})", scope)
            if scope and m is None:
                raise f.FormError(
                    i18n._("{field}: not a valid choice.").format(field=i18n._("For"))
                )
            topic_id = int(m.group(2)) if m and m.group(1) == "topic" else None
            queue_id = int(m.group(2)) if m and m.group(1) == "queue" else None
            body = _body(params, "body", i18n._("Text"), MAX_BODY, required=True)
            unknown = sorted(
                set(re.findall(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}", body))
                - set(canned.VARIABLES)
            )
            if unknown:
                raise f.FormError(
                    i18n._("Text: unknown variable {names}; the variables are {known}.").format(
                        names=", ".join("{" + n + "}" for n in unknown),
                        known=", ".join(v for v, _meaning in CANNED_VARIABLES),
                    )
                )
            values = {
                "title": f.text(params, "title", i18n._("Title"), 128, required=True),
                "body": body,
                "topic_id": topic_id,
                "queue_id": queue_id,
                "language": f.choice(params, "language", i18n._("Language"), CANNED_LANGUAGES),
                "position": f.integer(params, "position", i18n._("Order"), 0, 999),
            }
            saved = self.ctx.call(self.store.save_canned, canned_id, values)
            f.audit(
                self.ctx,
                "channels.canned.save",
                f"canned_reply:{saved}",
                title=values["title"],
                topic_id=topic_id,
                queue_id=queue_id,
                language=values["language"],
            )
            notify(self.ctx, "canned")
            return i18n._("Canned reply saved.")

        f.finish("/admin/channels", work)

    @page("admin", methods=("POST",))
    def canned_delete(self, **params: Any) -> None:
        canned_id = f.target_id(params)

        def work() -> str:
            self.ctx.call(self.store.delete_canned, canned_id)
            f.audit(self.ctx, "channels.canned.delete", f"canned_reply:{canned_id}")
            notify(self.ctx, "canned")
            return i18n._("Canned reply deleted.")

        f.finish("/admin/channels", work)

    # ---- e-mail accounts --------------------------------------------------------------

    @page("admin", methods=("POST",))
    def account_save(self, **params: Any) -> None:
        # a new account has no id; a bad one is a broken form (400)
        account_id = f.target_id(params) if params.get("id", "") != "" else None
        back = f"/admin/channels/account?id={account_id}" if account_id else "/admin/channels"

        def work() -> str:
            values = account_settings(params)
            imap_password = _password(params, "imap_password", i18n._("IMAP password"))
            smtp_password = _password(params, "smtp_password", i18n._("SMTP password"))
            saved = self.ctx.call(
                self.store.save_account, account_id, values, imap_password, smtp_password
            )
            # never the passwords: only that one was set
            f.audit(
                self.ctx,
                "channels.account.save",
                f"email_account:{saved}",
                **values,
                imap_password_set=imap_password is not None,
                smtp_password_set=smtp_password is not None,
            )
            notify(self.ctx, "accounts")
            return i18n._("E-mail account {name} saved.").format(name=values["name"])

        f.finish(back, work)

    @page("admin", methods=("POST",))
    def account_test(self, **params: Any) -> None:
        """Try the saved account's servers once (log in over IMAP and open the folder; log
        in over SMTP; nothing sent, nothing changed in the mailbox): the outcome on the page,
        and in the audit log. The clients block: they run in a thread of their own, one test
        at a time (the web's thread pool is everyone's), and this request waits for them at
        most ``TEST_WITHIN_S``."""
        account_id = f.target_id(params)

        def work() -> str:
            row = self.ctx.call(self.store.account_secrets, account_id)
            if row is None:
                raise f.FormError(i18n._("That account no longer exists."))
            imap_settings = ImapSettings(
                host=row["imap_host"],
                port=int(row["imap_port"]),
                security=row["imap_security"],
                user=row["imap_user"] or row["address"],
                password=row["imap_password"],
                folder=row["imap_folder"] or "INBOX",
                timeout_s=TEST_TIMEOUT_S,
            )
            smtp_settings = (
                SmtpSettings(
                    host=row["smtp_host"],
                    port=int(row["smtp_port"]),
                    security=row["smtp_security"],
                    user=row["smtp_user"],
                    password=row["smtp_password"],
                    timeout_s=TEST_TIMEOUT_S,
                )
                if row["smtp_host"]
                else None
            )
            outcome = check.check_account(imap_settings, smtp_settings, TEST_WITHIN_S)
            if outcome is None:
                raise f.FormError(
                    i18n._("Another connection test is still running; try again in a moment.")
                )
            imap, tried = outcome
            smtp = tried or check.Checked(False, i18n._("no SMTP server set"))
            f.audit(
                self.ctx,
                "channels.account.test",
                f"email_account:{account_id}",
                imap_ok=imap.ok,
                smtp_ok=smtp.ok,
            )
            parts = [
                i18n._("IMAP: logged in, {n} messages in the folder.").format(n=imap.detail)
                if imap.ok
                else i18n._("IMAP failed: {reason}").format(reason=imap.detail),
                i18n._("SMTP: logged in.")
                if smtp.ok
                else i18n._("SMTP failed: {reason}").format(reason=smtp.detail),
            ]
            return " ".join(parts)

        f.finish(f"/admin/channels/account?id={account_id}", work)

    @page("admin", methods=("POST",))
    def account_delete(self, **params: Any) -> None:
        account_id = f.target_id(params)

        def work() -> str:
            self.ctx.call(self.store.delete_account, account_id)
            f.audit(self.ctx, "channels.account.delete", f"email_account:{account_id}")
            notify(self.ctx, "accounts")
            return i18n._("E-mail account deleted.")

        f.finish("/admin/channels", work)

    # ---- e-mail routes ----------------------------------------------------------------

    @page("admin", methods=("POST",))
    def route_save(self, **params: Any) -> None:
        def work() -> str:
            route_id = f.optional_id(params, "id", "id")
            kind = f.choice(params, "kind", i18n._("Match"), EMAIL_ROUTE_KINDS)
            label = i18n._("Pattern")
            pattern = f.text(params, "pattern", label, 254, required=True)
            if kind == "sender":
                pattern = pattern.lower()
                domain = pattern[1:] if pattern.startswith("@") else None
                if not (is_email(pattern) or (domain and is_email("x@" + domain))):
                    raise f.FormError(
                        i18n._(
                            "{field}: an address (name@example.com) or a domain (@example.com)."
                        ).format(field=label)
                    )
            queue_id = f.optional_id(params, "queue_id", i18n._("Queue"))
            if queue_id is None:
                raise f.FormError(i18n._("{field}: required.").format(field=i18n._("Queue")))
            values = {
                "account_id": f.optional_id(params, "account_id", i18n._("Account")),
                "kind": kind,
                "pattern": pattern,
                "queue_id": queue_id,
                "position": f.integer(params, "position", i18n._("Order"), 0, 999),
            }
            saved = self.ctx.call(self.store.save_route, route_id, values)
            f.audit(self.ctx, "channels.route.save", f"email_route:{saved}", **values)
            notify(self.ctx, "routes")
            return i18n._("Route saved.")

        f.finish("/admin/channels", work)

    @page("admin", methods=("POST",))
    def route_delete(self, **params: Any) -> None:
        route_id = f.target_id(params)

        def work() -> str:
            self.ctx.call(self.store.delete_route, route_id)
            f.audit(self.ctx, "channels.route.delete", f"email_route:{route_id}")
            notify(self.ctx, "routes")
            return i18n._("Route deleted.")

        f.finish("/admin/channels", work)


def _body(params: dict[str, Any], name: str, label: str, max_len: int, required: bool) -> str:
    """A multi-line text: newlines and tabs allowed, other control characters not."""
    value = params.get(name, "")
    if not isinstance(value, str):
        raise f.FormError(i18n._("{field}: send it once, as text.").format(field=label))
    value = value.replace("\r\n", "\n").strip()
    if len(value) > max_len:
        raise f.FormError(i18n._("{field}: at most {n} characters.").format(field=label, n=max_len))
    if re.search(r"[\x00-\x08\x0b-\x1f\x7f]", value):
        raise f.FormError(
            i18n._("{field}: control characters are not allowed.").format(field=label)
        )
    if required and not value:
        raise f.FormError(i18n._("{field}: required.").format(field=label))
    return value


def _password(params: dict[str, Any], name: str, label: str) -> str | None:
    """A new password, or None (blank: keep the stored one, for the same server only: see
    ChannelAdminStore.save_account). Sent as typed, not stripped."""
    value = params.get(name, "")
    if not isinstance(value, str):
        raise f.FormError(i18n._("{field}: send it once, as text.").format(field=label))
    if len(value) > MAX_PASSWORD:
        raise f.FormError(
            i18n._("{field}: at most {n} characters.").format(field=label, n=MAX_PASSWORD)
        )
    if re.search(r"[\x00-\x1f\x7f]", value):
        raise f.FormError(
            i18n._("{field}: control characters are not allowed.").format(field=label)
        )
    return value or None


def _host(params: dict[str, Any], name: str, label: str, required: bool) -> str:
    value = f.text(params, name, label, 253, required=required).lower()
    if value and not HOST.fullmatch(value):
        raise f.FormError(
            i18n._("{field}: a host name or an address, e.g. imap.example.com.").format(field=label)
        )
    return value


def account_settings(params: dict[str, Any]) -> dict[str, Any]:
    """Every column of the account form but the passwords, checked (FormError)."""
    name = f.matching(
        params,
        "name",
        i18n._("Account name"),
        ACCOUNT_NAME,
        i18n._("letters, digits, '.', '_' or '-'"),
        64,
    )
    if not name:
        raise f.FormError(i18n._("{field}: required.").format(field=i18n._("Account name")))
    address = f.text(params, "address", i18n._("Address"), 254, required=True).lower()
    if not is_email(address):
        raise f.FormError(i18n._("{field}: not an e-mail address.").format(field=i18n._("Address")))
    smtp_host = _host(params, "smtp_host", i18n._("SMTP server"), False)
    out: dict[str, Any] = {
        "name": name,
        "address": address,
        "display_name": f.text(params, "display_name", i18n._("Sender name"), 128),
        "imap_host": _host(params, "imap_host", i18n._("IMAP server"), True),
        "imap_port": f.integer(params, "imap_port", i18n._("IMAP port"), 1, 65535),
        "imap_security": f.choice(params, "imap_security", i18n._("IMAP security"), EMAIL_SECURITY),
        "imap_user": f.text(params, "imap_user", i18n._("IMAP user"), 254),
        "imap_folder": f.text(params, "imap_folder", i18n._("Folder"), 128) or "INBOX",
        "smtp_host": smtp_host,
        "smtp_port": f.integer(params, "smtp_port", i18n._("SMTP port"), 1, 65535),
        "smtp_security": f.choice(params, "smtp_security", i18n._("SMTP security"), EMAIL_SECURITY),
        "smtp_user": f.text(params, "smtp_user", i18n._("SMTP user"), 254),
        "queue_id": f.optional_id(params, "queue_id", i18n._("Queue")),
        "auto_reply": f.checkbox(params, "auto_reply"),
        "auto_reply_body": _body(params, "auto_reply_body", i18n._("Auto-reply text"), 4000, False),
        "make_tickets": f.checkbox(params, "make_tickets"),
        "sla_minutes": f.integer(
            params, "sla_minutes", i18n._("First reply due within (min)"), 1, 43200
        ),
        "enabled": f.checkbox(params, "enabled"),
    }
    if out["enabled"] and out["queue_id"] is None:
        raise f.FormError(i18n._("An enabled account needs an e-mail queue."))
    if out["enabled"] and not smtp_host:
        raise f.FormError(i18n._("An enabled account needs an SMTP server to send replies."))
    return out
