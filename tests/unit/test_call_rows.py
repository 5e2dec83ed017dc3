"""appliance/call_rows.py: the switch's hangup cause on the row, and the start-up
reconciliation of rows a dead process left open."""

from __future__ import annotations

import datetime as dt

from appliance.call_rows import CallRows
from appliance.cli import resolved
from appliance.db.connector import DBConnector
from drivers.asterisk.callmodel import ChannelHungUp

T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)  # days before the test runs


# ``db``: the conftest's migrated database, on SQLite and on PostgreSQL.


def hangup(
    uniqueid: str, cause: int, at: dt.datetime, linkedid: str = "", channel: str = ""
) -> ChannelHungUp:
    return ChannelHungUp(linkedid or uniqueid, uniqueid, channel, cause, "", at.timestamp())


def start(db: DBConnector, uniqueid: str, linkedid: str = "", channel: str = "") -> int:
    return int(
        resolved(db.calls.start(uniqueid, linkedid or uniqueid, "inbound", T0, channel=channel))
    )


def test_the_cause_is_the_switchs_on_the_rows_channel(db: DBConnector) -> None:
    rows = CallRows(db, T0)
    call = start(db, "9.1")
    # a Local caller: the FastAGI session runs on ;2, whose Linkedid is its ;1
    local = start(db, "9.4", "9.3", "Local/4008001234@callers-0000000b;2")
    # an older call whose uniqueid the switch repeats (a restart within a second) for an
    # agent's leg: its cause is not the old call's
    old = start(db, "9.5", channel="DAHDI/3-1")
    rows.on_channel_hangup(hangup("9.2", 16, T0, linkedid="9.1"))  # the agent's leg: not it
    rows.on_channel_hangup(hangup("9.4", 20, T0, "9.3", "Local/4008001234@callers-0000000b;2"))
    rows.on_channel_hangup(hangup("9.5", 17, T0, channel="PJSIP/1001-00000002"))
    resolved(rows.flush())
    assert resolved(db.calls.get(local))["hangup_cause"] == 20  # type: ignore[index]
    assert resolved(db.calls.get(old))["hangup_cause"] is None  # type: ignore[index]
    rows.on_channel_hangup(hangup("9.1", 0, T0))  # "Unknown": no cause
    assert resolved(db.calls.get(call))["hangup_cause"] is None  # type: ignore[index]
    rows.on_channel_hangup(hangup("9.1", 17, T0))  # busy, as the caller's Hangup said
    resolved(rows.flush())
    assert resolved(db.calls.get(call))["hangup_cause"] == 17  # type: ignore[index]


def test_rows_left_open_are_adopted_or_closed_once(db: DBConnector) -> None:
    agent = resolved(db.agents.add("1001", "Li Wei")).id
    queue = resolved(db.queues.add("support")).id
    talking = start(db, "1.1", channel="DAHDI/1-1")
    resolved(db.calls.agent_answered(talking, T0 + dt.timedelta(seconds=10), agent, queue))
    holding = resolved(db.calls.start("1.2", "1.2", "inbound", T0))
    resolved(db.calls.add_event(holding, "queued", T0 + dt.timedelta(seconds=4), {}))
    gone_talking = resolved(db.calls.start("1.3", "1.3", "inbound", T0))
    resolved(db.calls.agent_answered(gone_talking, T0 + dt.timedelta(seconds=5), agent, queue))
    booted = T0 + dt.timedelta(minutes=1)
    # its uniqueid repeated by the switch for another channel (a restart within a second)
    namesake = start(db, "1.5", channel="DAHDI/2-1")
    mine = resolved(db.calls.start("1.4", "1.4", "inbound", booted))  # this process's own
    rows = CallRows(db, booted)

    live = [("1.1", "DAHDI/1-1"), ("1.4", ""), ("7.7", "PJSIP/1001-00000001")]
    live.append(("1.5", "PJSIP/1002-00000003"))
    assert resolved(rows.reconcile_once(live)) == (1, 3)
    assert resolved(rows.reconcile_once([("1.1", "DAHDI/1-1")])) == (1, 3)  # once only
    got = {i: resolved(db.calls.get(i)) for i in (talking, holding, gone_talking, mine, namesake)}
    held, lost = got[holding], got[gone_talking]
    assert held is not None and lost is not None
    assert got[namesake]["disposition"] == "daemon_stopped"  # type: ignore[index]
    assert (held["ended_at"], held["disposition"], held["talk_ms"]) == (
        T0 + dt.timedelta(seconds=4),
        "daemon_stopped",
        None,
    )
    # answered, then lost with the process: talked at least until the last time known
    assert (lost["ended_at"], lost["disposition"], lost["talk_ms"]) == (
        T0 + dt.timedelta(seconds=5),
        "daemon_stopped",
        0,
    )
    assert got[talking]["ended_at"] is None  # type: ignore[index]
    assert got[mine]["ended_at"] is None  # type: ignore[index]

    end = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=5)
    rows.on_channel_hangup(hangup("1.1", 16, end))
    resolved(rows.flush())
    done = resolved(db.calls.get(talking))
    assert done is not None
    talk_ms = int((end - T0).total_seconds() * 1000) - 10_000  # answered at T0 + 10 s
    assert (done["ended_at"], done["disposition"], done["hangup_cause"], done["talk_ms"]) == (
        end,
        "completed",
        16,
        talk_ms,
    )
    kinds = [k for k, _ in resolved(db.calls.events(talking))]
    assert kinds == ["answered", "adopted", "hangup"]


def test_without_a_view_of_the_switch_every_old_open_row_is_closed(db: DBConnector) -> None:
    call = resolved(db.calls.start("3.1", "3.1", "inbound", T0))
    assert resolved(CallRows(db, T0 + dt.timedelta(seconds=1)).reconcile_once(None)) == (0, 1)
    row = resolved(db.calls.get(call))
    assert row is not None and (row["ended_at"], row["disposition"]) == (T0, "daemon_stopped")


def test_a_channel_that_hangs_up_while_the_rows_are_read_is_not_left_open(
    db: DBConnector,
) -> None:
    """The resync saw the channel up; it hung up before the open rows came back from the
    database: its row is finished all the same, at the hangup's time."""
    from twisted.internet import defer

    call = resolved(db.calls.start("5.1", "5.1", "inbound", T0))
    rows = CallRows(db, T0 + dt.timedelta(seconds=1))
    real = resolved(db.calls.open_before(rows.started_at))
    pending: defer.Deferred[object] = defer.Deferred()
    db.calls.open_before = lambda before: pending  # type: ignore[method-assign,assignment,return-value]
    counts = rows.reconcile_once([("5.1", "")])
    end = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=3)
    rows.on_channel_hangup(hangup("5.1", 16, end))
    pending.callback(real)
    assert resolved(counts) == (1, 0)
    resolved(rows.flush())
    row = resolved(db.calls.get(call))
    assert row is not None
    assert (row["ended_at"], row["disposition"], row["hangup_cause"]) == (
        end,
        "daemon_stopped",
        16,
    )
    assert rows.adopted == {}
