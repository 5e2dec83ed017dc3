"""Merging a duplicate customer into the one that stays (the survivor).

Timeline items point at a customer through a ``customer_id`` column: the merge re-points
that column in every table of :data:`CUSTOMER_REFERENCES` (tables of later migrations add
their names here), moves the numbers, and leaves the duplicate as a row that points to the
survivor (``merged_into``), so an old link to it still finds the survivor.
"""

from __future__ import annotations

# Every table whose ``customer_id`` column points at a customer (the tickets' and messages'
# tables add themselves here). A name whose table is not in the model yet is skipped.
CUSTOMER_REFERENCES: tuple[str, ...] = ("calls", "tickets", "crm_messages")
