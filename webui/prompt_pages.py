"""The prompt library page: upload a sound file, speak a text (TTS), record on the box's
microphone, listen in the browser or on the box's speaker. Plain forms (POST with the CSRF
token, then back to the list); the work is the JSON API's (webui/ivr_api.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import cherrypy

from ivr import prompt_audio, tts
from webui import admin_forms, i18n
from webui.access import current_session, page
from webui.context import WebContext
from webui.ivr_api import IvrApi, prompt_title
from webui.render import render

if TYPE_CHECKING:
    from appliance.db.ivr_store import PromptRow


class PromptPages:
    def __init__(self, ctx: WebContext, api: IvrApi) -> None:
        self.ctx = ctx
        self.api = api

    @page("admin")
    def index(self) -> str:
        rows: list[PromptRow] = self.ctx.call(self.ctx.db.ivr.prompts)
        prompts = sorted(rows, key=lambda p: (prompt_title(p).casefold(), p.name))
        return render(
            self.ctx,
            "prompts.html",
            prompts=prompts,
            title=prompt_title,
            max_mb=prompt_audio.MAX_UPLOAD_BYTES // (1024 * 1024),
            max_minutes=prompt_audio.MAX_DURATION_S // 60,
            max_text=tts.MAX_TEXT,
        )

    def _done(self, action: Any, *args: Any) -> None:
        """Run an API action; its refusal becomes a flash message, not an error page."""
        session = current_session()
        try:
            result = action(*args)
        except cherrypy.HTTPError as exc:
            session.flash.append(
                i18n._("Not added: {reason}").format(reason=exc._message or exc.status)
            )
        else:
            session.flash.append(i18n._("Prompt {name} added.").format(name=result["name"]))
        raise cherrypy.HTTPRedirect("/prompts", 303)

    @page("admin", methods=("POST",))
    @cherrypy.config(**{"request.body.maxbytes": prompt_audio.MAX_UPLOAD_BYTES + 64 * 1024})
    def upload(self, **params: Any) -> None:
        self._done(self.api.add_upload, params)

    @page("admin", methods=("POST",))
    def speak(self, **params: Any) -> None:
        self._done(
            self.api.add_tts,
            admin_forms.short_text(params, "text", tts.MAX_TEXT),
            admin_forms.short_text(params, "lang", 2),
            admin_forms.short_text(params, "label", 128),
        )

    @page("admin", methods=("POST",))
    def record(self, **params: Any) -> None:
        seconds = admin_forms.short_text(params, "seconds", 5)
        if not seconds.isdigit():
            raise cherrypy.HTTPError(400, i18n._("seconds must be a whole number"))
        self._done(
            self.api.add_recording,
            int(seconds),
            admin_forms.short_text(params, "label", 128),
            admin_forms.short_text(params, "language", 2),
            admin_forms.short_text(params, "device", 64) or None,
        )
