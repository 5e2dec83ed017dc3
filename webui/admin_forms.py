"""What the admin pages share: reading form fields into checked values, and the answer to
a POST (a message on the page it came from; never a 500 for bad input).

Every field is attacker-controlled: one bounded string each (a repeated field is refused),
numbers in their range, choices from an allowlist. A ``FormError`` carries the message the
user reads; the page it redirects to shows it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import cherrypy

from appliance.db.admin_store import AdminError
from appliance.db.components import DuplicateError
from appliance.text import N_
from webui import audit_trail, i18n
from webui.access import current_session

if TYPE_CHECKING:
    from webui.context import WebContext

T = TypeVar("T")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class FormError(ValueError):
    """Bad input; the message is for the user (already translated)."""


def text(
    params: dict[str, Any], name: str, label: str, max_len: int, required: bool = False
) -> str:
    value = params.get(name, "")
    if not isinstance(value, str):
        raise FormError(i18n._("{field}: send it once, as text.").format(field=label))
    value = value.strip()
    if len(value) > max_len:
        raise FormError(i18n._("{field}: at most {n} characters.").format(field=label, n=max_len))
    if CONTROL.search(value):
        raise FormError(i18n._("{field}: control characters are not allowed.").format(field=label))
    if required and not value:
        raise FormError(i18n._("{field}: required.").format(field=label))
    return value


def integer(params: dict[str, Any], name: str, label: str, lo: int, hi: int) -> int:
    raw = text(params, name, label, 12, required=True)
    if not re.fullmatch(r"-?[0-9]+", raw) or not lo <= int(raw) <= hi:
        raise FormError(
            i18n._("{field}: a whole number from {lo} to {hi}.").format(field=label, lo=lo, hi=hi)
        )
    return int(raw)


def optional_id(params: dict[str, Any], name: str, label: str) -> int | None:
    raw = text(params, name, label, 12)
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) < 2**31:
        raise FormError(i18n._("{field}: not a valid choice.").format(field=label))
    return int(raw)


def row_id(params: dict[str, Any], name: str = "id") -> int:
    value = optional_id(params, name, name)
    if value is None:
        raise FormError(i18n._("{field}: required.").format(field=name))
    return value


def target_id(params: dict[str, Any]) -> int:
    """The row a POST acts on (a hidden field): a bad one is a broken form, 400."""
    try:
        return row_id(params)
    except FormError as exc:
        raise cherrypy.HTTPError(400, i18n.error(exc)) from None


def choice(params: dict[str, Any], name: str, label: str, allowed: tuple[str, ...]) -> str:
    value = text(params, name, label, 64)
    if value not in allowed:
        raise FormError(i18n._("{field}: not a valid choice.").format(field=label))
    return value


def checkbox(params: dict[str, Any], name: str) -> bool:
    """A checked box sends its value; an unchecked one sends nothing."""
    value = params.get(name)
    if value is not None and not isinstance(value, str):
        raise FormError(i18n._("{field}: send it once, as text.").format(field=name))
    return bool(value)


def matching(
    params: dict[str, Any], name: str, label: str, pattern: re.Pattern[str], rule: str, max_len: int
) -> str:
    """A field that is empty or matches ``pattern`` (``rule`` says what it should be)."""
    value = text(params, name, label, max_len)
    if value and not pattern.fullmatch(value):
        raise FormError(N_("{label}: {rule}", label=label, rule=rule))
    return value


def audit(ctx: WebContext, action: str, target: str, **detail: Any) -> None:
    """Write who changed what (``admin.<thing>.<verb>``) to the audit log: never a PIN or
    a password, only that one was set."""
    audit_trail.record(ctx, f"admin.{action}", target, detail)


def finish(back: str, work: Callable[[], str]) -> NoReturn:
    """Run ``work`` (which returns the message for success); any refusal becomes the
    message instead. Then back to ``back`` (303, the POST-redirect-GET pattern)."""
    session = current_session()
    try:
        message = work()
    except FormError as exc:
        session.flash.append(i18n.error(exc))
    except DuplicateError as exc:
        session.flash.append(i18n._("Already exists: {reason}").format(reason=i18n.error(exc)))
    except AdminError as exc:
        session.flash.append(i18n._("Not changed: {reason}").format(reason=i18n.error(exc)))
    except ValueError as exc:  # the components' own checks (a weak password, a PIN)
        session.flash.append(i18n._("Not changed: {reason}").format(reason=i18n.error(exc)))
    else:
        session.flash.append(message)
    raise cherrypy.HTTPRedirect(back, 303)


def page_id(value: Any) -> int:
    """The ``id`` of a GET page: bad ones (sent twice: a list) are 404 (nothing to show)."""
    if not isinstance(value, str):
        raise cherrypy.NotFound()
    if not value.isascii() or not value.isdigit() or not 0 < int(value) < 2**31:
        raise cherrypy.NotFound()
    return int(value)


def short_text(params: dict[str, Any], name: str, limit: int) -> str:
    """A form field of a page's own form as one string of at most ``limit`` characters ("" when
    absent): a repeated field or a longer value is a 400 naming the field."""
    value = params.get(name, "")
    if not isinstance(value, str) or len(value) > limit:
        raise cherrypy.HTTPError(
            400,
            i18n._("{name} must be text of at most {limit} characters").format(
                name=name, limit=limit
            ),
        )
    return value


def many_ids(params: dict[str, Any], name: str, most: int) -> tuple[int, ...]:
    """A repeated form field of ids (checkboxes, a multiple select), in the order sent: more
    than ``most`` values is a 400 naming the field (never some of them dropped: that loses
    input), a value that is not an id a FormError naming it."""
    value = params.get(name, [])
    values = value if isinstance(value, list) else [value]
    if len(values) > most:
        too_many = i18n._("Too many chosen at once.")
        raise cherrypy.HTTPError(
            400, i18n._("{field}: {reason}").format(field=name, reason=too_many)
        )
    out = []
    for v in values:
        if not isinstance(v, str) or not v.isascii() or not v.isdigit() or len(v) > 10:
            raise FormError(i18n._("{field}: not a valid choice.").format(field=name))
        out.append(int(v))
    return tuple(out)


def bounded(params: dict[str, Any], name: str, max_len: int = 256) -> str:
    """A form field as one bounded string, as sent (the login and public forms): a repeated
    field or a huge value is a 400."""
    value = params.get(name, "")
    if not isinstance(value, str):
        raise cherrypy.HTTPError(
            400, i18n._("field {name!r} must be sent once, as text").format(name=name)
        )
    if len(value) > max_len:
        raise cherrypy.HTTPError(
            400,
            i18n._("field {name!r} is longer than {max_len} characters").format(
                name=name, max_len=max_len
            ),
        )
    return value
