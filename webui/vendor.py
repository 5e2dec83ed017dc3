"""The browser libraries installed from the npm registry (webui/package.json, pinned by
webui/package-lock.json; ``make deps`` runs ``npm ci``), never copied into the repository.

Only the files listed here are served (``/vendor/<name>``), not node_modules as a whole. A
box without them still runs, but its report pages cannot draw a chart (or its knowledge-base
editor is a plain HTML textarea): that is said loudly, in the log and the health registry at
startup (each library under its own part, with its own message) and on the page that needs
it, never as a blank chart.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from twisted.logger import Logger
from twisted.web import resource, static
from twisted.web.resource import IResource

from appliance.health import DEGRADED
from appliance.text import N_

if TYPE_CHECKING:
    from appliance.health import HealthRegistry

NODE_MODULES = Path(__file__).parent / "node_modules"
# Apache ECharts, full build: every chart kind the reports use and its ZH/EN locales.
ECHARTS = "echarts.min.js"
# Quill 2: the knowledge base's rich-text editor (without it the editor is a plain HTML
# textarea; the server cleans what it receives either way).
QUILL = "quill.js"
QUILL_CSS = "quill.snow.css"
# rrweb: escorted browsing and the supervisor's live view (webui/cobrowse/). The recorder
# alone (@rrweb/record) for the pages that record, the whole rrweb with its Replayer and
# its stylesheet for the viewers.
RRWEB_RECORD = "rrweb-record.min.js"
RRWEB = "rrweb.min.js"
RRWEB_CSS = "rrweb.min.css"
FILES = {
    ECHARTS: NODE_MODULES / "echarts" / "dist" / "echarts.min.js",
    QUILL: NODE_MODULES / "quill" / "dist" / "quill.js",
    QUILL_CSS: NODE_MODULES / "quill" / "dist" / "quill.snow.css",
    RRWEB_RECORD: NODE_MODULES / "@rrweb" / "record" / "dist" / "record.umd.min.cjs",
    RRWEB: NODE_MODULES / "rrweb" / "dist" / "rrweb.umd.min.cjs",
    RRWEB_CSS: NODE_MODULES / "rrweb" / "dist" / "style.min.css",
}
# What the PUBLIC chat site serves of them too (under /chat/static/): the recorder only.
CHAT_PUBLIC = (RRWEB_RECORD,)
log = Logger(namespace="ccbox.web")


@dataclass(frozen=True)
class Library:
    """One npm library: its files in ``FILES``, the health part it reports under when one
    of them is missing, and what a person reads then (an N_() text)."""

    part: str
    files: tuple[str, ...]
    message: str


CHARTS = Library(
    "charts",
    (ECHARTS,),
    N_(
        "The charting library (Apache ECharts) is not installed, so the charts cannot be "
        "drawn: run make deps (npm ci in webui/)."
    ),
)
EDITOR = Library(
    "kb-editor",
    (QUILL, QUILL_CSS),
    N_(
        "The rich-text editor (Quill) is not installed, so knowledge-base articles are "
        "edited as plain HTML: run make deps (npm ci in webui/)."
    ),
)
COBROWSE = Library(
    "cobrowse",
    (RRWEB_RECORD, RRWEB, RRWEB_CSS),
    N_(
        "The session recording library (rrweb) is not installed, so escorted browsing and "
        "the live view of a desk cannot work: run make deps (npm ci in webui/)."
    ),
)
LIBRARIES = (CHARTS, EDITOR, COBROWSE)
HEALTH_PART = CHARTS.part  # the charts' part (older name)


def url(name: str) -> str:
    return f"/vendor/{name}"


def missing() -> list[str]:
    """The vendored files this box lacks (``make deps`` not run, or node_modules removed)."""
    return [name for name, path in FILES.items() if not path.is_file()]


def missing_message() -> str:
    """What a person reads (page, health detail) when the charting library is missing."""
    return CHARTS.message


def check(health: HealthRegistry) -> bool:
    """At startup: log and report each library with a missing file, under its own health
    part with its own message; True when every file is there."""
    gone = set(missing())
    ok = True
    for lib in LIBRARIES:
        files = [name for name in lib.files if name in gone]
        if not files:
            continue
        ok = False
        log.error(
            "{part} unavailable: {files} missing under {root}; run make deps",
            part=lib.part,
            files=", ".join(files),
            root=str(NODE_MODULES),
        )
        health.report(lib.part, DEGRADED, lib.message)
    return ok


def served_file(name: str, path: Path) -> IResource:
    """``path`` served with the type its served ``name`` says (rrweb ships ``.cjs`` files,
    which a browser must get as JavaScript: the site sends nosniff)."""
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    file = static.File(str(path), defaultType=kind)
    file.contentTypes = {**file.contentTypes, ".cjs": kind}
    return cast(IResource, file)


def chat_public_files() -> dict[str, Path]:
    """The npm files the public chat site may serve (``CHAT_PUBLIC``), by name."""
    return {name: FILES[name] for name in CHAT_PUBLIC}


def vendor_resource() -> IResource:
    """``/vendor/<name>``: only the files listed in ``FILES`` (a missing one answers 404)."""
    root = resource.Resource()
    for name, path in FILES.items():
        root.putChild(name.encode(), served_file(name, path))
    return cast(IResource, root)
