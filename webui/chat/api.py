"""``/chat/api/*``: what the widget calls. Each handler checks its input
(webui/chat/inputs.py), its rate limit and the visitor's token, then asks the channels'
engine (acd/channels/service.py); the engine's refusals (``ChannelError``) come back as
409 with their message.

The visitor's token comes in ``X-Chat-Token`` (``?t=`` for the stream only: EventSource
cannot send headers). Files: an attachment is checked by its content with the box's upload
checks (appliance/uploads.py) and only images, PDF and plain text are taken; a file is
served only to the visitor of its conversation, as a download.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from twisted.internet import defer, threads
from twisted.logger import Logger
from twisted.web import resource, server
from twisted.web.resource import IResource

from acd.channels.errors import ChannelError
from appliance import uploads
from appliance.config import ChatConfig, SmtpConfig
from appliance.db.chat_public_store import ChatPublicStore
from appliance.db.connector import DatabaseStopped
from ivr import mail_notify
from webui import i18n
from webui.chat import inputs, transcript
from webui.chat.inputs import BadInput
from webui.chat.limits import RateLimit, address_key
from webui.chat.site import error, json_answer
from webui.requests_in_flight import RETRY_AFTER_S, RequestsInFlight, ask_to_retry

if TYPE_CHECKING:
    from webui.chat.site import PublicChatRoot
    from webui.chat.stream import StreamHub
    from webui.chat.visitors import VisitorSession

log = Logger(namespace="ccbox.web.chat")

# What a visitor may attach (appliance/uploads.py names the type from the content).
CHAT_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"}
)
# A name that says one of these types must hold it (a script named .png is refused; a
# PNG named .exe is a PNG).
NAMED_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "pdf": "application/pdf",
    "txt": "text/plain",
}
FILE_NAME_MAX = 200
# Files one chat may store (each up to max_attachment_kb): the box's disk is the calls'
# recordings' too, and the message rate alone let one chat store gigabytes an hour.
FILES_PER_CHAT = 20
MAX_STREAMS_PER_VISITOR = 4
LOCALES = {"zh": "zh_CN", "en": "en"}


STAFF_SENDERS = frozenset({"agent", "supervisor"})
# typing and read marks: a widget sends a few a minute; more is someone flooding the desk
EVENTS_PER_MINUTE = 120
# Sessions held (chats going on or ended within the hour) per stream allowed at once.
SESSIONS_PER_STREAM = 4
# The answer while the daemon stops (a restart takes a few seconds).
STOPPING = "the chat is restarting; try again in a moment"


def stopping(request: Any) -> bytes:
    """The 503 of a call that comes while the site stops."""
    ask_to_retry(request)
    return error(request, 503, STOPPING, "stopping")


class Limited(BadInput):
    def __init__(self, retry_after: float, message: str) -> None:
        super().__init__(429, message, "rate_limited")
        self.retry_after = retry_after


class Restarting(Limited):
    """A token asked for before the last run's sessions are read back: not "unknown" (the
    widget would end the chat), but a moment to wait."""

    def __init__(self) -> None:
        super().__init__(RETRY_AFTER_S, STOPPING)
        self.status, self.code = 503, "stopping"


@dataclass
class ChatEndpointState:
    """What every handler shares: the engine, the sessions, the limits, the stores."""

    root: PublicChatRoot
    channels: Any  # acd.channels.service.ChannelService
    config: ChatConfig
    smtp: SmtpConfig
    store: ChatPublicStore
    files: uploads.UploadStore
    hub: StreamHub
    reactor: Any

    def __post_init__(self) -> None:
        cfg = self.config
        self.per_visitor = RateLimit(self.reactor, max(1, cfg.messages_per_minute), 60.0)
        self.per_address = RateLimit(self.reactor, max(1, cfg.chats_per_hour), 3600.0)
        self.per_visitor_events = RateLimit(self.reactor, EVENTS_PER_MINUTE, 60.0)
        # the calls running: the service's stop lets them finish before the engine stops
        self.in_flight = RequestsInFlight(self.reactor)

    def session(self, request: Any, *, query: bool = False) -> VisitorSession:
        # A token is good only from the site it was given to (another allowed site's page
        # that got hold of it is a stranger).
        s = self.root.visitor(request, query=query)
        if s is None:
            if not self.root.visitors.restored:
                raise Restarting()
            raise BadInput(401, "this chat is not known (start a new one)", "token")
        return s

    def open_session(self, request: Any) -> VisitorSession:
        s = self.session(request)
        if s.ended:
            raise BadInput(410, "this chat has ended", "ended")
        return s

    def visitor_limit(self, s: VisitorSession) -> None:
        wait = self.per_visitor.hit(s.key)
        if wait:
            raise Limited(wait, "you are sending too fast; wait a moment")

    def events_limit(self, s: VisitorSession) -> None:
        wait = self.per_visitor_events.hit(s.key)
        if wait:
            raise Limited(wait, "you are sending too fast; wait a moment")

    def address_limit(self, request: Any) -> None:
        wait = self.per_address.hit(address_key(self.root.address(request)))
        if wait:
            raise Limited(wait, "too many chats from your address; try again later")


class Endpoint(resource.Resource):
    """One API call: JSON in (or a file), JSON out; errors as ``{"error", "code"}``."""

    isLeaf = True
    method = b"POST"

    def __init__(self, state: ChatEndpointState) -> None:
        super().__init__()
        self.state = state

    async def handle(self, request: Any) -> tuple[int, dict[str, Any]] | None:
        """The status and the JSON to answer; None when the handler wrote its answer."""
        raise NotImplementedError

    def body(self, request: Any) -> dict[str, Any]:
        request.content.seek(0)
        raw = request.content.read(inputs.JSON_MAX + 1)
        return inputs.json_object(raw, request.getHeader(b"content-type"))

    def render(self, request: Any) -> Any:
        if request.method != self.method:
            request.setHeader(b"Allow", self.method)
            return error(request, 405, f"{self.method.decode()} only", "method")
        return self.respond(request, self.handle)

    def respond(
        self, request: Any, handler: Callable[[Any], Awaitable[tuple[int, dict[str, Any]] | None]]
    ) -> Any:
        if self.state.in_flight.closed:
            return stopping(request)
        gone: list[bool] = []
        request.notifyFinish().addBoth(lambda _: gone.append(True))

        async def run() -> None:
            try:
                answer = await handler(request)
                if answer is None:
                    return
                status, data = answer
            except Limited as e:
                request.setHeader(b"Retry-After", str(int(e.retry_after)).encode())
                status, data = e.status, {"error": e.message, "code": e.code}
            except BadInput as e:
                status, data = e.status, {"error": e.message, "code": e.code}
            except ChannelError as e:
                status, data = 409, {"error": e.message, "code": "refused"}
            except DatabaseStopped:  # the stop's wait for this call ran out (in_flight)
                log.info("chat API {path}: cut short by the stop", path=request.path[:100])
                ask_to_retry(request)
                status, data = 503, {"error": STOPPING, "code": "stopping"}
            except Exception:
                log.failure("chat API {path} failed", path=request.path[:100])
                status, data = 500, {"error": "the chat is not available now", "code": "error"}
            if not gone:
                body = json_answer(request, status, data)
                # with its length the answer goes as one write, not a chunk and a last chunk
                request.setHeader(b"Content-Length", b"%d" % len(body))
                request.write(body)
                request.finish()

        ended = self.state.in_flight.begin()
        defer.ensureDeferred(run()).addBoth(ended)
        return server.NOT_DONE_YET


class ConfigEndpoint(Endpoint):
    method = b"GET"

    async def handle(self, request: Any) -> tuple[int, dict[str, Any]]:
        lang = inputs.language((request.args.get(b"lang") or [b""])[0].decode("ascii", "replace"))
        cfg = self.state.config
        topics = [
            {"id": t.id, "label": t.label or t.name, "on_duty": bool(t.on_duty)}
            for t in self.state.channels.topics(lang)
        ]
        return 200, {
            "topics": topics,
            "languages": list(inputs.LANGUAGES),
            "limits": {
                "max_message_chars": cfg.max_message_chars,
                "max_attachment_kb": cfg.max_attachment_kb,
                "messages_per_minute": cfg.messages_per_minute,
                "name_max": inputs.NAME_MAX,
                "phone_max": inputs.PHONE_MAX,
                "email_max": inputs.EMAIL_MAX,
            },
            "attachment_types": sorted(CHAT_TYPES),
            "transcript": bool(self.state.smtp.host),
        }


class StartEndpoint(Endpoint):
    async def handle(self, request: Any) -> tuple[int, dict[str, Any]]:
        st = self.state
        body = self.body(request)
        topic_id = inputs.integer(body, "topic_id")
        name, phone, email = inputs.contact(body)
        lang = inputs.language(body.get("language"))
        st.address_limit(request)
        if len(st.root.visitors) >= st.config.max_visitors * SESSIONS_PER_STREAM:
            raise BadInput(503, "too many visitors now; try again later", "busy")
        origin: str = request.chat_origin
        conv = await st.channels.start_chat(
            topic_id=topic_id,
            name=name,
            phone=phone,
            email=email,
            language=lang,
            origin=origin,
        )
        s = st.root.visitors.add(
            conv.id,
            address=st.root.address(request),
            origin=origin,
            name=name,
            email=email,
            language=lang,
        )
        return 200, {"token": s.token, "conversation": conv.id, "state": conv.state}


class LeaveMessageEndpoint(Endpoint):
    async def handle(self, request: Any) -> tuple[int, dict[str, Any]]:
        st = self.state
        body = self.body(request)
        topic_id = inputs.integer(body, "topic_id")
        name, phone, email = inputs.contact(body)
        text = inputs.message_text(body, "text", st.config.max_message_chars)
        if not text:
            raise BadInput(400, "write your message", "required")
        lang = inputs.language(body.get("language"))
        st.address_limit(request)
        origin: str = request.chat_origin
        ticket = await st.channels.leave_message(
            topic_id=topic_id,
            name=name,
            phone=phone,
            email=email,
            language=lang,
            origin=origin,
            text=text,
        )
        number = await st.store.ticket_number(ticket)
        return 200, {"ticket": ticket, "number": number or str(ticket)}


class SendEndpoint(Endpoint):
    async def handle(self, request: Any) -> tuple[int, dict[str, Any]]:
        st = self.state
        s = st.open_session(request)
        body = self.body(request)
        text = inputs.message_text(body, "text", st.config.max_message_chars)
        attachment_ids = inputs.ids(body, "attachments")
        if not text and not attachment_ids:
            raise BadInput(400, "the message is empty", "required")
        if any(a not in s.attachments for a in attachment_ids):
            raise BadInput(404, "no such attachment in this chat", "attachment")
        st.visitor_limit(s)
        message = await st.channels.customer_says(s.conversation_id, text, attachment_ids)
        s.attachments.difference_update(attachment_ids)
        return 200, {"message": message.to_dict()}


class TypingEndpoint(Endpoint):
    async def handle(self, request: Any) -> tuple[int, dict[str, Any]]:
        s = self.state.open_session(request)
        typing = inputs.flag(self.body(request), "typing")
        self.state.events_limit(s)
        self.state.channels.customer_typing(s.conversation_id, typing)
        return 200, {"ok": True}


class PingEndpoint(Endpoint):
    """``GET /chat/api/ping``: whether the token's chat is on (200), over (410) or unknown
    (401), and nothing else: the widget asks it when its stream is refused (busy, too
    many windows), instead of a typing mark that reached the agent's desk every time."""

    method = b"GET"

    async def handle(self, request: Any) -> tuple[int, dict[str, Any]]:
        self.state.open_session(request)
        return 200, {"ok": True}


