"""The generated AMI user's event filters (drivers/asterisk/confgen.py) let through every
event ccboxd subscribes to, and Newexten only where the ACD's blind transfers land: the
filters and the subscribers are written in different places, this holds them together."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer

from acd.switch_link import AMISwitch
from appliance.cli import resolved
from appliance.db.connector import DBConnector
from drivers.asterisk import confgen
from drivers.asterisk.ami import client as ami_client
from drivers.asterisk.callmodel import CallModel
from drivers.dahdi import ami as dahdi_ami
from tests.support.inline_db import inline_db
from tests.unit.test_acd_service import FakeSwitch, offer_of, seed, start

SETTINGS = confgen.AsteriskSettings(ami_secret="0123456789abcdef")
# Every event a part of ccboxd subscribes to on its AMI client (appliance/master.py wires
# the call model and the switch link, appliance/hardware/spans.py the DAHDI monitor).
SUBSCRIBED = {
    *ami_client._OWN_EVENTS,
    *CallModel.EVENTS,
    *AMISwitch.EVENTS,
    *dahdi_ami.ALARM_EVENTS,
    dahdi_ami.SEIZED_EVENT,
}
_FILTER = re.compile(r"^eventfilter\((?P<criteria>[^=]*)\) = ?(?P<pattern>.*)$", re.M)


def filters() -> list[tuple[str, str]]:
    return [(m["criteria"], m["pattern"]) for m in _FILTER.finditer(confgen.manager_conf(SETTINGS))]


def test_every_subscribed_event_passes_the_filters() -> None:
    names = {c[len("name(") : -1] for c, _ in filters() if c.startswith("name(") and "," not in c}
    assert SUBSCRIBED - {"Newexten"} <= names
    assert names == set(confgen.MANAGER_EVENTS)  # nothing nobody handles
    for event in SUBSCRIBED - {"Newexten"}:
        assert confgen.receives(event)


def test_newexten_passes_only_in_the_transfer_contexts() -> None:
    newexten = [(c, p) for c, p in filters() if c.startswith("name(Newexten)")]
    assert newexten == [
        ("name(Newexten),header(Context),method(exact)", context)
        for context in confgen.REDIRECT_CONTEXTS
    ]
    assert confgen.receives("Newexten", "ccbox-transfer-queue")
    # one per dialplan priority of every call: not those of the calls' own contexts
    for context in ("ccbox-inbound", "ccbox-agents", None):
        assert not confgen.receives("Newexten", context)
    for event in ("VarSet", "HangupRequest", "NewConnectedLine", "DialBegin", "AGIExecStart"):
        assert not confgen.receives(event)


def test_the_user_reads_only_the_classes_of_the_events_it_receives() -> None:
    """call (channels, bridges, dials, DAHDIChannel), dialplan (Newexten), system
    (FullyBooted, Shutdown, DAHDI alarms): not agent, user or dtmf, whose events nobody
    handles (Asterisk would still wake the session for each, only to filter it)."""
    assert set(confgen.MANAGER_READ.split(",")) == {"call", "dialplan", "system"}
    assert "read = call,system,dialplan\n" in confgen.manager_conf(SETTINGS)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DBConnector]:
    with inline_db(tmp_path / "acd.sqlite") as connector:
        yield connector


@pytest.mark.parametrize(
    ("kind", "target"), [("queue", "backup"), ("agent", "1002"), ("extension", "8001")]
)
def test_every_blind_transfer_lands_where_its_newexten_passes(
    db: DBConnector, kind: str, target: str
) -> None:
    """AMISwitch counts a Redirect from the channel's Newexten in the target context: a
    context the filters leave out would fail every such transfer after 15 s."""
    ids = seed(db)
    acd, _clock, _ = start(db)
    switch = FakeSwitch()
    acd.switch = switch  # type: ignore[assignment]
    acd.login(ids["1001"])
    call = acd.join(ids["support"], "13800000001", "u1", channel="DAHDI/1-1")
    offer: Any = offer_of(call)
    acd.answered(call, offer.agents[0].device)
    acd.login(ids["1002"])
    resolved(defer.ensureDeferred(acd.transfer(offer.agents[0].id, kind, target)))
    [(_channel, context, _exten)] = switch.redirected
    assert confgen.receives("Newexten", context), context


def test_the_generated_file_keeps_the_filters_after_the_user_settings(tmp_path: Path) -> None:
    """Asterisk reads a user's eventfilter lines in its own section: they follow ``write``
    in ``[ccbox]``, and the file has no other section."""
    [path] = [p for p in confgen.write(SETTINGS, tmp_path) if p.name == "manager_ccbox.conf"]
    text = path.read_text()
    sections = re.findall(r"^\[(.+)\]$", text, re.M)
    assert sections == ["ccbox"]
    assert text.index("write = ") < text.index("eventfilter(")
    assert len(filters()) == len(confgen.MANAGER_EVENTS) + len(confgen.REDIRECT_CONTEXTS)
