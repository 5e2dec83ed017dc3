"""A canned reply's variables filled in: ``{customer_name}``, ``{agent_name}``,
``{reference}``, ``{topic}``, ``{queue}``.

The body is an admin's text and the values come from visitors (a name is whatever the
pre-chat form was given), so the filling is plain substitution and nothing else: a field
with an attribute, an index or a conversion (``{customer_name.__class__}``,
``{x[0]}``, ``{x!r}``) or a format spec stays as typed, never evaluated; an unknown name
stays as typed; a value is never filled in again (a visitor named ``{agent_name}`` is
shown as such).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

VARIABLES = ("customer_name", "agent_name", "reference", "topic", "queue")

# A plain name in braces; ``{{`` and ``}}`` are literal braces, as str.format has them.
_FIELD = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def fill(body: str, values: Mapping[str, object]) -> str:
    """``body`` with each ``{name}`` of ``values`` replaced by its text, in one pass."""

    def one(m: re.Match[str]) -> str:
        whole = m.group(0)
        if whole == "{{":
            return "{"
        if whole == "}}":
            return "}"
        name = m.group(1)
        if name in values:
            value = values[name]
            return "" if value is None else str(value)
        return whole

    return _FIELD.sub(one, body)