class ReadEndpoint(Endpoint):
    async def handle(self, request: Any) -> tuple[int, dict[str, Any]]:
        s = self.state.open_session(request)
        up_to = inputs.integer(self.body(request), "up_to")
        assert up_to is not None
        self.state.events_limit(s)
        await self.state.channels.customer_read(s.conversation_id, up_to)
        return 200, {"ok": True}


class EndEndpoint(Endpoint):
    async def handle(self, request: Any) -> tuple[int, dict[str, Any]]:
        st = self.state
        s = st.session(request)
        if not s.ended:
            st.root.visitors.mark_ended(s.conversation_id)
            with contextlib.suppress(ChannelError):  # the agent ended it first: over anyway
                await st.channels.customer_left(s.conversation_id)
        return 200, {"ok": True}


class TranscriptEndpoint(Endpoint):
    async def handle(self, request: Any) -> tuple[int, dict[str, Any]]:
        st = self.state
        s = st.session(request)
        if not s.email:
            raise BadInput(409, "no e-mail address was given for this chat", "no_email")
        if not st.smtp.host:
            raise BadInput(503, "e-mail is not set up on this service", "no_mail")
        if s.transcript_sent:
            raise BadInput(409, "the transcript was already sent", "already_sent")
        history = await st.channels.history(s.conversation_id, limit=1000)
        # Only a conversation someone of the center took part in: else the endpoint would
        # mail a stranger's text from the center's address to any address given.
        if not any(m.sender in STAFF_SENDERS and not m.internal for m in history):
            raise BadInput(409, "nothing to send yet: no agent has answered", "no_transcript")
        if not await st.store.mark_transcript(s.conversation_id, s.email):
            s.transcript_sent = True
            raise BadInput(409, "the transcript was already sent", "already_sent")
        s.transcript_sent = True
        msg = transcript.build(st.smtp, s.email, s.language, history)
        # Answered once the mail server took it (at most [smtp] timeout_s): a mail that
        # did not go is not "sent", and the visitor may ask again.
        if not await mail_notify.send(st.reactor, st.smtp, [s.email], msg, "chat transcript"):
            await st.store.unmark_transcript(s.conversation_id)
            s.transcript_sent = False
            raise BadInput(502, "the transcript could not be sent; try again later", "mail_failed")
        return 200, {"sent_to": s.email}


