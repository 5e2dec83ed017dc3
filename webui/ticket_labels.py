"""The names a person reads for the codes tickets store (states, priorities, sources, who a
ticket is assigned to, what a history row records, escalation actions, reply channels and
their states), in the reader's language; the database and the logs keep the code.

Kept beside the ticket pages rather than in webui/labels.py so the CRM's pages grow without
touching the shared table; tests/unit/test_web_tickets.py holds each table to the codes
appliance/db/model.py and appliance/crm/tickets define.
"""

from __future__ import annotations

from webui import i18n
from webui.i18n import N_

TABLES: dict[str, dict[str, str]] = {
    # appliance/db/model.py TICKET_STATES
    "ticket_state": {
        "new": N_("New"),
        "accepted": N_("Accepted"),
        "dispatched": N_("Dispatched"),
        "in_progress": N_("In progress"),
        "replied": N_("Replied"),
        "closed": N_("Closed"),
        "reopened": N_("Reopened"),
    },
    # appliance/db/model.py TICKET_PRIORITIES
    "ticket_priority": {
        "low": N_("Low"),
        "normal": N_("Normal"),
        "high": N_("High"),
        "urgent": N_("Urgent"),
    },
    # appliance/db/model.py TICKET_SOURCES
    "ticket_source": {
        "phone": N_("Phone call"),
        "voicemail": N_("Voicemail"),
        "ivr": N_("IVR recording"),
        "web": N_("Web"),
        "manual": N_("By hand"),
        "sms": N_("SMS"),
        "chat": N_("Chat"),
        "email": N_("E-mail"),
    },
    # appliance/db/model.py ASSIGNEE_KINDS
    "assignee_kind": {
        "agent": N_("Agent"),
        "queue": N_("Group (a queue's agents)"),
        "department": N_("Department"),
    },
    # what a ticket_history row records (appliance/crm/tickets/store.py and escalation.py)
    "ticket_action": {
        "created": N_("Created"),
        "state": N_("State changed"),
        "assigned": N_("Assigned"),
        "priority": N_("Priority changed"),
        "comment": N_("Comment added"),
        "attachment": N_("File attached"),
        "reply": N_("Reply to the customer"),
        "escalation": N_("Escalated"),
    },
    # appliance/crm/tickets/sla.py ACTIONS
    "escalation_action": {
        "notify": N_("Notify the assignee and the supervisors"),
        "reassign": N_("Reassign"),
        "raise_priority": N_("Raise the priority"),
    },
    # appliance/db/model.py CRM_CHANNELS
    "reply_channel": {
        "sms": N_("SMS"),
        "email": N_("E-mail"),
        "callback": N_("Callback"),
    },
    # appliance/db/model.py CRM_MESSAGE_STATES
    "message_state": {
        "queued": N_("Queued"),
        "sent": N_("Sent"),
        "failed": N_("Failed"),
        "waiting_for_modem": N_("Waiting for the modem"),
        "delivered": N_("Delivered"),
        "undeliverable": N_("Undeliverable"),
    },
}


def label(table: str, code: str | None) -> str:
    """The reader's name for ``code`` (the code itself when the table does not know it)."""
    if code is None:
        return ""
    msgid = TABLES[table].get(code)
    return i18n._(msgid) if msgid is not None else code


def options(table: str, codes: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
    """(code, name) pairs for a ``<select>``, in ``codes``' order (the table's by default)."""
    return [(c, label(table, c)) for c in (codes if codes is not None else tuple(TABLES[table]))]
