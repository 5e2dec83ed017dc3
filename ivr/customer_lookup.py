"""The lookup node's ``customer`` source: a customer found by any form of one of its
numbers (the caller's, or digits the caller keyed in: ``013800138000``, ``+86 138...``)
through the CRM's one indexed lookup, else by its account number; and what a flow may read
of it.

A found customer gives the flow ``<store>_id``, ``_name``, ``_class``, ``_account`` and
``_number`` (its first number), and each custom field as ``<store>_<key>`` (at most
``MAX_FIELDS``). Left out: a field whose key is a standard name or makes too long a
variable name; the interpreter's one setter (``Interpreter._var``) leaves out any name the
system sets (``caller_number`` stays the caller's) and any name that is no variable. Every
value is text from a form, an import or a caller: control characters (a newline could end
an AGI command) become spaces and each value is cut to ``MAX_VALUE`` characters. The flow
only ever hands these to checked commands (SAY DIGITS takes digits only, conditions compare
them), never to the dialplan as they are.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ivr.caller_customer import LOOKUP_TIMEOUT_S

if TYPE_CHECKING:
    from appliance.crm.customer_store import Customer
    from ivr.services import IVRServices

MAX_FIELDS = 20
MAX_VALUE = 256
ACCOUNT = re.compile(r"[0-9A-Za-z_-]{1,64}")
STANDARD = ("id", "name", "class", "account", "number")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


async def find_customer(services: IVRServices, key: str) -> Customer | None:
    """The live customer with ``key`` as one of its numbers (any format), else as its
    account; None when there is no customer store, no such customer, or the database is
    slower than the caller's own lookup may be (``LOOKUP_TIMEOUT_S``)."""
    customers = services.customers
    if customers is None or not key:
        return None
    found = await customers.by_number_within(services.reactor, key, LOOKUP_TIMEOUT_S)
    if found is None and ACCOUNT.fullmatch(key):
        customer_id = await customers.db.ivr.customer_by_account(key)
        if customer_id is not None:
            found = await customers.get(customer_id)
    return found


def clean(value: object) -> str:
    """A stored text as a flow variable: one line, bounded."""
    return _CONTROL.sub(" ", str(value))[:MAX_VALUE]


def customer_variables(customer: Customer, store: str) -> dict[str, str]:
    """The flow variables of a found customer under the prefix ``store``."""
    out: dict[str, str] = {}
    for key, value in list(customer.fields.items())[:MAX_FIELDS]:
        if key not in STANDARD:
            out[f"{store}_{key}"] = clean(value)
    standard = {
        "id": str(customer.id),
        "name": customer.name,
        "class": customer.customer_class,
        "account": customer.account,
        "number": customer.numbers[0] if customer.numbers else "",
    }
    for key, value in standard.items():
        out[f"{store}_{key}"] = clean(value)
    return out