class AttachEndpoint(Endpoint):
    """The file is the body itself (any Content-Type), its name in ``?name=``."""

    async def handle(self, request: Any) -> tuple[int, dict[str, Any]]:
        st = self.state
        s = st.open_session(request)
        if s.files_stored >= FILES_PER_CHAT:
            raise BadInput(413, f"a chat may hold {FILES_PER_CHAT} files", "too_many_files")
        limit = st.config.max_attachment_kb * 1024
        request.content.seek(0)
        data = request.content.read(limit + 1)
        if len(data) > limit:
            raise BadInput(
                413, f"the file is larger than {st.config.max_attachment_kb} KB", "too_large"
            )
        raw_name = (request.args.get(b"name") or [b"file"])[0][: FILE_NAME_MAX * 4]
        try:
            name = raw_name.decode("utf-8")
        except UnicodeDecodeError:
            raise BadInput(400, "the file name is not UTF-8", "encoding") from None
        st.visitor_limit(s)
        tr = i18n.translator(LOCALES.get(s.language, "en"))

        def check_and_put() -> uploads.StoredFile:
            mime = st.files.check(data)
            if mime not in CHAT_TYPES:
                raise uploads.UploadRefused(
                    "only images (PNG, JPEG, GIF, WebP), PDF and text are accepted"
                )
            claimed = NAMED_TYPES.get(name.rsplit(".", 1)[-1].lower()) if "." in name else None
            if claimed is not None and claimed != mime:
                raise uploads.UploadRefused("the file is not what its name says")
            return st.files.put(data, name)

        try:
            stored = await threads.deferToThread(check_and_put)
        except uploads.UploadRefused as e:
            raise BadInput(415, tr(e.args[0]), "file_type") from None
        s.files_stored += 1
        file_name = stored.filename[:FILE_NAME_MAX]
        row = await st.channels.add_attachment(
            s.conversation_id,
            file_name=file_name,
            content_type=stored.mime,
            size=stored.size,
            sha256=stored.sha256,
        )
        attachment_id = int(row.id)
        s.attachments.add(attachment_id)
        return 200, {
            "id": attachment_id,
            "file_name": file_name,
            "content_type": stored.mime,
            "size": stored.size,
        }


