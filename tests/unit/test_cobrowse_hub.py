"""The co-browsing relay: rrweb batch shape, size and rate limits, consent, snapshots for
new and lagging viewers, the push-page origin check, and the audit of the live view (the
real audit store on SQLite)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.testing import MemoryReactorClock
from twisted.web.test.requesthelper import DummyRequest

from appliance.cli import resolved
from tests.support.inline_db import inline_db
from webui.cobrowse import hub as hub_mod
from webui.cobrowse import stream as stream_mod
from webui.cobrowse.hub import CobrowseError, CobrowseHub, check_events, page_origin
from webui.cobrowse.stream import EventStream


def full_snapshot(ts: int = 1) -> list[dict[str, Any]]:
    return [
        {"type": 4, "timestamp": ts, "data": {"href": "https://shop.example.cn/", "width": 800}},
        {"type": 2, "timestamp": ts, "data": {"node": {"type": 0, "childNodes": [], "id": 1}}},
    ]


def incremental(ts: int = 2, text: str = "x") -> list[dict[str, Any]]:
    return [{"type": 3, "timestamp": ts, "data": {"source": 0, "texts": [text]}}]


class Request(DummyRequest):
    """Twisted's DummyRequest, but a streaming producer is only held (its own loops on
    resumeProducing as for a pull producer)."""

    producer: Any = None

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self.producer = producer

    def unregisterProducer(self) -> None:
        self.producer = None


def frames(request: DummyRequest) -> list[dict[str, Any]]:
    out = []
    for chunk in request.written:
        for block in chunk.split(b"\n\n"):
            if block.startswith(b"data: "):
                out.append(json.loads(block[6:]))
    return out


class Relay:
    def __init__(self) -> None:
        self.sent: list[tuple[int, str, dict[str, Any]]] = []

    def __call__(self, conversation_id: int, side: str, event: dict[str, Any]) -> None:
        self.sent.append((conversation_id, side, event))


def make_hub(**kw: Any) -> tuple[MemoryReactorClock, CobrowseHub]:
    clock = MemoryReactorClock()
    return clock, CobrowseHub(clock, mask_inputs=True, **kw)


def open_stream(h: CobrowseHub) -> tuple[Request, EventStream]:
    request = Request([b"stream"])
    stream = EventStream(request, h.reactor, h.stream_gone)
    stream.open()
    return request, stream


# ---- the shape of a batch -------------------------------------------------------------


def test_rrweb_batches_pass_and_say_whether_they_hold_a_full_snapshot() -> None:
    assert check_events(full_snapshot()) is True
    assert check_events(incremental()) is False
    assert check_events([{"type": 5, "timestamp": 1.5, "data": {"tag": "x"}}]) is False


@pytest.mark.parametrize(
    "body",
    [
        [],
        {},
        "events",
        None,
        [1, 2],
        [{"type": 3, "data": {}}],  # no timestamp
        [{"timestamp": 1, "data": {}}],  # no type
        [{"type": "3", "timestamp": 1, "data": {}}],
        [{"type": 9, "timestamp": 1, "data": {}}],
        [{"type": True, "timestamp": 1, "data": {}}],
        [{"type": 3, "timestamp": True, "data": {}}],
        [{"type": 3, "timestamp": -1, "data": {}}],
        [{"type": 3, "timestamp": 1, "data": "<script>"}],
        [{"type": 3, "timestamp": 1}],
        [{"type": 3, "timestamp": 1, "data": {}}] * (hub_mod.MAX_EVENTS + 1),
    ],
)
def test_anything_but_rrweb_events_is_refused(body: Any) -> None:
    with pytest.raises(CobrowseError) as refused:
        check_events(body)
    assert refused.value.status == 400


# ---- the pushed page's origin ----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://shop.example.cn/help?a=1#b", "https://shop.example.cn"),
        ("https://Shop.Example.cn:443/", "https://shop.example.cn"),
        ("http://shop.example.cn:8080/x", "http://shop.example.cn:8080"),
        ("https://[::1]:8443/", "https://[::1]:8443"),
        ("javascript:alert(1)", None),
        ("data:text/html,<b>", None),
        ("https://user:pw@shop.example.cn/", None),
        ("https://shop.example.cn\\@evil.example/", None),
        ("https://shop.example.cn/\nx", None),
        ("//shop.example.cn/", None),
        ("https:///path", None),
        ("https://shop.example.cn:99999/", None),
        ("", None),
    ],
)
def test_page_origin(url: str, origin: str | None) -> None:
    assert page_origin(url) == origin


def test_push_page_only_to_an_allowed_origin() -> None:
    _clock, h = make_hub()
    s = h.join_code(7, "a")
    req, source = open_stream(h)
    h.add_source(s, source)
    allowed = {"https://shop.example.cn"}.__contains__
    with pytest.raises(CobrowseError) as early:  # not before the visitor allowed it
        h.push_page(s, "https://shop.example.cn/help", allowed)
    assert early.value.status == 409
    h.consent(s, True)
    with pytest.raises(CobrowseError):
        h.push_page(s, "https://evil.example/", allowed)
    with pytest.raises(CobrowseError):
        h.push_page(s, "javascript:alert(1)", allowed)
    assert not [f for f in frames(req) if f["type"] == "cobrowse.push"]
    h.push_page(s, "https://shop.example.cn/help", allowed)
    pushes = [f for f in frames(req) if f["type"] == "cobrowse.push"]
    assert pushes == [
        {"type": "cobrowse.push", "session": s.id, "url": "https://shop.example.cn/help"}
    ]


# ---- consent, snapshots, relaying ------------------------------------------------------


def test_nothing_is_relayed_before_the_visitor_allows_it_and_deny_ends_it() -> None:
    relay = Relay()
    _clock, h = make_hub(relay=relay)
    s = h.request_chat(7, "Agent 7", 42)
    assert relay.sent == [
        (42, "staff", {"type": "cobrowse.request", "session": s.id, "agent": "Agent 7"})
    ]
    h.join_chat(s.id, 42)
    with pytest.raises(CobrowseError) as refused:
        h.post(s, 100, full_snapshot())
    assert refused.value.status == 409
    h.consent(s, False)
    assert s.state == "ended" and s.ended_reason == "denied"
    assert relay.sent[-1][2]["type"] == "cobrowse.stop"
    assert not h.by_token[s.token].live  # remembered a minute, for a batch on its way
    _clock.advance(60)
    assert s.token not in h.by_token and s.id not in h.sessions


def test_a_visitor_cannot_join_another_chats_request() -> None:
    _clock, h = make_hub(relay=Relay())
    s = h.request_chat(7, "a", 42)
    with pytest.raises(CobrowseError) as refused:
        h.join_chat(s.id, 43)
    assert refused.value.status == 403
    assert not s.joined


def test_a_viewer_gets_events_only_from_a_full_snapshot_on() -> None:
    _clock, h = make_hub()
    s = h.join_code(7, "a")
    source_req, source = open_stream(h)
    h.add_source(s, source)
    viewer_req, viewer = open_stream(h)
    h.add_viewer(s, viewer)
    h.consent(s, True)
    # allowing asked the page for a full snapshot
    assert [f["type"] for f in frames(source_req)].count("cobrowse.snapshot") >= 1
    h.post(s, 100, incremental(1))  # before the snapshot: the viewer could not use it
    assert not [f for f in frames(viewer_req) if f["type"] == "cobrowse.events"]
    h.post(s, 100, full_snapshot(2))
    h.post(s, 100, incremental(3, "李娜"))
    got = [f["events"] for f in frames(viewer_req) if f["type"] == "cobrowse.events"]
    assert got == [full_snapshot(2), incremental(3, "李娜")]


def test_a_viewer_that_falls_behind_skips_to_a_fresh_snapshot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stream_mod, "PENDING_BYTES", 2000)
    clock, h = make_hub()
    s = h.join_code(7, "a")
    source_req, source = open_stream(h)
    h.add_source(s, source)
    h.consent(s, True)
    viewer_req, viewer = open_stream(h)
    h.add_viewer(s, viewer)
    h.post(s, 100, full_snapshot())
    asks = len([f for f in frames(source_req) if f["type"] == "cobrowse.snapshot"])
    viewer.pauseProducing()  # its socket is full
    clock.advance(10)
    for n in range(40):
        h.post(s, 100, incremental(10 + n, "y" * 100))
        clock.advance(0.2)
    assert viewer.stale and viewer.pending_bytes <= 2000
    later = len([f for f in frames(source_req) if f["type"] == "cobrowse.snapshot"])
    assert later == asks + 1  # asked once for a fresh snapshot (not once per batch)
    viewer.resumeProducing()
    before = len(viewer_req.written)
    h.post(s, 100, incremental(99))  # still stale: skipped
    assert len(viewer_req.written) == before
    h.post(s, 100, full_snapshot(100))
    assert frames(viewer_req)[-1]["events"] == full_snapshot(100)


def test_batches_are_limited_in_size_and_rate() -> None:
    clock, h = make_hub()
    s = h.join_code(7, "a")
    h.consent(s, True)
    with pytest.raises(CobrowseError) as big:
        h.post(s, hub_mod.MAX_BATCH_BYTES + 1, incremental())
    assert big.value.status == 413
    # a full snapshot may be bigger, up to its own cap
    h.post(s, hub_mod.MAX_BATCH_BYTES + 1, full_snapshot())
    with pytest.raises(CobrowseError):
        h.post(s, hub_mod.MAX_SNAPSHOT_BYTES + 1, full_snapshot())
    refused = 0
    for n in range(100):  # 100 batches in the same instant
        try:
            h.post(s, 100, incremental(n))
        except CobrowseError as exc:
            assert exc.status == 429
            refused += 1
    assert refused >= 100 - hub_mod.BATCH_BURST
    clock.advance(5)  # the rate recovers
    h.post(s, 100, incremental(200))


def test_masking_is_in_the_config_given_to_recording_pages() -> None:
    clock = MemoryReactorClock()
    assert CobrowseHub(clock, mask_inputs=True).client_config() == {
        "mask_inputs": True,
        "mask_password": True,
    }
    assert CobrowseHub(clock, mask_inputs=False).client_config() == {
        "mask_inputs": False,
        "mask_password": True,
    }


def test_an_unanswered_request_and_an_abandoned_session_end() -> None:
    clock, h = make_hub(relay=Relay())
    h.start()
    asked = h.request_chat(7, "a", 42)
    clock.advance(hub_mod.REQUEST_TIMEOUT_S + hub_mod.HEARTBEAT_S)
    assert asked.state == "ended" and asked.ended_reason == "timeout"
    s = h.join_code(7, "a")
    h.consent(s, True)
    _req, viewer = open_stream(h)
    h.add_viewer(s, viewer)
    viewer.close()
    clock.advance(hub_mod.ALONE_S + hub_mod.HEARTBEAT_S * 2)
    assert s.state == "ended" and s.ended_reason == "viewer_left"
    h.stop()


# ---- the supervisor's live view ---------------------------------------------------------


def test_the_live_view_tells_the_desk_and_is_audited(tmp_path: Path) -> None:
    with inline_db(tmp_path / "audit.sqlite") as db:
        clock, h = make_hub(audit=db.audit.add)
        desk_req, desk = open_stream(h)
        h.add_desk(7, desk)
        other_req, other = open_stream(h)
        h.add_desk(8, other)
        s = h.watch_desk(7, "Agent 7", "boss", "王主管", "10.0.0.5")
        notices = [f for f in frames(desk_req) if f["type"] == "cobrowse.watch"]
        assert notices == [
            {
                "type": "cobrowse.watch",
                "session": s.id,
                "by": "王主管",
                "mask_inputs": True,
                "mask_password": True,
            }
        ]
        assert not [f for f in frames(other_req) if f["type"] == "cobrowse.watch"]
        # a desk page opened later (a reload) hears of the watch at once
        late_req, late = open_stream(h)
        h.add_desk(7, late)
        assert [f["type"] for f in frames(late_req)] == ["cobrowse.watch"]
        clock.advance(95)
        h.end(s, "staff_stopped", by="boss")
        assert frames(desk_req)[-1] == {
            "type": "cobrowse.stop",
            "session": s.id,
            "reason": "staff_stopped",
        }
        rows = resolved(db.audit.recent(target="agent:7"))
        assert [(r.actor, r.action, r.ip) for r in reversed(rows)] == [
            ("boss", "cobrowse.watch_start", "10.0.0.5"),
            ("boss", "cobrowse.watch_stop", "10.0.0.5"),
        ]
        assert rows[0].detail == {
            "session": s.id,
            "reason": "staff_stopped",
            "seconds": 95,
            "by": "boss",
        }
        h.end(s, "again")  # idempotent: no second stop row
        assert len(resolved(db.audit.recent(target="agent:7"))) == 2


def test_a_chat_visitor_whose_page_changed_is_called_back_until_it_resumes() -> None:
    relay = Relay()
    clock, h = make_hub(relay=relay)
    s = h.request_chat(7, "a", 42)
    h.join_chat(s.id, 42)
    h.consent(s, True)
    _req, source = open_stream(h)
    h.add_source(s, source)
    source.close()  # the page went (pushed to another)
    clock.pump([1.0, 1.0, 1.0, 0.5])
    resumes = [e for _c, _s, e in relay.sent if e["type"] == "cobrowse.resume"]
    assert len(resumes) == 4 and resumes[0] == {"type": "cobrowse.resume", "session": s.id}
    _req2, again = open_stream(h)
    h.add_source(s, again)  # the next page's control stream
    clock.pump([1.0] * 10)
    assert len([e for _c, _s, e in relay.sent if e["type"] == "cobrowse.resume"]) == 4
    # a page that never comes back is called for RESUME_FOR_S only
    again.close()
    clock.pump([1.0] * int(hub_mod.RESUME_FOR_S + 5))
    count = len([e for _c, _s, e in relay.sent if e["type"] == "cobrowse.resume"])
    assert 4 + hub_mod.RESUME_FOR_S - 1 <= count <= 4 + hub_mod.RESUME_FOR_S + 1
    clock.pump([1.0] * 60)
    assert len([e for _c, _s, e in relay.sent if e["type"] == "cobrowse.resume"]) == count


def test_a_watched_desk_is_asked_for_snapshots_and_the_view_ends_soon_after_its_viewer() -> None:
    clock, h = make_hub()
    h.start()
    desk_req, desk = open_stream(h)
    h.add_desk(7, desk)
    s = h.watch_desk(7, "Agent 7", "boss", "Boss", "10.0.0.5")
    _viewer_req, viewer = open_stream(h)
    h.add_viewer(s, viewer)  # the supervisor's page connects: the desk takes a snapshot
    assert [f["type"] for f in frames(desk_req)] == ["cobrowse.watch", "cobrowse.snapshot"]
    viewer.close()
    clock.pump([1.0] * int(hub_mod.DESK_ALONE_S + hub_mod.HEARTBEAT_S + 1))
    assert s.state == "ended" and s.ended_reason == "viewer_left"
    assert frames(desk_req)[-1]["type"] == "cobrowse.stop"
    h.stop()


def test_a_code_session_is_announced_to_its_agents_desk() -> None:
    _clock, h = make_hub()
    desk_req, desk = open_stream(h)
    h.add_desk(7, desk)
    s = h.join_code(7, "Agent 7")
    assert frames(desk_req) == [{"type": "cobrowse.joined", "session": s.id}]


def test_a_chat_that_moves_to_another_agent_ends_its_co_browsing() -> None:
    _clock, h = make_hub(relay=Relay())
    s = h.request_chat(7, "a", 42)
    h.conversation_moved(42, 7)  # still the same agent: nothing
    assert s.live
    h.conversation_moved(43, None)  # another chat
    assert s.live
    h.conversation_moved(42, 8)
    assert s.state == "ended" and s.ended_reason == "transferred"


def test_streams_per_session_and_per_desk_are_bounded() -> None:
    _clock, h = make_hub()
    s = h.join_code(7, "a")
    streams = [open_stream(h)[1] for _ in range(hub_mod.MAX_VIEWERS + 3)]
    for st in streams:
        h.add_viewer(s, st)
    assert len(s.viewers) == hub_mod.MAX_VIEWERS
    assert sum(st.closed for st in streams) == 3
    desks = [open_stream(h)[1] for _ in range(hub_mod.MAX_DESK_STREAMS + 2)]
    for st in desks:
        h.add_desk(7, st)
    assert len(h.desks[7]) == hub_mod.MAX_DESK_STREAMS


def test_a_stream_sends_its_frames_without_nagles_delay() -> None:
    class Transport:
        no_delay: bool | None = None

        def setTcpNoDelay(self, enabled: bool) -> None:
            self.no_delay = enabled

    class Channel:
        transport = Transport()

    _clock, h = make_hub()
    request = Request([b"stream"])
    request.channel = Channel()  # type: ignore[attr-defined]
    EventStream(request, h.reactor, h.stream_gone).open()
    assert Channel.transport.no_delay is True


def test_a_lone_surrogate_in_a_batch_is_relayed_as_valid_utf8() -> None:
    _clock, h = make_hub()
    s = h.join_code(7, "a")
    h.consent(s, True)
    viewer_req, viewer = open_stream(h)
    h.add_viewer(s, viewer)
    h.post(s, 100, full_snapshot())
    events = json.loads('[{"type": 3, "timestamp": 5, "data": {"text": "a\\ud800b 中"}}]')
    h.post(s, 100, events)
    last = frames(viewer_req)[-1]
    assert last["events"][0]["data"]["text"] == "a?b 中"


def test_a_batch_nested_too_deep_to_relay_is_refused() -> None:
    import sys

    _clock, h = make_hub()
    s = h.join_code(7, "a")
    h.consent(s, True)
    deep: Any = {}
    for _ in range(sys.getrecursionlimit() + 10):
        deep = {"c": deep}
    with pytest.raises(CobrowseError) as refused:
        h.post(s, 100, [{"type": 3, "timestamp": 1, "data": deep}])
    assert refused.value.status == 400


def test_co_browsing_a_chat_or_with_a_code_is_audited_too(tmp_path: Path) -> None:
    with inline_db(tmp_path / "audit.sqlite") as db:
        clock, h = make_hub(audit=db.audit.add, relay=Relay())
        s = h.request_chat(7, "李娜", 42, "agent7", "10.0.0.7")
        h.join_chat(s.id, 42)
        h.consent(s, True)
        clock.advance(30)
        h.end(s, "visitor_stopped")
        newest: list[Any] = resolved(db.audit.recent(target="conversation:42"))
        rows = newest[::-1]
        assert [(r.actor, r.action, r.ip) for r in rows] == [
            ("agent7", "cobrowse.start", "10.0.0.7"),
            ("agent7", "cobrowse.stop", "10.0.0.7"),
        ]
        assert rows[0].detail == {"session": s.id, "kind": "chat"}
        assert rows[1].detail == {"session": s.id, "reason": "visitor_stopped", "seconds": 30}
        c = h.join_code(7, "李娜", "agent7", "10.0.0.7", caller="203.0.113.9")
        h.end(c, "staff_stopped", by="agent7")
        newest = resolved(db.audit.recent(target="agent:7"))
        rows = newest[::-1]
        assert [(r.action, r.detail.get("kind"), r.detail.get("caller")) for r in rows] == [
            ("cobrowse.start", "code", "203.0.113.9"),
            ("cobrowse.stop", None, None),
        ]


def test_a_live_view_or_a_session_whose_viewer_never_came_ends_and_is_audited(
    tmp_path: Path,
) -> None:
    """The supervisor's page closed between its watch POST and its stream (or an agent
    never opened the caller's page): the desk must not record (banner up) for ever, and
    the stop is audited."""
    with inline_db(tmp_path / "audit.sqlite") as db:
        clock, h = make_hub(audit=db.audit.add)
        h.start()
        desk_req, desk = open_stream(h)
        h.add_desk(7, desk)
        s = h.watch_desk(7, "Agent 7", "boss", "Boss", "10.0.0.5")
        code = h.join_code(8, "b")
        h.consent(code, True)
        clock.pump([1.0] * int(hub_mod.DESK_ALONE_S + hub_mod.HEARTBEAT_S + 1))
        assert s.state == "ended" and s.ended_reason == "viewer_left"
        assert frames(desk_req)[-1] == {
            "type": "cobrowse.stop",
            "session": s.id,
            "reason": "viewer_left",
        }
        rows = resolved(db.audit.recent(target="agent:7"))
        assert [r.action for r in reversed(rows)] == [
            "cobrowse.watch_start",
            "cobrowse.watch_stop",
        ]
        assert code.live  # a caller's page gets the agent's longer grace
        clock.pump([1.0] * int(hub_mod.ALONE_S + hub_mod.HEARTBEAT_S))
        assert code.state == "ended" and code.ended_reason == "viewer_left"
        h.stop()
