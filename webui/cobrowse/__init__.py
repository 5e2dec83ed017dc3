"""Escorted browsing and the supervisor's live view: DOM mirroring (rrweb) relayed between
a visitor's page and an agent's desk, or an agent's desk and a supervisor."""
