"""The recordings JSON API: search, one recording, its audio (HTTP Range) and download.

Who sees what: admins, supervisors and QA every recording; an agent only its own agent's
(another's is 404, as if it did not exist). A file is served only for a row the index
knows, resolved under the recording root by ``recorder.storage.resolve`` (never a path
from the request), read in bounded chunks in the WSGI thread. Listening and downloading
are written to the audit log.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cherrypy
from twisted.internet import threads
from twisted.logger import Logger

from appliance.db.recording_search import RecordingPage, RecordingQuery
from appliance.hardware.trunks import GROUP_RE, trunk_label
from appliance.text import N_
from recorder import encryption, storage
from webui import access, audit_trail, i18n
from webui.access import api, current_session
from webui.context import WebContext

if TYPE_CHECKING:
    from appliance.db.recording_store import RecordingRow

log = Logger(namespace="ccbox.web.recordings")
EVERY_RECORDING = ("admin", "supervisor", "qa")
CHUNK = 64 * 1024  # bytes read and written at a time
# An open-ended range ("bytes=a-") is answered with at most this much; the player asks for
# the next part itself, so a paused player never makes the server hold a whole file.
MAX_PART = 1024 * 1024
MAX_ID = 2**31 - 1
EMPTY_PAGE = RecordingPage([], 0, False)

# Query parameter -> (RecordingQuery field, kind). Every other parameter is refused.
FIELDS: dict[str, tuple[str, str]] = {
    "start": ("start", "start"),
    "end": ("end", "end"),
    "channel": ("channel_number", "int"),
    "group": ("trunk_group", "group"),
    "agent": ("agent_id", "int"),
    "queue": ("queue_id", "int"),
    "caller": ("caller", "text"),
    "called": ("called", "text"),
    "min_duration_s": ("min_duration_ms", "seconds"),
    "max_duration_s": ("max_duration_ms", "seconds"),
    "talk_over": ("talk_over", "bool"),
    "min_score": ("min_score", "float"),
    "max_score": ("max_score", "float"),
    "sort": ("sort", "text"),
    "desc": ("descending", "bool"),
    "limit": ("limit", "int"),
    "offset": ("offset", "int"),
}
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
INT_RE = re.compile(r"-?[0-9]{1,10}")
ID_RE = re.compile(r"-?[0-9]{1,20}")  # a number, however large (too large: no such id)
FLOAT_RE = re.compile(r"-?[0-9]{1,6}(\.[0-9]{1,6})?")
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class BadField(ValueError):
    """A query parameter that cannot be used; the message names it."""


def _when(name: str, text: str) -> dt.datetime:
    """ISO 8601 with a time zone, or a date (UTC midnight; as ``end``, the day after, so
    that ``end=2026-03-01`` includes that day)."""
    try:
        if DATE_RE.fullmatch(text):
            day = dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), dt.UTC)
            return day + dt.timedelta(days=1) if name == "end" else day
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadField(
            N_("{name} must be a date or an ISO 8601 time with a time zone", name=name)
        ) from None
    if value.tzinfo is None:
        raise BadField(N_("{name} must carry a time zone (…Z or …+08:00)", name=name))
    return value.astimezone(dt.UTC)


def _value(name: str, kind: str, text: str) -> Any:
    if kind in ("start", "end"):
        return _when(name, text)
    if kind == "text":
        if len(text) > 80:
            raise BadField(N_("{name} must be at most 80 characters", name=name))
        return text
    if kind == "group":  # a DAHDI trunk group's name ([dahdi] groups)
        if not GROUP_RE.fullmatch(text):
            raise BadField(N_("{name} must be a trunk group (letters, digits, _ and -)", name=name))
        return text
    if kind == "bool":
        if text.lower() in TRUE:
            return True
        if text.lower() in FALSE:
            return False
        raise BadField(N_("{name} must be true or false", name=name))
    if kind in ("int", "seconds"):
        if not INT_RE.fullmatch(text) or not -MAX_ID <= int(text) <= MAX_ID:
            raise BadField(N_("{name} must be a whole number", name=name))
        return int(text) * 1000 if kind == "seconds" else int(text)
    if not FLOAT_RE.fullmatch(text):
        raise BadField(N_("{name} must be a number", name=name))
    return float(text)


def parse_query(params: dict[str, Any]) -> RecordingQuery:
    """A RecordingQuery from request parameters, strictly: unknown names, repeated fields
    and values of the wrong kind are BadField; empty values are "any"."""
    values: dict[str, Any] = {}
    for name, raw in params.items():
        if name not in FIELDS:
            raise BadField(N_("unknown field {name!r}", name=name[:40]))
        if not isinstance(raw, str):
            raise BadField(N_("{name} must be sent once", name=name))
        text = raw.strip()
        if text:
            field, kind = FIELDS[name]
            values[field] = _value(name, kind, text)
    try:
        return RecordingQuery(**values)
    except TypeError as exc:  # pragma: no cover - FIELDS names RecordingQuery's fields
        raise BadField(str(exc)) from None


def recording_json(r: RecordingRow, peaks: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": r.id,
        "call_id": r.call_id,
        "started_at": r.started_at.isoformat(),
        "duration_ms": r.duration_ms,
        "size_bytes": r.size_bytes,
        "format": r.format,
        "agent_id": r.agent_id,
        "queue_id": r.queue_id,
        "direction": r.direction,
        "caller_number": r.caller_number,
        "caller_name": r.caller_name,
        "called_number": r.called_number,
        "trunk": r.trunk,
        "channel_number": r.channel_number,
        "trunk_group": r.trunk_group,
        "trunk_label": trunk_label(r.trunk_group, r.channel_number),
        "reason": r.reason,
        "talk_over_ratio": r.talk_over_ratio,
        "silence_ratio": r.silence_ratio,
        "caller_talk_ratio": r.caller_talk_ratio,
        "agent_talk_ratio": r.agent_talk_ratio,
        "legs_mismatch_ms": r.legs_mismatch_ms,
        "paused_ms": r.paused_ms,
        "encrypted": r.encrypted,
        "archived": r.archived_at is not None,
        "qa_score": r.qa_score,
    }
    if peaks:
        out["peaks"] = r.peaks
    return out


class Unsatisfiable(Exception):
    """A Range no byte of the file satisfies (416)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range (first, last; inclusive) a Range header asks for, or None for
    the whole file (no header, one we do not parse, several ranges)."""
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_text, dash, last_text = spec.strip().partition("-")
    first_text, last_text = first_text.strip(), last_text.strip()
    if not dash or not (first_text or last_text):
        return None
    if not all(
        t.isascii() and t.isdigit() and len(t) <= 18 for t in (first_text or "0", last_text or "0")
    ):
        return None
    if not first_text:  # bytes=-n: the last n bytes
        n = int(last_text)
        if n == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - n), size - 1
    first = int(first_text)
    if first >= size:
        raise Unsatisfiable
    if not last_text:
        return first, min(size - 1, first + MAX_PART - 1)
    last = int(last_text)
    if last < first:
        return None  # invalid: ignored, as RFC 9110 says
    return first, min(last, size - 1)


@dataclass(frozen=True)
class Viewer:
    """Whose recordings the current user may see: ``agent_id`` None means everyone's."""

    everything: bool
    agent_id: int | None


