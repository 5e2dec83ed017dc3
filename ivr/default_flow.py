"""The flow a call runs when its dialed number is bound to none: the welcome prompt, where
digit N picks the N-th queue (by id), else the queue the dialplan named (the AGI's second
argument), else the first. A box with no queues just says goodbye."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from appliance.db.ivr_store import FlowVersion

if TYPE_CHECKING:
    from appliance.db.acd_store import ACDQueue

NAME = "built-in"
WELCOME = "ccbox-welcome"


def default_flow(queues: list[ACDQueue], wanted: str | None = None) -> FlowVersion:
    queues = sorted(queues, key=lambda q: q.id)[:9]
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, str]] = []
    if not queues:
        nodes.append(
            {"id": "welcome", "type": "play", "props": {"prompt": WELCOME, "barge_in": False}}
        )
        nodes.append({"id": "bye", "type": "hangup", "props": {}})
        edges.append({"from": "welcome", "out": "next", "to": "bye"})
    else:
        fallback = next((q for q in queues if wanted in (q.name, str(q.id))), queues[0])
        keys = [str(i + 1) for i in range(len(queues))]
        nodes.append(
            {
                "id": "welcome",
                "type": "menu",
                "props": {
                    "prompt": WELCOME,
                    "options": keys,
                    "retries": 0,
                    "timeout_s": 0,
                    "back": False,
                },
            }
        )
        for key, q in zip(keys, queues, strict=True):
            nodes.append({"id": f"queue-{q.id}", "type": "queue", "props": {"queue": q.name}})
            edges.append({"from": "welcome", "out": key, "to": f"queue-{q.id}"})
        edges.append({"from": "welcome", "out": "failed", "to": f"queue-{fallback.id}"})
    graph = {"start": "welcome", "nodes": nodes, "edges": edges}
    return FlowVersion(0, NAME, 0, graph, "", "", dt.datetime.fromtimestamp(0, dt.UTC))
