"""What a visitor sends, checked: every field is attacker-controlled.

A body is UTF-8 JSON (an object) of bounded size; a text field is a string of bounded
length with no control characters (a message keeps its newlines and tabs; CR LF becomes
LF), no lone surrogates (JSON's ``\\ud800`` escapes), and is kept as text: markup is
never interpreted here, the pages and the widget show it with textContent.
"""

from __future__ import annotations

import json
import re
from typing import Any

from appliance import typed_text
from appliance.email_address import is_email

JSON_MAX = 16 * 1024
NAME_MAX = 64
PHONE_MAX = 32
EMAIL_MAX = 254
LANGUAGES = ("zh", "en")

_SURROGATE = re.compile(r"[\ud800-\udfff]")
_PHONE = re.compile(r"\+?[0-9][0-9 ()\-]{2,30}")


class BadInput(ValueError):
    """A 4xx answer: ``status`` and a message the visitor's widget may show."""

    def __init__(self, status: int, message: str, code: str = "bad_request") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def json_object(raw: bytes, content_type: bytes | None) -> dict[str, Any]:
    """The body as a JSON object, or BadInput (415, 413, 400)."""
    ctype = (content_type or b"").split(b";")[0].strip().lower()
    if ctype != b"application/json":
        raise BadInput(415, "send the body as application/json", "content_type")
    if len(raw) > JSON_MAX:
        raise BadInput(413, f"the body is larger than {JSON_MAX} bytes", "too_large")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(400, "the body is not UTF-8", "encoding") from None
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        raise BadInput(400, "the body is not valid JSON", "json") from None
    if not isinstance(body, dict):
        raise BadInput(400, "send a JSON object", "json")
    return body


def _string(body: dict[str, Any], name: str) -> str:
    value = body.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise BadInput(400, f"{name} must be a string", "field")
    if _SURROGATE.search(value):
        raise BadInput(400, f"{name} is not valid text", "encoding")
    return value


def line(body: dict[str, Any], name: str, max_len: int, required: bool = False) -> str:
    """A one-line field (a name, a phone number): controls and line breaks removed,
    spaces trimmed; BadInput when longer than ``max_len`` or required and empty."""
    value = typed_text.one_line(_string(body, name)).strip()
    if len(value) > max_len:
        raise BadInput(400, f"{name} is longer than {max_len} characters", "too_long")
    if required and not value:
        raise BadInput(400, f"{name} is required", "required")
    return value


def message_text(body: dict[str, Any], name: str, max_len: int) -> str:
    """A message: newlines and tabs kept (CR LF and CR become LF), other controls removed,
    trimmed; BadInput when longer than ``max_len``."""
    value = typed_text.message(_string(body, name)).strip()
    if len(value) > max_len:
        raise BadInput(400, f"the message is longer than {max_len} characters", "too_long")
    return value


def integer(body: dict[str, Any], name: str, required: bool = True) -> int | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
        raise BadInput(400, f"{name} must be a positive whole number", "field")
    return value


def ids(body: dict[str, Any], name: str, max_count: int = 10) -> tuple[int, ...]:
    value = body.get(name, [])
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > max_count:
        raise BadInput(400, f"{name} must be a list of at most {max_count} ids", "field")
    out: list[int] = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int) or not 0 < v < 2**31:
            raise BadInput(400, f"{name} must be a list of ids", "field")
        out.append(v)
    return tuple(dict.fromkeys(out))


def flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if not isinstance(value, bool):
        raise BadInput(400, f"{name} must be true or false", "field")
    return value


def language(value: object) -> str:
    """zh or en (anything else: en); zh-CN, zh-TW... are zh."""
    if isinstance(value, str) and value[:2].lower() == "zh":
        return "zh"
    return "en"


def contact(body: dict[str, Any]) -> tuple[str, str, str]:
    """The pre-chat form's name, phone and e-mail: a name, and a phone or an e-mail (both
    checked for their form)."""
    name = line(body, "name", NAME_MAX, required=True)
    phone = line(body, "phone", PHONE_MAX)
    email = line(body, "email", EMAIL_MAX)
    if not phone and not email:
        raise BadInput(400, "give a phone number or an e-mail address", "contact")
    if phone and not _PHONE.fullmatch(phone):
        raise BadInput(400, "the phone number is not valid", "phone")
    if email and not email.isascii():
        # (the transcript is mailed there, and our SMTP client speaks no SMTPUTF8)
        raise BadInput(
            400, "write the e-mail address in Latin letters, digits and signs only", "email"
        )
    if email and not is_email(email):  # the project's one e-mail check
        raise BadInput(400, "the e-mail address is not valid", "email")
    return name, phone, email
