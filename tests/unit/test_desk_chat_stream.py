"""The desk stream's bounds (webui/desk_chat/stream.py) on a memory clock: frames are
written the moment they come, a paused browser's frames wait up to PENDING_BYTES and are
then dropped for one ``resync``, a stalled stream and one whose session ended are closed,
and a closed stream leaves the engine's listener lists."""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.testing import MemoryReactorClock
from twisted.web.test.requesthelper import DummyRequest

from acd.channels.conversation import Load
from webui.desk_chat import stream
from webui.desk_chat.stream import DeskHub, DeskStream, frame
from webui.sessions import SessionStore, SessionUser


class Unsubscribed:
    """The two engine methods a stream uses: what was unsubscribed, an agent's load."""

    def __init__(self) -> None:
        self.gone: list[Any] = []

    def unsubscribe(self, sub: Any) -> None:
        self.gone.append(sub)

    def load(self, agent_id: int) -> Load:
        return Load(open=2, capacity=3, on_call=False, may_take=True)


def _frames(request: DummyRequest) -> list[dict[str, Any]]:
    data = b"".join(request.written)
    return [json.loads(b[len(b"data: ") :]) for b in data.split(b"\n\n") if b.startswith(b"data: ")]


def _stream(agent_id: int | None = 7) -> tuple[DeskHub, DeskStream, DummyRequest, Any]:
    clock = MemoryReactorClock()
    sessions = SessionStore(idle_seconds=3600, clock=clock.seconds)
    session, _ = sessions.get_or_create(None)
    session.user = SessionUser(2, "ann", "agent", "Ann")
    channels = Unsubscribed()
    hub = DeskHub(clock, channels, sessions)
    hub.start()
    request = DummyRequest([b"stream"])
    s = DeskStream(hub, request, session, agent_id)
    hub.streams.add(s)
    s.subscriptions.append("sub-1")
    return hub, s, request, channels


def test_a_frame_is_one_data_line_of_json_even_with_newlines_and_chinese() -> None:
    data = frame({"type": "message", "message": {"body": "第一行\n第二行\r\n</script>"}})
    assert data.count(b"\n") == 2 and data.endswith(b"\n\n")
    assert json.loads(data[6:])["message"]["body"] == "第一行\n第二行\r\n</script>"


def test_events_are_written_at_once_and_an_agents_load_follows_a_change_of_state() -> None:
    _hub, s, request, _ch = _stream()
    s.listener({"type": "message", "conversation": 1, "message": {"id": 5}})
    assert _frames(request) == [{"type": "message", "conversation": 1, "message": {"id": 5}}]
    writes = len(request.written)
    s.listener({"type": "state", "conversation": 1, "state": "active"})
    assert _frames(request)[-1] == {
        "type": "load",
        "open": 2,
        "capacity": 3,
        "on_call": False,
        "may_take": True,
    }
    # the state and the load it changed went as one write (one TLS record, one send)
    assert len(request.written) == writes + 1
    assert [f["type"] for f in _frames(request)[-2:]] == ["state", "load"]


def test_a_paused_browser_gets_what_waited_then_a_resync_past_the_bound() -> None:
    hub, s, request, _ch = _stream(agent_id=None)
    s.pauseProducing()
    s.listener({"type": "typing", "conversation": 1, "typing": True})
    assert _frames(request) == []
    s.resumeProducing()
    assert _frames(request) == [{"type": "typing", "conversation": 1, "typing": True}]
    assert hub.pending_bytes == 0

    s.pauseProducing()
    big = {"type": "message", "conversation": 1, "message": {"body": "x" * 64 * 1024}}
    for _ in range(stream.PENDING_BYTES // (64 * 1024) + 2):
        s.listener(big)
    assert s.stale and not s.pending and hub.pending_bytes == 0 and hub.dropped == 1
    s.listener(big)  # nothing kept while stale
    assert hub.pending_bytes == 0
    before = len(_frames(request))
    s.resumeProducing()
    assert _frames(request)[before:] == [{"type": "resync"}]


def test_a_stalled_stream_and_one_whose_session_ended_are_closed_and_unsubscribed() -> None:
    hub, s, request, channels = _stream()
    s.pauseProducing()
    hub.reactor.advance(stream.STALLED_S + stream.HEARTBEAT_S)
    assert s.closed and request.finished and s not in hub.streams
    assert channels.gone == ["sub-1"]

    hub, s, request, channels = _stream()
    hub.reactor.advance(stream.HEARTBEAT_S)
    assert b": hb\n\n" in b"".join(request.written) and not s.closed
    hub.sessions.rotate(s.session, None)  # logged out
    hub.reactor.advance(stream.HEARTBEAT_S)
    assert s.closed and channels.gone == ["sub-1"]
    s.listener({"type": "message"})  # late events after the close are dropped quietly
    hub.stop()


def test_the_browser_going_away_unsubscribes_once() -> None:
    hub, s, _request, channels = _stream()
    s.gone(None)
    s.gone(None)
    assert channels.gone == ["sub-1"] and s not in hub.streams


def test_push_to_a_user_or_an_agent_reaches_only_their_streams() -> None:
    hub, _s, request, _ch = _stream(agent_id=7)
    assert hub.push_to_user(2, {"type": "cobrowse.watched", "by": "sue"}) == 1
    assert hub.push_to_user(3, {"type": "x"}) == 0
    assert hub.push_to_agent(7, {"type": "y"}) == 1
    assert hub.push_to_agent(8, {"type": "z"}) == 0
    assert [f["type"] for f in _frames(request)] == ["cobrowse.watched", "y"]
