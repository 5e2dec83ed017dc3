"""The layers, read from the imports: data flows Asterisk -> drivers -> engines -> db and web.

    root     appliance.{master, daemon, cli, demo, ...}: builds and wires everything
    web      webui: pages and APIs on the services the root hands it (WebContext)
    engines  acd, ivr, recorder, and domain sub-packages of appliance (appliance/reports/...)
    ground   appliance.{config, eventbus, health, passwords, text, logsetup}, appliance.db
    drivers  drivers, firmware_tools: the outside world (Asterisk, DAHDI, serial, audio)

A layer imports only layers below it (engines may import each other), and only the root
imports the root. Every import counts: at module level, inside a function (lazy) or under
``TYPE_CHECKING``. docs/architecture.md says why and where new code goes.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("appliance", "drivers", "acd", "ivr", "recorder", "webui", "firmware_tools")
ROOT = frozenset(
    {
        "appliance.master",
        "appliance.daemon",
        "appliance.cli",
        "appliance.demo",
        "appliance.demo_center",
        "appliance.demo_campaign",
        "appliance.demo_history",
        "appliance.demo_crm",
        "appliance.demo_kb",
        "appliance.demo_panel",
        "appliance.demo_dahdi",
        "appliance.demo_sms",
        "appliance.demo_channels",
        "appliance.switch_settings",
        "appliance.shutdown",
        "appliance.call_rows",
        "appliance.sdnotify",
        "appliance.malloc_arenas",
    }
)
GROUND = frozenset(
    {
        "appliance",
        "appliance.config",
        "appliance.eventbus",
        "appliance.health",
        "appliance.passwords",
        "appliance.text",
        "appliance.email_address",
        "appliance.logsetup",
        "appliance.zones",
        "appliance.periods",
        "appliance.uploads",
        "appliance.rich_text",
        "appliance.typed_text",
    }
)
RANK = {"drivers": 0, "ground": 1, "engines": 2, "web": 3, "root": 4}
# Arrows against the rule that are known and still to remove: each must still exist (the
# test says when one is gone, so the list only shrinks).
KNOWN: dict[tuple[str, str], str] = {
    ("appliance.db.qa_store", "recorder.qa_form"): (
        "storage checks a QA form and computes its score; the QA domain should hand it"
        " the checked form and the score"
    ),
}


class Unplaced(Exception):
    pass


def layer(module: str) -> str:
    top, _, rest = module.partition(".")
    if top in ("drivers", "firmware_tools"):
        return "drivers"
    if top in ("acd", "ivr", "recorder"):
        return "engines"
    if top == "webui":
        return "web"
    if top != "appliance":
        raise Unplaced(module)
    if module in GROUND or module == "appliance.db" or module.startswith("appliance.db."):
        return "ground"
    name = ".".join(module.split(".")[:2])
    if name in ROOT:
        return "root"
    if (REPO / "appliance" / rest.split(".")[0]).is_dir():
        return "engines"  # a domain sub-package: appliance/reports/, appliance/crm/, ...
    raise Unplaced(module)


def allowed(importer: str, imported: str) -> bool:
    a, b = layer(importer), layer(imported)
    if b == "root":
        return a == "root"
    if a == b:
        return True
    return RANK[b] < RANK[a]


def module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


_PYX_IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+c?import|c?import\s+([\w.]+))", re.M)


def imports(
    source: str, module: str, is_package: bool, pyx: bool = False
) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import in ``source``, wherever it is."""
    if pyx:  # Cython: no ast; its imports are plain lines
        for m in _PYX_IMPORT.finditer(source):
            yield source.count("\n", 0, m.start()) + 1, m.group(1) or m.group(2)
        return
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package[: len(package) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            yield node.lineno, base
            for alias in node.names:  # ``from appliance import master`` names a module
                yield node.lineno, f"{base}.{alias.name}"


def is_module(name: str, base: Path) -> bool:
    path = base.joinpath(*name.split("."))
    return path.is_dir() or path.with_suffix(".py").is_file() or path.with_suffix(".pyx").is_file()


def arrows(base: Path = REPO) -> Iterator[tuple[str, str, str]]:
    """(file:line, importer, imported) for every import of one of our packages by another."""
    for package in PACKAGES:
        for path in sorted((base / package).rglob("*.py*")):
            if path.suffix not in (".py", ".pyx"):
                continue
            module = module_name(path, base)
            source = path.read_text(encoding="utf-8")
            found = {
                (line, name)
                for line, name in imports(
                    source, module, path.name == "__init__.py", pyx=path.suffix == ".pyx"
                )
                if name.split(".")[0] in PACKAGES and is_module(name, base)
            }
            for line, name in sorted(found):
                # ``from recorder import g711``: said once, as recorder.g711
                if any(n.startswith(name + ".") for ln, n in found if ln == line):
                    continue
                yield f"{path.relative_to(base)}:{line}", module, name


def test_every_import_follows_the_layers() -> None:
    bad, known_seen, unplaced = [], set(), set()
    for where, importer, imported in arrows():
        try:
            ok = allowed(importer, imported)
        except Unplaced as exc:
            unplaced.add(str(exc))
            continue
        key = (importer, imported)
        if ok:
            continue
        if key in KNOWN:
            known_seen.add(key)
            continue
        bad.append(
            f"{where}: {importer} ({layer(importer)}) imports {imported} ({layer(imported)})"
        )
    assert not unplaced, (
        "modules in no layer: put a new domain in a sub-package of appliance/ (reports/, crm/"
        f"...), or name the module in ROOT or GROUND here: {sorted(unplaced)}"
    )
    assert not bad, "imports against the layers (docs/architecture.md):\n" + "\n".join(bad)
    gone = set(KNOWN) - known_seen
    assert not gone, f"known arrows that are gone: remove them from KNOWN: {sorted(gone)}"


def test_the_reader_sees_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    """The walk finds what a function imports late and what only the type checker sees."""
    pkg = tmp_path / "drivers" / "fake"
    pkg.mkdir(parents=True)
    for name in ("drivers", "appliance", "recorder", "webui"):
        (tmp_path / name).mkdir(exist_ok=True)
        (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / "appliance" / "master.py").write_text("")
    (tmp_path / "appliance" / "config.py").write_text("")
    (tmp_path / "recorder" / "g711.py").write_text("")
    (tmp_path / "webui" / "context.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "link.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from appliance.master import ApplianceMaster\n"
        "def connect():\n"
        "    from appliance import config\n"
        "    import webui.context\n"
        "from .. import fake\n"
    )
    (pkg / "_kernel.pyx").write_text(
        "from libc.stdint cimport int16_t\nfrom recorder.g711 import x\n"
    )
    found = {(where, imported) for where, _importer, imported in arrows(tmp_path)}
    link, kernel = str(Path("drivers/fake/link.py")), str(Path("drivers/fake/_kernel.pyx"))
    assert {
        (f"{link}:3", "appliance.master"),
        (f"{link}:5", "appliance.config"),
        (f"{link}:6", "webui.context"),
        (f"{link}:7", "drivers.fake"),
        (f"{kernel}:2", "recorder.g711"),
    } <= found
    assert not allowed("drivers.fake.link", "appliance.config")
    assert not allowed("recorder.service", "appliance.master")
    assert not allowed("webui.context", "appliance.master")
    assert not allowed("appliance.db.components", "acd.route")
    assert allowed("appliance.master", "webui.service")
    assert allowed("acd.service", "appliance.db.connector")
    assert allowed("ivr.queue_step", "acd.service")
