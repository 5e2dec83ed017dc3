"""Tickets (work orders): types and their fields, states, assignment, SLA due dates and the
escalation timers, comments, attachments, replies to the customer."""