class RecordingAccess:
    """The checks both the API and the pages make."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    @property
    def db(self) -> Any:
        return self.ctx.db

    def viewer(self) -> Viewer:
        user = current_session().user
        assert user is not None
        if user.role in EVERY_RECORDING:
            return Viewer(True, None)
        agent = self.ctx.acd.agent_of_user(user.id)
        return Viewer(False, agent.id if agent is not None else None)

    def search(self, query: RecordingQuery) -> RecordingPage:
        """Raises ValueError for a query the search cannot take."""
        viewer = self.viewer()
        if not viewer.everything and viewer.agent_id is None:
            return EMPTY_PAGE
        page: RecordingPage = self.ctx.call(self.db.recording_search.search, query, viewer.agent_id)
        return page

    def recording(self, recording_id: Any) -> RecordingRow:
        if not isinstance(recording_id, str) or not ID_RE.fullmatch(recording_id.strip()):
            raise cherrypy.HTTPError(400, i18n._("id must be a whole number"))
        number = int(recording_id)
        row = self.ctx.call(self.db.recordings.get, number) if 0 < number <= MAX_ID else None
        viewer = self.viewer()
        mine = viewer.agent_id is not None and row is not None and row.agent_id == viewer.agent_id
        if row is None or not (viewer.everything or mine):
            raise cherrypy.HTTPError(404, i18n._("no such recording"))
        visible: RecordingRow = row
        return visible

    def open_audio(self, row: RecordingRow) -> storage.StoredAudio:
        """The recording's file, opened; 404 unless it is a file under the recording root."""
        path = storage.resolve(self.ctx.config.recording_dir, row.path)
        if path is None:
            log.warn(
                "recording {id}: {path!r} is not a file under the root", id=row.id, path=row.path
            )
            raise cherrypy.HTTPError(404, i18n._("the recording's file is missing"))
        key = self.ctx.recorder.key if row.encrypted else None
        try:
            audio: storage.StoredAudio = self.ctx.call(
                threads.deferToThread, storage.open_stored, path, row.format, row.encrypted, key
            )
        except encryption.KeyFileError as exc:
            log.error("recording {id}: {exc}", id=row.id, exc=exc)
            raise cherrypy.HTTPError(
                503, i18n._("the recording is encrypted and no key is set")
            ) from None
        except (OSError, ValueError) as exc:  # damaged, another key's, gone meanwhile
            log.warn("recording {id} cannot be opened: {exc}", id=row.id, exc=exc)
            raise cherrypy.HTTPError(404, i18n._("the recording's file cannot be read")) from None
        return audio

    def audit(self, action: str, row: RecordingRow, **detail: Any) -> None:
        audit_trail.record(self.ctx, action, f"recording:{row.id}", detail)


