"""The IVR's "Don't call me" node: the caller's number on the center's do-not-call list at
once (the running dialer's index and the database), then on to the next node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock

from acd.dialer.dnc import DoNotCall
from appliance.cli import resolved
from appliance.db.connector import DBConnector
from drivers.asterisk.agi.codec import AGIEnvironment
from ivr.flow_model import NODE_TYPES
from ivr.interpreter import Interpreter
from ivr.prompt_library import PromptLibrary
from ivr.services import IVRServices
from ivr.validator import Catalog, validate
from tests.unit.test_ivr_interpreter import FakeCall, FakeSession, graph, version

FLOW = graph(
    [("dnc", "dnc", {"prompt": "removed"}), ("bye", "hangup", {"prompt": "bye"})],
    [("dnc", "next", "bye")],
)


def run(services: IVRServices, session: FakeSession) -> FakeCall:
    call = FakeCall()
    d = defer.ensureDeferred(Interpreter(services).run(session, call, version(FLOW), {}))  # type: ignore[arg-type]
    failures: list[Any] = []
    d.addErrback(failures.append)
    assert d.called and not failures, failures
    return call


def caller(number: str = "13800138000") -> FakeSession:
    session = FakeSession()
    session.env = AGIEnvironment({"channel": "DAHDI/1-1", "uniqueid": "1.1", "callerid": number})
    return session


def services(db: DBConnector, tmp_path: Path, dnc: DoNotCall | None) -> IVRServices:
    return IVRServices(
        MemoryReactorClock(),
        db,
        PromptLibrary(tmp_path),
        None,  # type: ignore[arg-type]  # no voicemail in this flow
        do_not_call=lambda: dnc,
    )


def test_the_caller_is_on_the_list_at_once_and_the_flow_goes_on(
    db: DBConnector, tmp_path: Path
) -> None:
    dnc = DoNotCall(db.dialer)
    ivr = services(db, tmp_path, dnc)
    session = caller()
    call = run(ivr, session)
    assert call.steps() == [("dnc", "added", "next"), ("bye", "", None)]
    assert dnc.blocks("13800138000") == "center"
    assert resolved(db.dialer.dnc_entries()) == [("13800138000", "center", None)]
    [row] = resolved(db.dialer.dnc_rows())
    assert row.source == "ivr"
    # the confirmation, then the next node's goodbye
    played = [c for c in session.commands if c.startswith("STREAM FILE")]
    assert [c.split("/")[-1].split()[0] for c in played] == ["removed", "bye"]
    # pressed again: already on the list, nothing added twice
    assert run(ivr, caller("138 0013 8000")).steps()[0] == ("dnc", "listed", "next")
    assert len(resolved(db.dialer.dnc_entries())) == 1


def test_without_a_running_dialer_the_number_is_stored_for_its_start(
    db: DBConnector, tmp_path: Path
) -> None:
    call = run(services(db, tmp_path, None), caller())
    assert call.steps()[0] == ("dnc", "added", "next")
    later = DoNotCall(db.dialer)
    resolved(later.load_from_store())
    assert later.blocks("138-0013-8000") == "center"
    assert later.blocks("+86 138 0013 8000") == "center"  # the same number, written for abroad


def test_a_withheld_number_is_no_number_and_the_flow_goes_on(
    db: DBConnector, tmp_path: Path
) -> None:
    dnc = DoNotCall(db.dialer)
    call = run(services(db, tmp_path, dnc), caller("anonymous"))
    assert call.steps() == [("dnc", "no_number", "next"), ("bye", "", None)]
    assert resolved(db.dialer.dnc_entries()) == []


def test_the_node_kind_is_in_the_model_and_validates() -> None:
    assert NODE_TYPES["dnc"].outputs == ("next",)
    catalog = Catalog(prompts=frozenset({"removed", "bye"}))
    assert validate(FLOW, catalog) == []
    bad = graph([("dnc", "dnc", {"prompt": "nope"})], [])
    assert [p.node for p in validate(bad, catalog)] == ["dnc"]


def test_try_it_says_what_the_node_would_do_and_changes_nothing(tmp_path: Path) -> None:
    from ivr.try_run import TryRuns

    dnc = DoNotCall()  # no database: a try run reaches none
    ivr = services(None, tmp_path, dnc)  # type: ignore[arg-type]
    run = resolved(defer.ensureDeferred(TryRuns(ivr).start(FLOW, "t")))
    texts = [(e["kind"], e["text"]) for e in run.new_events()]
    said = ("dnc", "the caller's number goes on the do-not-call list")
    assert said in texts
    assert texts.index(said) < texts.index(("play", "plays the prompt removed"))
    assert dnc.blocks("13800138000") is None