class FileEndpoint(Endpoint):
    """``GET /chat/api/file/<id>``: a file of the visitor's own conversation, downloaded."""

    method = b"GET"

    async def handle(self, request: Any) -> tuple[int, dict[str, Any]] | None:
        st = self.state
        s = st.session(request)
        raw = request.postpath[0] if len(request.postpath) == 1 else b""
        if not raw.isdigit() or len(raw) > 10:
            raise BadInput(404, "no such file", "not_found")
        row = await st.store.attachment(int(raw))
        if row is None or row.conversation_id != s.conversation_id:
            raise BadInput(404, "no such file", "not_found")
        path = st.files.path(row.sha256)
        if path is None:
            raise BadInput(404, "no such file", "not_found")

        def read_intact() -> bytes | None:  # a file of megabytes: read and hashed off the reactor
            data = path.read_bytes()
            return data if hashlib.sha256(data).hexdigest() == row.sha256 else None

        data = await threads.deferToThread(read_intact)
        if data is None:
            raise BadInput(404, "no such file", "not_found")
        request.setHeader(b"Content-Type", row.content_type.encode("ascii", "replace"))
        request.setHeader(
            b"Content-Disposition",
            b"attachment; filename*=UTF-8''" + quote(row.file_name).encode("ascii"),
        )
        request.setHeader(b"X-Content-Type-Options", b"nosniff")
        if not request.finished and not getattr(request, "_disconnected", False):
            request.write(data)
            request.finish()
        return None