def stream(audio: storage.StoredAudio, first: int, last: int) -> Iterator[bytes]:
    """Bytes ``first``..``last`` of ``audio`` in CHUNK pieces; closes it at the end or when
    the client goes away."""
    try:
        offset = first
        while offset <= last:
            data = audio.read(offset, min(CHUNK, last - offset + 1))
            if not data:
                break
            yield data
            offset += len(data)
    finally:
        audio.close()


def _as_json_errors(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except cherrypy.HTTPError as exc:
        access.json_error(exc.status, exc._message or N_("error"))


def download_name(row: RecordingRow) -> str:
    fmt = row.format if row.format.isascii() and row.format.isalnum() else "bin"
    return f"recording-{row.id}-{row.started_at.strftime('%Y%m%d-%H%M%S')}.{fmt[:8]}"


class RecordingApi:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.access = RecordingAccess(ctx)

    @api()
    @cherrypy.tools.json_out()
    def index(self, **params: Any) -> dict[str, Any]:
        try:
            query = parse_query(params)
            page = self.access.search(query)
        except ValueError as exc:
            access.json_error(400, exc)
        return {
            "rows": [recording_json(r) for r in page.rows],
            "total": page.total,
            "total_capped": page.total_capped,
            "limit": query.limit,
            "offset": query.offset,
        }

    @api()
    @cherrypy.tools.json_out()
    def get(self, id: Any = "") -> dict[str, Any]:
        return recording_json(_as_json_errors(self.access.recording, id), peaks=True)

    @api()
    def audio(self, id: Any = "") -> Iterator[bytes] | bytes:
        """The file for the player, with HTTP Range; a listen from the start is audited."""
        row: RecordingRow = _as_json_errors(self.access.recording, id)
        audio: storage.StoredAudio = _as_json_errors(self.access.open_audio, row)
        request, response = cherrypy.serving.request, cherrypy.serving.response
        header = request.headers.get("Range")
        try:
            wanted = parse_range(header, audio.size)
        except Unsatisfiable:
            audio.close()
            response.status = 416
            response.headers["Content-Range"] = f"bytes */{audio.size}"
            response.headers["Accept-Ranges"] = "bytes"
            response.headers["Content-Type"] = "application/json"
            return b'{"error": "range not satisfiable"}'
        first, last = wanted if wanted is not None else (0, audio.size - 1)
        if first == 0:
            try:
                self.access.audit("recording.listen", row, range=(header or "")[:64])
            except BaseException:
                audio.close()
                raise
        if wanted is not None:
            response.status = 206
            response.headers["Content-Range"] = f"bytes {first}-{last}/{audio.size}"
        response.headers["Content-Type"] = audio.content_type
        response.headers["Content-Length"] = str(max(0, last - first + 1))
        response.headers["Accept-Ranges"] = "bytes"
        return stream(audio, first, last)

    audio._cp_config = {"response.stream": True}  # type: ignore[attr-defined]

    @api()
    def download(self, id: Any = "") -> Iterator[bytes]:
        row: RecordingRow = _as_json_errors(self.access.recording, id)
        audio: storage.StoredAudio = _as_json_errors(self.access.open_audio, row)
        try:
            self.access.audit("recording.download", row, size=audio.size)
        except BaseException:
            audio.close()
            raise
        response = cherrypy.serving.response
        response.headers["Content-Type"] = audio.content_type
        response.headers["Content-Length"] = str(audio.size)
        response.headers["Content-Disposition"] = f'attachment; filename="{download_name(row)}"'
        return stream(audio, 0, audio.size - 1)

    download._cp_config = {"response.stream": True}  # type: ignore[attr-defined]
