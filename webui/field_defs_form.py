"""A small form for a list of field definitions (appliance/crm/fields.py ``FieldDef``): one
row per field (key, label, kind, choices one per line, required) and blank rows to add
more; a row whose key is empty, or marked "remove", is left out. The ticket types' admin
page uses it (templates/_field_defs.html draws the rows); the store checks the result
(``check_def``) and says what is wrong per field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appliance.crm.fields import FIELD_KINDS, FieldDef
from webui import admin_forms as f
from webui import i18n
from webui.i18n import N_

MAX_ROWS = 30
BLANK_ROWS = 3
KIND_NAMES = {
    "text": N_("Text"),
    "number": N_("Number"),
    "date": N_("Date"),
    "choice": N_("Choice"),
}
assert tuple(KIND_NAMES) == FIELD_KINDS


@dataclass(frozen=True)
class Row:
    """One row of the form as drawn: a definition's values as text."""

    key: str = ""
    label: str = ""
    kind: str = "text"
    choices: str = ""
    required: bool = False


def rows_for(defs: tuple[FieldDef, ...] | list[FieldDef]) -> list[Row]:
    """The rows to draw: each definition, then blank ones."""
    rows = [Row(d.key, d.label, d.kind, "\n".join(d.choices), d.required) for d in defs]
    return rows + [Row()] * min(BLANK_ROWS, max(0, MAX_ROWS - len(rows)))


def kinds() -> list[tuple[str, str]]:
    return [(k, i18n._(KIND_NAMES[k])) for k in FIELD_KINDS]


def read_defs(params: dict[str, Any]) -> tuple[FieldDef, ...]:
    """The definitions the form sent (``fd_<n>_key`` ...), in row order. FormError for a
    value sent twice or too long; everything else is the store's check."""
    out: list[FieldDef] = []
    for n in range(MAX_ROWS + BLANK_ROWS):
        key = f.text(params, f"fd_{n}_key", i18n._("Key"), 32)
        if not key or f.checkbox(params, f"fd_{n}_remove"):
            continue
        label = f.text(params, f"fd_{n}_label", i18n._("Label"), 128)
        kind = f.choice(params, f"fd_{n}_kind", i18n._("Kind"), FIELD_KINDS)
        raw_choices = params.get(f"fd_{n}_choices", "")
        if not isinstance(raw_choices, str) or len(raw_choices) > 13_000:
            raise f.FormError(i18n._("Choices: at most 13000 characters."))
        choices = tuple(c.strip() for c in raw_choices.splitlines() if c.strip())
        out.append(
            FieldDef(
                key,
                label,
                kind,
                choices if kind == "choice" else (),
                f.checkbox(params, f"fd_{n}_required"),
            )
        )
    return tuple(out)