class StreamEndpoint(resource.Resource):
    isLeaf = True

    def __init__(self, state: ChatEndpointState) -> None:
        super().__init__()
        self.state = state

    def render(self, request: Any) -> Any:
        if request.method != b"GET":
            request.setHeader(b"Allow", b"GET")
            return error(request, 405, "GET only", "method")
        st = self.state
        try:
            s = st.session(request, query=True)
        except Limited as e:
            request.setHeader(b"Retry-After", str(int(e.retry_after)).encode())
            return error(request, e.status, e.message, e.code)
        except BadInput as e:
            return error(request, e.status, e.message, e.code)
        if s.ended:
            return error(request, 410, "this chat has ended", "ended")
        if st.in_flight.closed:
            return stopping(request)
        if len(st.hub.streams) >= st.hub.max_streams:
            return error(request, 503, "too many visitors now; try again later", "busy")
        if s.streams >= MAX_STREAMS_PER_VISITOR:
            return error(request, 429, "too many open windows for this chat", "streams")
        request.setHeader(b"Content-Type", b"text/event-stream; charset=utf-8")
        request.setHeader(b"Cache-Control", b"no-store")
        request.setHeader(b"X-Accel-Buffering", b"no")
        st.hub.open(request, s)
        return server.NOT_DONE_YET


def mount(state: ChatEndpointState) -> None:
    """Put every endpoint under the root's ``/chat/api``."""
    api = state.root.api
    for name, cls in (
        (b"config", ConfigEndpoint),
        (b"start", StartEndpoint),
        (b"leave-message", LeaveMessageEndpoint),
        (b"send", SendEndpoint),
        (b"typing", TypingEndpoint),
        (b"ping", PingEndpoint),
        (b"read", ReadEndpoint),
        (b"end", EndEndpoint),
        (b"transcript", TranscriptEndpoint),
        (b"attach", AttachEndpoint),
        (b"file", FileEndpoint),
    ):
        api.putChild(name, cast(IResource, cls(state)))
    api.putChild(b"stream", cast(IResource, StreamEndpoint(state)))
