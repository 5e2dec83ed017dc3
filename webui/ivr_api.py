"""The IVR over the JSON API: flows (versions, validation, publishing, try it), prompts and
voicemail. What the flow editor (webui/static/flow_editor.js) and the voicemail page call.

Flows and prompts are the admin's; voicemail is read by admins and supervisors (every
mailbox) and by an agent (the mailboxes owned by that agent's number). Handlers run in WSGI
threads; database and IVR calls are made on the reactor (``ctx.call``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import TYPE_CHECKING, Any

import cherrypy
from twisted.internet import defer, threads
from twisted.logger import Logger

from appliance.db.components import DuplicateError
from appliance.text import N_
from drivers.audio import soundcard
from ivr import flow_model, prompt_audio, tts
from ivr.flow_model import NODE_TYPES, FlowFormatError
from ivr.flows import FlowError, FlowService, check_name
from ivr.prompt_library import SYSTEM_SOUNDS
from ivr.try_run import TryRun, TryRuns
from ivr.validator import Problem
from webui import access, i18n
from webui.access import api, current_session
from webui.context import WebContext
from webui.json_body import json_object

if TYPE_CHECKING:
    from appliance.db.ivr_store import FlowRow, PromptRow

log = Logger(namespace="ccbox.web.ivr")
MAX_UPLOAD = prompt_audio.MAX_UPLOAD_BYTES
LANGUAGES = ("en", "zh")
TITLE_CHARS = 60  # of a prompt's text, when it has no label


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        access.json_error(400, N_("{name} must be a whole number", name=name))
    try:
        number = int(value)
    except (TypeError, ValueError):
        access.json_error(400, N_("{name} must be a whole number", name=name))
    if not 0 < number < 2**31:
        access.json_error(400, N_("{name} is out of range", name=name))
    return number


def _str(body: dict[str, Any], name: str, limit: int, default: str = "") -> str:
    value = body.get(name, default)
    if not isinstance(value, str) or len(value) > limit:
        access.json_error(
            400, N_("{name} must be text of at most {limit} characters", name=name, limit=limit)
        )
    return str(value)


def flow_json(f: FlowRow) -> dict[str, Any]:
    return {
        "id": f.id,
        "name": f.name,
        "description": f.description,
        "version": f.version,
        "published_version": f.published_version,
        "updated_at": f.updated_at.isoformat(),
        "updated_by": f.updated_by,
    }


def problems_json(problems: list[Problem]) -> list[dict[str, Any]]:
    """Each problem translated for the user (the template first, then its values)."""
    return [{"node": p.node, "message": i18n._(p.template).format(**p.params)} for p in problems]


def run_json(run: TryRun) -> dict[str, Any]:
    events = run.new_events(i18n._)
    return {"run": run.id, "events": events, "waiting": run.waiting, "ended": run.ended}


def prompt_title(prompt: PromptRow) -> str:
    """What a person calls a prompt (lists and pickers show it; the flows keep the id): its
    label, else the start of its text, else its id."""
    if prompt.label.strip():
        return prompt.label.strip()
    text = " ".join(prompt.text.split())
    if text:
        return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1] + "…"
    return prompt.name


class IvrApi:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.service = FlowService(ctx.ivr)
        self.tries = TryRuns(ctx.ivr)

    @property
    def db(self) -> Any:
        return self.ctx.db

    def _user(self) -> str:
        user = current_session().user
        assert user is not None
        return user.username

    def _graph(self, body: dict[str, Any]) -> dict[str, Any]:
        graph = body.get("graph")
        try:
            flow_model.parse(graph)
        except FlowFormatError as exc:
            access.json_error(400, N_("not a flow: {exc}", exc=exc))
        assert isinstance(graph, dict)
        return graph

    def _async(self, fn: Any, *args: Any) -> Any:
        return self.ctx.call(lambda: defer.ensureDeferred(fn(*args)))

    # ---- flows -----------------------------------------------------------------------------

    @api("admin")
    @cherrypy.tools.json_out()
    def catalog(self) -> dict[str, Any]:
        catalog = self._async(self.service.catalog)
        return {
            "node_types": {
                t.name: {
                    "outputs": list(t.outputs),
                    "required": list(t.required),
                    "takes_input": t.takes_input,
                    "description": i18n._(t.description),
                }
                for t in NODE_TYPES.values()
            },
            "prompts": sorted(catalog.prompts - SYSTEM_SOUNDS),
            "system_prompts": sorted(SYSTEM_SOUNDS),
            # what the editor shows for a library prompt: its title, not its id
            "prompt_titles": {p.name: prompt_title(p) for p in self.ctx.call(self.db.ivr.prompts)},
            "queues": sorted(catalog.queues),
            "mailboxes": sorted(catalog.mailboxes),
            "flows": sorted(catalog.flows),
            "languages": list(LANGUAGES),
            "menu_keys": flow_model.MENU_KEYS,
        }

    @api("admin", methods=("GET", "POST"))
    @cherrypy.tools.json_out()
    def flows(self) -> Any:
        if cherrypy.serving.request.method == "GET":
            return [flow_json(f) for f in self.ctx.call(self.db.ivr.flows)]
        body = json_object()
        name = _str(body, "name", 64)
        description = _str(body, "description", 255)
        graph = body.get("graph") or {"start": "", "nodes": [], "edges": []}
        try:
            check_name(name)
            row = self._async(self.service.create, name, graph, self._user(), description)
        except (FlowError, FlowFormatError) as exc:
            access.json_error(400, exc)
        except DuplicateError as exc:
            access.json_error(409, exc)
        log.info("{user} created flow {name}", user=self._user(), name=name)
        cherrypy.serving.response.status = 201
        return flow_json(row)

    @api("admin")
    @cherrypy.tools.json_out()
    def flow(self, id: str = "", version: str = "") -> dict[str, Any]:
        from appliance.db.ivr_store import NotFound

        flow_id = _int(id, "id")
        row = self.ctx.call(self.db.ivr.flow, flow_id)
        if row is None:
            access.json_error(404, N_("no flow {flow_id}", flow_id=flow_id))
        try:
            found = self.ctx.call(
                self.db.ivr.version, flow_id, _int(version, "version") if version else None
            )
        except NotFound as exc:
            access.json_error(404, exc)
        return {"flow": flow_json(row), "version": found.version, "graph": found.graph}

    @api("admin", methods=("POST",))
    @cherrypy.tools.json_out()
    def save(self) -> dict[str, Any]:
        body = json_object()
        flow_id = _int(body.get("id"), "id")
        graph = self._graph(body)
        try:
            version = self._async(self.service.save, flow_id, graph, self._user())
        except FlowError as exc:
            access.json_error(404, exc)
        log.info("{user} saved flow {id} version {v}", user=self._user(), id=flow_id, v=version)
        return {"version": version}

    @api("admin", methods=("POST",))
    @cherrypy.tools.json_out()
    def validate(self) -> dict[str, Any]:
        body = json_object()
        name = _str(body, "name", 64)
        problems = self._async(self.service.check, body.get("graph"), name)
        return {"problems": problems_json(problems)}

    @api("admin", methods=("POST",))
    @cherrypy.tools.json_out()
    def publish(self) -> dict[str, Any]:
        body = json_object()
        flow_id, version = _int(body.get("id"), "id"), _int(body.get("version"), "version")
        try:
            problems = self._async(self.service.publish, flow_id, version, self._user())
        except FlowError as exc:
            access.json_error(404, exc)
        if problems:
            cherrypy.serving.response.status = 422
            return {
                "error": i18n._("The flow has problems; it was not published."),
                "problems": problems_json(problems),
            }
        log.info("{user} published flow {id} version {v}", user=self._user(), id=flow_id, v=version)
        return {"published": version}

    @api("admin")
    @cherrypy.tools.json_out()
    def history(self, id: str = "") -> list[dict[str, Any]]:
        flow_id = _int(id, "id")
        row = self.ctx.call(self.db.ivr.flow, flow_id)
        if row is None:
            access.json_error(404, N_("no flow {flow_id}", flow_id=flow_id))
        return [
            {
                "version": v.version,
                "author": v.author,
                "note": v.note,
                "created_at": v.created_at.isoformat(),
                "published": v.version == row.published_version,
            }
            for v in self.ctx.call(self.db.ivr.history, flow_id)
        ]

    @api("admin", methods=("GET", "POST"))
    @cherrypy.tools.json_out()
    def dids(self) -> Any:
        """GET: the dialed numbers and their flows. POST ``{"number", "flow_id",
        "description"}``: bind a number (``*``: every number not bound otherwise) to a flow
        (``flow_id`` null: unbind, the built-in flow answers)."""
        if cherrypy.serving.request.method == "GET":
            return [
                {"number": n, "flow_id": f, "description": d}
                for n, f, d in self.ctx.call(self.db.ivr.dids)
            ]
        body = json_object()
        number = _str(body, "number", 32)
        if number != "*" and not (number.isascii() and number.isdigit()):
            access.json_error(400, N_("number must be digits, or * for every other number"))
        flow_id = body.get("flow_id")
        if flow_id is not None:
            flow_id = _int(flow_id, "flow_id")
            if self.ctx.call(self.db.ivr.flow, flow_id) is None:
                access.json_error(404, N_("no flow {flow_id}", flow_id=flow_id))
        description = _str(body, "description", 255)
        self.ctx.call(self.db.ivr.bind_did, number, flow_id, description)
        log.info(
            "{user} bound {number} to flow {flow}", user=self._user(), number=number, flow=flow_id
        )
        return {"number": number, "flow_id": flow_id, "description": description}

    @api("admin", "supervisor")
    @cherrypy.tools.json_out()
    def traffic(self, days: str = "1") -> dict[str, int]:
        """How many calls walked each node (``flow/node``) in the last ``days`` days."""
        if not days.isdigit() or not 1 <= int(days) <= 366:
            access.json_error(400, N_("days must be 1 to 366"))
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=int(days))
        counts: dict[str, int] = self.ctx.call(self.db.calls.ivr_traffic, since)
        return counts

    # ---- try it ---------------------------------------------------------------------------

    @api("admin", methods=("POST",))
    @cherrypy.tools.json_out()
    def try_(self) -> dict[str, Any]:
        body = json_object()
        graph = self._graph(body)
        try:
            run = self._async(self.tries.start, graph, _str(body, "name", 64, "draft"))
        except RuntimeError as exc:
            access.json_error(429, exc)
        return run_json(run)

    @api("admin", methods=("POST",))
    @cherrypy.tools.json_out()
    def try_input(self) -> dict[str, Any]:
        body = json_object()
        run_id = _str(body, "run", 32)
        keys = _str(body, "input", 64)
        try:
            run = self._async(self.tries.input, run_id, keys)
        except LookupError as exc:
            access.json_error(404, exc)
        return run_json(run)

    # ---- prompts --------------------------------------------------------------------------

    @api("admin", methods=("GET", "POST"))
    @cherrypy.tools.json_out()
    @cherrypy.config(**{"request.body.maxbytes": MAX_UPLOAD + 64 * 1024})
    def prompts(self, **params: Any) -> Any:
        """GET: the library. POST (multipart): ``file`` (WAV, MP3, FLAC, OGG), ``label``,
        ``language``: converted for the switch, stored under a name of ours."""
        if cherrypy.serving.request.method == "GET":
            return [
                {
                    "name": p.name,
                    "label": p.label,
                    "language": p.language,
                    "source": p.source,
                    "text": p.text,
                    "duration_ms": p.duration_ms,
                    "created_by": p.created_by,
                    "created_at": p.created_at.isoformat(),
                }
                for p in self.ctx.call(self.db.ivr.prompts)
            ]
        return self.add_upload(params)

    def add_upload(self, params: dict[str, Any]) -> dict[str, Any]:
        """The multipart fields of an upload (API and page): the new prompt, or JsonError."""
        upload = params.get("file")
        if upload is None or not hasattr(upload, "file"):
            access.json_error(400, N_("send the sound as the multipart field 'file'"))
        label = params.get("label", "")
        language = params.get("language", "")
        if not isinstance(label, str) or len(label) > 128:
            access.json_error(400, N_("label must be text of at most 128 characters"))
        if language not in ("", *LANGUAGES):
            access.json_error(400, N_("language must be en or zh"))
        data = upload.file.read(MAX_UPLOAD + 1)
        try:
            converted = prompt_audio.convert_upload(data)
        except prompt_audio.PromptAudioError as exc:
            access.json_error(400, exc)
        log.info("{user} uploaded a prompt", user=self._user())
        return self._save_prompt(converted.wav, "upload", converted.duration_ms, label, language)

    @api("admin", methods=("POST",))
    @cherrypy.tools.json_out()
    def tts_prompt(self) -> dict[str, Any]:
        """A library prompt spoken by text-to-speech: ``{"text", "lang", "label"}``."""
        body = json_object()
        text, lang = _str(body, "text", tts.MAX_TEXT), _str(body, "lang", 2, "en")
        return self.add_tts(text, lang, _str(body, "label", 128))

    def add_tts(self, text: str, lang: str, label: str) -> dict[str, Any]:
        cache = self.ctx.ivr.prompts.tts_dir
        try:
            result = self.ctx.call(threads.deferToThread, tts.synthesize, text, lang, cache)
        except ValueError as exc:
            access.json_error(400, exc)
        except tts.TTSError as exc:
            access.json_error(503, exc)
        return self._save_prompt(
            result.path.read_bytes(), "tts", result.duration_ms, label, lang, text
        )

    # ---- the prompt studio: the box's own microphone and speaker -----------------------------

    @api("admin")
    @cherrypy.tools.json_out()
    def sound_devices(self) -> list[dict[str, Any]]:
        try:
            devices: list[dict[str, Any]] = self.ctx.call(
                threads.deferToThread, soundcard.list_devices
            )
        except soundcard.SoundcardError as exc:
            access.json_error(503, exc)
        return devices

    @api("admin", methods=("POST",))
    @cherrypy.tools.json_out()
    def record_prompt(self) -> dict[str, Any]:
        """Record ``seconds`` from the box's microphone into a new library prompt:
        ``{"seconds", "label", "language", "device"}`` (device: a name or index; default
        the system's)."""
        body = json_object()
        seconds = body.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            access.json_error(400, N_("seconds must be a number"))
        label, language = _str(body, "label", 128), _str(body, "language", 2)
        return self.add_recording(seconds, label, language, self._device(body))

    def add_recording(
        self, seconds: float, label: str, language: str, device: int | str | None
    ) -> dict[str, Any]:
        if not 0.5 <= seconds <= prompt_audio.MAX_DURATION_S:
            access.json_error(
                400,
                N_(
                    "seconds must be 0.5 to {MAX_DURATION_S}",
                    MAX_DURATION_S=prompt_audio.MAX_DURATION_S,
                ),
            )
        try:
            wav = self.ctx.call(threads.deferToThread, soundcard.record_wav, seconds, device)
            converted = prompt_audio.convert_upload(wav)
        except soundcard.SoundcardError as exc:
            access.json_error(503, exc)
        except prompt_audio.PromptAudioError as exc:
            access.json_error(400, exc)
        return self._save_prompt(converted.wav, "recorded", converted.duration_ms, label, language)

    @api("admin", methods=("POST",))
    @cherrypy.tools.json_out()
    def preview(self) -> dict[str, Any]:
        """Play a library prompt on the box's speaker: ``{"name", "device"}``."""
        body = json_object()
        name = _str(body, "name", 64)
        if name not in set(self.ctx.call(self.db.ivr.prompt_names)):
            access.json_error(404, N_("no such prompt"))
        device = self._device(body)
        path = self.ctx.ivr.prompts.path_of(name)
        try:
            data = path.read_bytes()
            self.ctx.call(threads.deferToThread, soundcard.play_wav, data, device)
        except OSError:
            access.json_error(404, N_("the prompt's file is missing"))
        except soundcard.SoundcardError as exc:
            access.json_error(503, exc)
        return {"played": name}

    def _device(self, body: dict[str, Any]) -> int | str | None:
        device = body.get("device")
        if device is None or (isinstance(device, int) and not isinstance(device, bool)):
            return device
        if isinstance(device, str) and 0 < len(device) <= 64:
            return device
        access.json_error(400, N_("device must be a device name or number"))

    def _save_prompt(
        self, wav: bytes, source: str, duration_ms: int, label: str, language: str, text: str = ""
    ) -> dict[str, Any]:
        """The file under a name of ours, then its row; the 201 answer."""
        name = self._store_prompt(wav)
        row = self.ctx.call(
            self.db.ivr.add_prompt,
            name,
            source,
            duration_ms,
            hashlib.sha256(wav).hexdigest(),
            self._user(),
            label,
            language,
            text,
        )
        cherrypy.serving.response.status = 201
        return {"name": row.name, "duration_ms": row.duration_ms, "label": row.label}

    def _store_prompt(self, wav: bytes) -> str:
        name = f"p-{secrets.token_hex(6)}"
        folder = self.ctx.ivr.prompts.prompts_dir
        try:
            self.ctx.call(threads.deferToThread, prompt_audio.write_atomically, folder, name, wav)
        except OSError as exc:
            access.json_error(
                507, N_("the prompt could not be stored: {strerror}", strerror=exc.strerror)
            )
        return name

    @api("admin")
    def prompt(self, name: str = "") -> bytes:
        """The sound of a library prompt (audio/wav), for listening in the browser."""
        known = set(self.ctx.call(self.db.ivr.prompt_names))
        if name not in known:
            raise cherrypy.HTTPError(404, i18n._("no such prompt"))
        path = self.ctx.ivr.prompts.path_of(name)
        try:
            data = path.read_bytes()
        except OSError:
            raise cherrypy.HTTPError(404, i18n._("the prompt's file is missing")) from None
        cherrypy.serving.response.headers["Content-Type"] = "audio/wav"
        return data


# CherryPy maps /api/ivr/try to an attribute named "try" (a keyword in Python).
setattr(IvrApi, "try", IvrApi.try_)
