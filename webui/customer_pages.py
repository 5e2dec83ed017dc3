"""The customer pages (/customers/): the list and its search, a customer's profile with its
timeline, create and edit (each field's error beside the field), duplicates and their
merge, import and export, the custom fields' definitions, and erasure.

Who may do what: every role reads; agents, supervisors and admins create and edit;
supervisors and admins merge and import; admins export, erase and define the custom
fields. Every value shown (names, numbers, notes, caller IDs in the timeline) is stored
attacker-controlled text: the templates escape it, never ``|safe``.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import cherrypy
from twisted.internet import defer, threads

from appliance.crm import customer_export, timeline
from appliance.crm.customer_import import CustomerImportJob, split_numbers
from appliance.crm.customer_store import Customer, CustomerStore
from appliance.crm.erasure import Erased, ErasureFiles
from appliance.crm.field_admin import FieldAdmin
from appliance.crm.fields import FIELD_KINDS, FieldDef, FieldErrors, clean_values
from appliance.db.lead_import_store import ConnectorSink
from appliance.db.model import CUSTOMER_CLASSES
from appliance.text import N_
from appliance.uploads import uploads_root
from webui import admin_forms as f
from webui import i18n, labels, ticket_labels
from webui.access import api, current_session, page
from webui.admin_campaigns import upload_json
from webui.context import WebContext
from webui.field_defs_form import KIND_NAMES as FIELD_KIND_NAMES
from webui.list_upload import MAX_UPLOAD_BYTES, UploadRefused, Uploads
from webui.render import render

EDITORS = ("admin", "supervisor", "agent")
MERGERS = ("admin", "supervisor")
ADMINS = ("admin",)
PAGE_SIZE = 50
TIMELINE_PAGE = 50
MAX_QUERY = 100
# The form's fields besides the custom ones (the store's keys).
FORM_FIELDS = ("name", "numbers", "customer_class", "email", "account", "note")
MAX_FORM_NUMBERS_TEXT = 2000

CLASS_NAMES = {
    "normal": N_("Normal"),
    "vip": N_("VIP"),
    "key_account": N_("Key account"),
}
KIND_NAMES = {
    "call": N_("Call"),
    "recording": N_("Recording"),
    "voicemail": N_("Voicemail"),
    "callback": N_("Callback"),
    "ticket": N_("Ticket"),
    "attempt": N_("Campaign call"),
    "sms": N_("SMS"),
    "email": N_("E-mail"),
    "chat": N_("Chat"),
    "email_thread": N_("E-mail"),
}


def customer_store(ctx: WebContext) -> CustomerStore:
    """The store with the box's number rules, and what an erasure removes files with: the
    recordings' root, a reactor thread for the disk work, the voicemail service's delete,
    the uploads' root (tickets' attachments)."""
    files = ErasureFiles(
        ctx.config.recording_dir,
        _in_thread,
        ctx.ivr.voicemail.delete,
        uploads_root(ctx.config.data_dir),
    )
    return CustomerStore.from_config(ctx.db, ctx.config.crm, files)


def _in_thread(fn: Any, *args: Any) -> defer.Deferred[Any]:
    return threads.deferToThread(fn, *args)


def _user_name() -> str:
    user = current_session().user
    return user.username if user is not None else "?"


def _role() -> str:
    user = current_session().user
    return user.role if user is not None else ""


def item_link(item: timeline.TimelineItem, role: str) -> str:
    """Where a timeline item opens ("" where there is nothing to open for this role)."""
    if item.ref_kind == "recording":
        return f"/recordings/view?id={item.ref_id}"
    if item.ref_kind == "call":
        return f"/customers/call?id={item.ref_id}"
    if item.ref_kind == "voicemail":
        return "/voicemail?" + urlencode({"mailbox": item.ref_group})
    if item.ref_kind == "ticket":
        return f"/tickets/view?id={item.ref_id}"
    if item.ref_kind in ("message", "conversation") and item.ref_group.isdigit():
        return f"/tickets/view?id={item.ref_group}"
    if item.ref_kind == "attempt" and role in MERGERS and item.ref_group.isdigit():
        return f"/admin/campaigns/edit?id={item.ref_group}"
    return ""


def state_text(table: str, code: str) -> str:
    """A stored code in the reader's words, by the label table that names it (the code
    itself where none does)."""
    if not code:
        return ""
    if table in labels.TABLES:
        return labels.label(table, code)
    if table in ticket_labels.TABLES:
        return ticket_labels.label(table, code)
    return code


def field_errors(exc: FieldErrors) -> dict[str, str]:
    """A store's errors in the reader's words, keyed by the form's input names."""
    out: dict[str, str] = {}
    for key, message in exc.errors.items():
        name = "field." + key[len("fields.") :] if key.startswith("fields.") else key
        out[name] = i18n.shown(message)
    return out


