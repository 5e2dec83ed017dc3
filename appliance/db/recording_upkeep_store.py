"""The recordings' upkeep: what is due for the archive or the purge, and deleting by number."""

from __future__ import annotations

from appliance.db.components import _Component


class RecordingUpkeepStore(_Component):
    pass
