"""Reading a JSON request body: the content type, the size limit, the syntax, the shape."""

from __future__ import annotations

import json
from typing import Any

import cherrypy

from appliance.text import N_
from webui import access

MAX_BODY = 1024 * 1024


def read_json_body() -> Any:
    request = cherrypy.serving.request
    ctype = request.headers.get("Content-Type", "").split(";")[0].strip()
    if ctype != "application/json":
        access.json_error(415, N_("send the body as application/json"))
    try:
        raw = request.body.read()
    except cherrypy.HTTPError:
        access.json_error(413, N_("body larger than {MAX_BODY} bytes", MAX_BODY=MAX_BODY))
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        access.json_error(400, N_("the body is not valid JSON"))


def json_object() -> dict[str, Any]:
    """The body, which must be a JSON object (400 otherwise)."""
    body = read_json_body()
    if not isinstance(body, dict):
        access.json_error(400, N_("send a JSON object"))
    return body


def text_field(
    body: dict[str, Any], name: str, max_len: int, default: str = "", required: bool = False
) -> str:
    """``body[name]``: a string of at most ``max_len`` characters (400 otherwise; also when
    ``required`` and empty), ``default`` when absent."""
    value = body.get(name, default)
    if not isinstance(value, str) or len(value) > max_len:
        access.json_error(
            400,
            N_(
                "{name} must be a string of at most {max_len} characters",
                name=name,
                max_len=max_len,
            ),
        )
    if required and not value:
        access.json_error(400, N_("{name} is required", name=name))
    return str(value)