class _Answer(Exception):
    """A page to answer instead of going on (the form again, with its errors)."""

    def __init__(self, page: str) -> None:
        super().__init__("answer")
        self.page = page


class CustomerPages:
    def __init__(self, ctx: WebContext, uploads: Uploads) -> None:
        self.ctx = ctx
        self.uploads = uploads  # the campaigns' registry: one limit on imports running
        self.fields = FieldPages(ctx)

    @property
    def store(self) -> CustomerStore:
        return customer_store(self.ctx)

    def _customer(self, customer_id: int) -> Customer:
        customer: Customer | None = self.ctx.call(self.store.get, customer_id)
        if customer is None:
            raise cherrypy.NotFound()
        return customer

    def _defs(self, active_only: bool = True) -> list[FieldDef]:
        defs: list[FieldDef] = self.ctx.call(self.store.field_defs, active_only)
        return defs

    # ---- reading ------------------------------------------------------------------------

    @page()
    def index(self, q: Any = "", offset: Any = "0") -> str:
        """The customers, or those whose name, number, account or e-mail ``q`` finds."""
        error = ""
        if not isinstance(q, str) or len(q) > MAX_QUERY:
            q, error = "", i18n._("Search: at most {n} characters.").format(n=MAX_QUERY)
        start = int(offset) if isinstance(offset, str) and offset.isdigit() else 0
        start = min(start, 100_000)
        found: list[Customer] = self.ctx.call(self.store.search, q.strip(), PAGE_SIZE + 1, start)
        more = len(found) > PAGE_SIZE
        if error:
            cherrypy.serving.response.status = 400

        def link(at: int) -> str:
            return "/customers?" + urlencode({"q": q, "offset": str(at)})

        return render(
            self.ctx,
            "customers.html",
            customers=found[:PAGE_SIZE],
            q=q,
            error=error,
            next_link=link(start + PAGE_SIZE) if more else "",
            prev_link=link(max(0, start - PAGE_SIZE)) if start else "",
            class_names=CLASS_NAMES,
            can_edit=_role() in EDITORS,
            can_merge=_role() in MERGERS,
            is_admin=_role() in ADMINS,
        )

    @page()
    def view(self, id: Any = "", before: Any = "") -> str:
        """A customer's profile and its timeline, a page at a time (``before``)."""
        customer = self._customer(f.page_id(id))
        cursor = None
        if before:
            try:
                cursor = timeline.Cursor.parse(before)
            except ValueError:
                raise cherrypy.NotFound() from None
        crm, db = self.ctx.config.crm, self.ctx.db

        async def read() -> list[timeline.TimelineItem]:
            return await timeline.timeline(
                db,
                customer.id,
                before=cursor,
                limit=TIMELINE_PAGE + 1,
                country_code=crm.country_code,
                trunk_prefix=crm.trunk_prefix,
            )

        items: list[timeline.TimelineItem] = self.ctx.call(lambda: defer.ensureDeferred(read()))
        more = len(items) > TIMELINE_PAGE
        items = items[:TIMELINE_PAGE]
        role = _role()
        shown = [
            {
                "at": item.at,
                "kind": item.kind,
                "kind_name": i18n.shown(KIND_NAMES.get(item.kind, item.kind)),
                "title": i18n.shown(item.title),
                "detail": i18n.shown(item.detail),
                "state": state_text(item.state_table, item.state),
                "link": item_link(item, role),
            }
            for item in items
        ]
        older = ""
        if more and items:
            older = f"/customers/view?id={customer.id}&before={items[-1].cursor.token()}"
        return render(
            self.ctx,
            "customer.html",
            customer=customer,
            defs=self._defs(active_only=False),
            items=shown,
            older=older,
            paged=bool(cursor),
            class_names=CLASS_NAMES,
            can_edit=role in EDITORS,
            is_admin=role in ADMINS,
        )

    @page()
    def call(self, id: Any = "") -> str:
        """One call of a timeline: its times, parties, queue, agent, notes and recordings."""
        call_id = f.page_id(id)
        detail: timeline.CallDetail | None = self.ctx.call(
            self.ctx.db.run, lambda conn: timeline.call_detail(conn, call_id)
        )
        if detail is None:
            raise cherrypy.NotFound()
        return render(self.ctx, "customer_call.html", call=detail)

    # ---- create and edit --------------------------------------------------------------------

    def _form(
        self,
        customer: Customer | None,
        values: dict[str, str],
        errors: dict[str, str],
        status: int = 200,
    ) -> str:
        cherrypy.serving.response.status = status
        return render(
            self.ctx,
            "customer_form.html",
            customer=customer,
            values=values,
            errors=errors,
            defs=self._defs(),
            classes=[(c, i18n.shown(CLASS_NAMES[c])) for c in CUSTOMER_CLASSES],
            field_kind_names=FIELD_KIND_NAMES,
        )

    @page(*EDITORS)
    def new(self, number: Any = "") -> str:
        """The empty form (``number``: a caller's, from the desk)."""
        first = number if isinstance(number, str) and len(number) <= 64 else ""
        return self._form(None, {"numbers": first, "customer_class": "normal"}, {})

    @staticmethod
    def _read_form(
        params: dict[str, Any], defs: list[FieldDef]
    ) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
        """(the store's values, the form's values as sent, errors of the form itself)."""
        sent: dict[str, str] = {}
        errors: dict[str, str] = {}
        for name in (*FORM_FIELDS, *(f"field.{d.key}" for d in defs)):
            value = params.get(name, "")
            if not isinstance(value, str):
                errors[name] = i18n._("send it once, as text")
                value = ""
            sent[name] = value
        if len(sent["numbers"]) > MAX_FORM_NUMBERS_TEXT:
            errors["numbers"] = i18n._("at most {n} characters").format(n=MAX_FORM_NUMBERS_TEXT)
            sent["numbers"] = ""
        unknown = [k for k in params if k.startswith("field.") and k not in sent]
        for k in unknown[:5]:
            errors[k[:40]] = i18n._("unknown field")
        values: dict[str, Any] = {
            "name": sent["name"],
            "numbers": split_numbers(sent["numbers"]),
            "customer_class": sent["customer_class"] or "normal",
            "email": sent["email"],
            "account": sent["account"],
            "note": sent["note"].replace("\r\n", "\n"),
            "fields": {d.key: sent[f"field.{d.key}"] for d in defs},
        }
        return values, sent, errors

    def _write(self, customer: Customer | None, params: dict[str, Any]) -> int:
        """Create or update from the form; on any bad value, the form again (400) with
        every error beside its field (raised as the page to answer)."""
        defs = self._defs()
        values, sent, errors = self._read_form(params, defs)
        if not errors:
            # the custom fields checked here too, so that their errors come with the
            # others' (the store stops at the standard fields' first)
            try:
                clean_values(defs, values["fields"])
            except FieldErrors as exc:
                errors.update({f"field.{k}": i18n.shown(v) for k, v in exc.errors.items()})
            try:
                if customer is None:
                    customer_id: int = self.ctx.call(self.store.create, _user_name(), **values)
                else:
                    self.ctx.call(self.store.update, _user_name(), customer.id, **values)
                    customer_id = customer.id
            except FieldErrors as exc:
                errors.update(field_errors(exc))
            else:
                return customer_id  # the store's check is the one that counts
        raise _Answer(self._form(customer, sent, errors, 400))

    @page(*EDITORS, methods=("POST",))
    def create(self, **params: Any) -> str:
        try:
            customer_id = self._write(None, params)
        except _Answer as answer:
            return answer.page
        current_session().flash.append(i18n._("Customer saved."))
        raise cherrypy.HTTPRedirect(f"/customers/view?id={customer_id}", 303)

    @page(*EDITORS)
    def edit(self, id: Any = "") -> str:
        customer = self._customer(f.page_id(id))
        values = {
            "name": customer.name,
            "numbers": "\n".join(customer.numbers),
            "customer_class": customer.customer_class,
            "email": customer.email,
            "account": customer.account,
            "note": customer.note,
            **{f"field.{k}": v for k, v in customer.fields.items()},
        }
        return self._form(customer, values, {})

    @page(*EDITORS, methods=("POST",))
    def save(self, **params: Any) -> str:
        """The form of an existing customer (a custom field no longer active keeps its
        stored value: the store leaves it)."""
        customer = self._customer(f.target_id(params))
        try:
            self._write(customer, params)
        except _Answer as answer:
            return answer.page
        current_session().flash.append(i18n._("Customer saved."))
        raise cherrypy.HTTPRedirect(f"/customers/view?id={customer.id}", 303)

    # ---- duplicates -------------------------------------------------------------------------

    @page(*MERGERS)
    def duplicates(self) -> str:
        pairs = self.ctx.call(self.store.duplicates, 100)
        return render(
            self.ctx,
            "customer_duplicates.html",
            pairs=[(a, b, i18n.shown(reason)) for a, b, reason in pairs],
            class_names=CLASS_NAMES,
        )

    @page(*MERGERS, methods=("POST",))
    def merge(self, **params: Any) -> None:
        """Merge ``duplicate`` into ``survivor``: its numbers, calls and timeline follow."""

        def work() -> str:
            survivor = f.optional_id(params, "survivor", i18n._("Keep"))
            duplicate = f.optional_id(params, "duplicate", i18n._("Merge"))
            if survivor is None or duplicate is None or survivor == duplicate:
                raise f.FormError(i18n._("Choose two different customers."))
            self.ctx.call(self.store.merge, _user_name(), survivor, duplicate)
            return i18n._("Customer #{duplicate} merged into #{survivor}.").format(
                duplicate=duplicate, survivor=survivor
            )

        f.finish("/customers/duplicates", work)

    # ---- import and export ------------------------------------------------------------------

    @page(*MERGERS)
    def transfer(self, job: Any = "") -> str:
        """Import (a file's progress and bad rows) and, for admins, export."""
        upload = self.uploads.get(job) if isinstance(job, str) and job else None
        if upload is None or upload.kind != "customers":
            upload = self.uploads.latest("customers")
        return render(
            self.ctx,
            "customer_transfer.html",
            upload=upload_json(upload) if upload is not None else None,
            defs=self._defs(),
            max_mb=MAX_UPLOAD_BYTES // (1024 * 1024),
            is_admin=_role() in ADMINS,
            formats=customer_export.FORMATS,
        )

    @page(*MERGERS, methods=("POST",))
    @cherrypy.config(**{"request.body.maxbytes": MAX_UPLOAD_BYTES + 64 * 1024})
    def upload(self, **params: Any) -> None:
        """A CSV or XLSX file of customers (multipart ``file``) imported in a thread."""
        session = current_session()
        part = params.get("file")
        if part is None or isinstance(part, list | str) or getattr(part, "file", None) is None:
            session.flash.append(i18n._("Choose a CSV or XLSX file to upload."))
            raise cherrypy.HTTPRedirect("/customers/transfer", 303)
        name = Path(str(part.filename or "customers").replace("\\", "/")).name[:128] or "customers"
        user = session.user
        assert user is not None
        sink = ConnectorSink(self.ctx.db, self.ctx.reactor)
        defs = self._defs()
        store = self.store
        actor = user.username

        def make_job(file: Any) -> CustomerImportJob:
            return CustomerImportJob(
                file,
                sink,
                defs,
                actor=actor,
                source_name=name,
                country_code=store.country_code,
                trunk_prefix=store.trunk_prefix,
            )

        try:
            upload = self.uploads.start("customers", user.id, None, name, part.file, make_job)
        except UploadRefused as exc:
            session.flash.append(i18n.error(exc))
            raise cherrypy.HTTPRedirect("/customers/transfer", 303) from None
        part.file = None  # the job owns (and closes) the temporary file now
        f.audit(self.ctx, "customers.import", f"file:{name}")
        raise cherrypy.HTTPRedirect(f"/customers/transfer?job={upload.token}", 303)

    @api(*MERGERS)
    @cherrypy.tools.json_out()
    def progress(self, job: Any = "") -> dict[str, Any]:
        upload = self.uploads.get(job) if isinstance(job, str) else None
        if upload is None or upload.kind != "customers":
            raise cherrypy.NotFound()
        return upload_json(upload)

    @page(*ADMINS)
    def export(self, format: Any = "csv") -> Any:
        """Every customer as CSV or XLSX (formula cells escaped), written to a temporary
        file first, then streamed."""
        if format not in customer_export.FORMATS:
            raise cherrypy.HTTPError(400, i18n._("Export: CSV or XLSX."))
        fmt = str(format)
        sink = ConnectorSink(self.ctx.db, self.ctx.reactor)
        defs = self._defs()
        fd, tmp = tempfile.mkstemp(prefix="ccbox-customers-", suffix=f".{fmt}")
        os.close(fd)
        try:
            n = customer_export.export_customers(sink, defs, fmt, tmp)
            out = open(tmp, "rb")  # noqa: SIM115 (streamed, closed at its end)
        finally:
            os.unlink(tmp)  # the open file stays readable
        f.audit(self.ctx, "customers.export", "customers", format=fmt, rows=n)
        response = cherrypy.serving.response
        response.headers["Content-Type"] = (
            "text/csv; charset=utf-8"
            if fmt == "csv"
            else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        name = customer_export.file_name(fmt, dt.datetime.now(dt.UTC))
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        response.headers["Content-Length"] = str(os.fstat(out.fileno()).st_size)
        return _chunks(out)

    export._cp_config = {"response.stream": True}  # type: ignore[attr-defined]

    # ---- erasure ----------------------------------------------------------------------------

    @page(*ADMINS, methods=("GET", "POST"))
    def erase(self, **params: Any) -> Any:
        """GET: what erasing the customer removes, and a confirm form; POST (``confirm``
        ticked): erase it."""
        if cherrypy.serving.request.method == "GET":
            customer = self._customer(f.page_id(params.get("id", "")))
            cc, tp = self.ctx.config.crm.country_code, self.ctx.config.crm.trunk_prefix
            counts: dict[str, int] = self.ctx.call(
                self.ctx.db.run,
                lambda conn: timeline.counts(conn, customer.id, cc, tp),
            )
            return render(
                self.ctx,
                "customer_erase.html",
                customer=customer,
                counts=[(i18n.shown(KIND_NAMES[k]), n) for k, n in counts.items() if n],
                limit=timeline.COUNT_LIMIT,
            )
        customer = self._customer(f.target_id(params))
        session = current_session()
        if not f.checkbox(params, "confirm"):
            session.flash.append(i18n._("Tick the box to confirm the erasure."))
            raise cherrypy.HTTPRedirect(f"/customers/erase?id={customer.id}", 303)
        ip = cherrypy.serving.request.remote.ip or ""
        erased: Erased = self.ctx.call(self.store.erase, _user_name(), customer.id, None, ip)
        session.flash.append(
            i18n._(
                "Customer #{id} erased: {recordings} recordings and {voicemails} voicemail"
                " messages removed, the numbers of {calls} calls masked."
            ).format(
                id=customer.id,
                recordings=erased.recordings,
                voicemails=erased.voicemails,
                calls=erased.calls,
            )
        )
        raise cherrypy.HTTPRedirect("/customers", 303)


class FieldPages:
    """/customers/fields: the custom fields' definitions (admin)."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    def _page(self, errors: dict[str, Any], values: dict[str, str], status: int = 200) -> str:
        cherrypy.serving.response.status = status
        return render(
            self.ctx,
            "customer_fields.html",
            rows=self.ctx.call(FieldAdmin(self.ctx.db).rows),
            kinds=[(k, i18n.shown(FIELD_KIND_NAMES[k])) for k in FIELD_KINDS],
            kind_names={k: i18n.shown(v) for k, v in FIELD_KIND_NAMES.items()},
            errors=errors,
            values=values,
        )

    @page(*ADMINS)
    def index(self) -> str:
        return self._page({}, {})

    @page(*ADMINS, methods=("POST",))
    def save(self, **params: Any) -> Any:
        """Add a field (no ``id``) or change one; its errors shown beside its inputs."""
        admin = FieldAdmin(self.ctx.db)
        try:
            raw_id = f.optional_id(params, "id", "id")
            key = f.text(params, "key", i18n._("Key"), 32)
            label = f.text(params, "label", i18n._("Label"), 128)
            kind = f.text(params, "kind", i18n._("Kind"), 16)
            choices_text = f.text(params, "choices", i18n._("Choices"), 13_000)
            position = f.text(params, "position", i18n._("Position"), 6) or "0"
        except f.FormError as exc:
            current_session().flash.append(i18n.error(exc))
            raise cherrypy.HTTPRedirect("/customers/fields", 303) from None
        choices = tuple(c.strip() for c in choices_text.split("\n") if c.strip())
        definition = FieldDef(
            key, label, kind, choices if kind == "choice" else (), f.checkbox(params, "required")
        )
        try:
            self.ctx.call(
                admin.save,
                _user_name(),
                raw_id,
                definition,
                int(position) if position.lstrip("-").isdigit() else 0,
                f.checkbox(params, "active") if raw_id is not None else True,
            )
        except FieldErrors as exc:
            values = {"key": key, "label": label, "kind": kind, "choices": choices_text}
            return self._page({"id": raw_id, **field_errors(exc)}, values, 400)
        current_session().flash.append(i18n._("Field {label} saved.").format(label=label))
        raise cherrypy.HTTPRedirect("/customers/fields", 303)


def _chunks(out: Any, size: int = 64 * 1024) -> Any:
    with out:
        while chunk := out.read(size):
            yield chunk
