"""The relay's HTTP side: who may do what. A visitor's token feeds only its own session and
joins only its own chat's request; an agent views and steers only its own sessions and
chats; an agent cannot open a supervisor's live view nor start one; every staff POST needs
the CSRF token; bad batches are 400, big ones 413; the served config says mask_inputs."""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass
from typing import Any

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock
from twisted.web import server
from twisted.web.test.requesthelper import DummyRequest

from acd.channels.conversation import Conversation
from webui.access import COOKIE
from webui.cobrowse import hub as hub_mod
from webui.cobrowse import resources as resources_mod
from webui.cobrowse.codes import CodeBook
from webui.cobrowse.hub import CobrowseHub
from webui.cobrowse.resources import StaffCobrowse, VisitorCobrowse
from webui.sessions import Session, SessionStore, SessionUser


class Request(DummyRequest):
    """Twisted's DummyRequest with a body, cookies and a producer that is only held."""

    producer: Any = None

    def __init__(self, method: bytes, path: bytes, body: Any = None, **headers: str) -> None:
        name, _, query = path.partition(b"?")
        super().__init__([name])
        self.method = method
        for pair in query.split(b"&") if query else []:
            k, _, v = pair.partition(b"=")
            self.addArg(k, v)
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.content = io.BytesIO(raw if body is not None else b"")
        self.cookies: dict[bytes, bytes] = {}
        self.client: Any = IPv4Address("TCP", "10.0.0.7", 5555)
        for key, value in headers.items():
            self.requestHeaders.setRawHeaders(key.replace("_", "-"), [value])

    def getCookie(self, name: bytes) -> bytes | None:
        return self.cookies.get(name)

    def isSecure(self) -> bool:
        return False

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self.producer = producer

    def unregisterProducer(self) -> None:
        self.producer = None


def render(res: Any, request: Request) -> tuple[int, Any]:
    body = res.render(request)
    if body is server.NOT_DONE_YET:
        return 200, None
    return request.responseCode or 200, json.loads(body)


def frames(request: Request) -> list[dict[str, Any]]:
    out = []
    for chunk in request.written:
        for block in chunk.split(b"\n\n"):
            if block.startswith(b"data: "):
                out.append(json.loads(block[6:]))
    return out


@dataclass
class Agent:
    id: int
    name: str


@dataclass
class Visitor:
    conversation_id: int
    ended: bool = False


class Channels:
    def __init__(self) -> None:
        self.mine: dict[int, list[Conversation]] = {}
        self.relayed: list[tuple[int, str, dict[str, Any]]] = []

    def conversations_of(self, agent_id: int) -> list[Conversation]:
        return list(self.mine.get(agent_id, []))

    def relay(self, conversation_id: int, side: str, event: dict[str, Any]) -> None:
        self.relayed.append((conversation_id, side, event))


def conversation(cid: int, agent_id: int, state: str = "active") -> Conversation:
    return Conversation(
        id=cid,
        media="chat",
        state=state,
        queue_id=1,
        created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        agent_id=agent_id,
    )


SNAPSHOT = [
    {"type": 4, "timestamp": 1, "data": {"href": "https://shop.example.cn/"}},
    {"type": 2, "timestamp": 1, "data": {"node": {"id": 1}}},
]


class Box:
    def __init__(self, mask_inputs: bool = True) -> None:
        self.clock = MemoryReactorClock()
        self.channels = Channels()
        self.hub = CobrowseHub(self.clock, mask_inputs=mask_inputs, relay=self.channels.relay)
        self.codes = CodeBook(self.clock.seconds, 10)
        self.sessions = SessionStore(idle_seconds=3600, clock=self.clock.seconds)
        # users 1, 2 are agents 7, 8; user 3 a supervisor; user 4 another supervisor
        self.agents = {7: Agent(7, "李娜"), 8: Agent(8, "Bob")}
        users = {1: 7, 2: 8}
        self.chats = {"chat-42": Visitor(42), "chat-43": Visitor(43)}
        self.visitor = VisitorCobrowse(
            self.hub,
            self.codes,
            lambda r: self.chats.get((r.getHeader(b"X-Chat-Token") or b"").decode()),
            lambda r: r.getClientAddress().host,
        )
        self.staff = StaffCobrowse(
            self.hub,
            self.codes,
            sessions=self.sessions,
            agent_of_user=lambda uid: self.agents.get(users.get(uid, 0)),
            agent=self.agents.get,
            channels=lambda: self.channels,
            allowed_origin={"https://shop.example.cn"}.__contains__,
        )
        self.logins = {
            "agent7": self.login(SessionUser(1, "agent7", "agent", "李娜")),
            "agent8": self.login(SessionUser(2, "agent8", "agent", "Bob")),
            "boss": self.login(SessionUser(3, "boss", "supervisor", "王主管")),
            "boss2": self.login(SessionUser(4, "boss2", "supervisor", "Other")),
        }
        self.channels.mine[7] = [conversation(42, 7)]
        self.channels.mine[8] = [conversation(43, 8)]

    def login(self, user: SessionUser) -> Session:
        session, _ = self.sessions.get_or_create(None)
        return self.sessions.rotate(session, user)

    def as_staff(
        self, who: str, method: bytes, path: bytes, body: Any = None, csrf: bool = True
    ) -> Request:
        session = self.logins[who]
        headers = {"Host": "box.local", "Origin": "http://box.local"}
        if method == b"GET":
            headers["Accept"] = "text/event-stream"  # as EventSource sends it
        if csrf:
            headers["X_CSRF_Token"] = session.csrf_token
        request = Request(method, path, body, **headers)
        request.cookies[COOKIE.encode()] = session.id.encode()
        return request

    def staff_call(self, who: str, method: bytes, path: bytes, body: Any = None) -> Any:
        return render(self.staff, self.as_staff(who, method, path, body))

    def visitor_call(self, token: str, path: bytes, body: Any) -> Any:
        return render(self.visitor, Request(b"POST", path, body, X_Chat_Token=token))

    def chat_session(self, who: str = "agent7", conversation_id: int = 42) -> tuple[str, str]:
        """An allowed chat co-browsing session: (session id, recording token)."""
        status, body = self.staff_call(who, b"POST", b"request", {"conversation": conversation_id})
        assert status == 200, body
        sid = body["session"]
        status, joined = self.visitor_call(f"chat-{conversation_id}", b"join", {"session": sid})
        assert status == 200, joined
        status, _ = self.visitor_call(joined["token"], b"consent", {"allow": True})
        assert status == 200
        return sid, joined["token"]


@pytest.fixture
def box() -> Box:
    return Box()


# ---- chat co-browsing --------------------------------------------------------------


def test_an_agent_asks_the_visitor_of_its_own_chat_and_views_its_page(box: Box) -> None:
    status, body = box.staff_call("agent7", b"POST", b"request", {"conversation": 42})
    assert status == 200
    sid = body["session"]
    assert box.channels.relayed == [
        (42, "staff", {"type": "cobrowse.request", "session": sid, "agent": "李娜"})
    ]
    viewer = box.as_staff("agent7", b"GET", b"stream?session=" + sid.encode())
    assert render(box.staff, viewer) == (200, None)
    status, joined = box.visitor_call("chat-42", b"join", {"session": sid})
    assert status == 200 and joined["agent"] == "李娜"
    assert joined["config"] == {"mask_inputs": True, "mask_password": True}
    token = joined["token"]
    # nothing may be posted before the visitor allows it
    status, _ = render(box.visitor, Request(b"POST", b"events", SNAPSHOT, X_Chat_Token=token))
    assert status == 409
    assert box.visitor_call(token, b"consent", {"allow": True})[0] == 200
    status, _ = render(box.visitor, Request(b"POST", b"events", SNAPSHOT, X_Chat_Token=token))
    assert status == 202
    got = [f for f in frames(viewer) if f["type"] == "cobrowse.events"]
    assert got and got[-1]["events"] == SNAPSHOT


def test_an_agent_cannot_ask_for_a_chat_not_its_own(box: Box) -> None:
    assert box.staff_call("agent7", b"POST", b"request", {"conversation": 43})[0] == 403
    box.channels.mine[7] = [conversation(42, 7, state="wrap_up")]
    assert box.staff_call("agent7", b"POST", b"request", {"conversation": 42})[0] == 403
    assert box.staff_call("boss", b"POST", b"request", {"conversation": 42})[0] == 403
    assert box.staff_call("agent7", b"POST", b"request", {"conversation": "42"})[0] == 400
    assert box.channels.relayed == []


def test_a_visitor_token_cannot_join_or_feed_another_chat(box: Box) -> None:
    sid42, token42 = box.chat_session("agent7", 42)
    status, body = box.staff_call("agent8", b"POST", b"request", {"conversation": 43})
    sid43 = body["session"]
    # the visitor of chat 42 tries to take chat 43's request
    assert box.visitor_call("chat-42", b"join", {"session": sid43})[0] == 403
    assert box.visitor_call("nonsense", b"join", {"session": sid43})[0] == 401
    # its recording token names its own session only: its events go to 42's viewer
    viewer43 = box.as_staff("agent8", b"GET", b"stream?session=" + sid43.encode())
    render(box.staff, viewer43)
    render(box.visitor, Request(b"POST", b"events", SNAPSHOT, X_Chat_Token=token42))
    assert not [f for f in frames(viewer43) if f["type"] == "cobrowse.events"]
    # a chat token is no recording token
    status, _ = render(box.visitor, Request(b"POST", b"events", SNAPSHOT, X_Chat_Token="chat-43"))
    assert status == 401
    assert sid42 != sid43


def test_an_agent_cannot_view_or_steer_another_agents_session(box: Box) -> None:
    sid, _token = box.chat_session("agent7", 42)
    stream = box.as_staff("agent8", b"GET", b"stream?session=" + sid.encode())
    assert render(box.staff, stream)[0] == 403
    for action, body in (
        (b"push", {"session": sid, "url": "https://shop.example.cn/help"}),
        (b"highlight", {"session": sid, "node": 5}),
        (b"stop", {"session": sid}),
    ):
        assert box.staff_call("agent8", b"POST", action, body)[0] == 403
    assert box.hub.sessions[sid].live


def test_push_page_is_refused_off_the_centers_sites_and_reaches_the_visitor(box: Box) -> None:
    sid, token = box.chat_session()
    control = Request(b"GET", b"stream?t=" + token.encode())
    assert render(box.visitor, control) == (200, None)
    bad = box.staff_call("agent7", b"POST", b"push", {"session": sid, "url": "https://evil.cn/"})
    assert bad[0] == 400
    js = box.staff_call("agent7", b"POST", b"push", {"session": sid, "url": "javascript:x()"})
    assert js[0] == 400
    assert not [f for f in frames(control) if f["type"] == "cobrowse.push"]
    good = {"session": sid, "url": "https://shop.example.cn/help"}
    assert box.staff_call("agent7", b"POST", b"push", good)[0] == 200
    assert box.staff_call("agent7", b"POST", b"highlight", {"session": sid, "node": 12})[0] == 200
    sent = [(f["type"], f.get("url"), f.get("node")) for f in frames(control)]
    assert ("cobrowse.push", "https://shop.example.cn/help", None) in sent
    assert ("cobrowse.highlight", None, 12) in sent


def test_staff_posts_need_the_csrf_token_and_a_login(box: Box) -> None:
    request = box.as_staff("agent7", b"POST", b"request", {"conversation": 42}, csrf=False)
    assert render(box.staff, request)[0] == 403
    anonymous = Request(b"POST", b"code", {}, Host="box.local")
    assert render(box.staff, anonymous)[0] == 401
    assert box.channels.relayed == []


def test_bad_batches_are_400_and_big_ones_413(box: Box) -> None:
    _sid, token = box.chat_session()
    for body in (
        b"not json",
        b"[1,2]",
        b'{"events": []}',
        b'[{"type":3,"timestamp":NaN,"data":{}}]',
        b"\xff\xfe[]",  # not UTF-8
        b"[" * 100_000 + b"]" * 100_000,  # deeper than the JSON parser goes
    ):
        request = Request(b"POST", b"events", body, X_Chat_Token=token)
        assert render(box.visitor, request)[0] == 400, body
    small = [{"type": 3, "timestamp": 2, "data": {"t": "x" * (hub_mod.MAX_BATCH_BYTES + 10)}}]
    assert render(box.visitor, Request(b"POST", b"events", small, X_Chat_Token=token))[0] == 413
    huge = Request(b"POST", b"events", b"[]", X_Chat_Token=token, Content_Length="99999999")
    assert render(box.visitor, huge)[0] == 413


def test_the_served_config_says_mask_inputs() -> None:
    for mask in (True, False):
        box = Box(mask_inputs=mask)
        status, body = render(box.visitor, Request(b"GET", b"config"))
        assert status == 200
        assert body == {"mask_inputs": mask, "mask_password": True}


def test_the_visitor_or_the_agent_may_stop_and_a_deny_records_nothing(box: Box) -> None:
    _status, body = box.staff_call("agent7", b"POST", b"request", {"conversation": 42})
    sid = body["session"]
    token = box.visitor_call("chat-42", b"join", {"session": sid})[1]["token"]
    assert box.visitor_call(token, b"consent", {"allow": False}) == (200, {"state": "ended"})
    late = render(box.visitor, Request(b"POST", b"events", SNAPSHOT, X_Chat_Token=token))
    assert late == (200, {"ended": "denied"})  # nothing recorded, and no error
    sid, token = box.chat_session()
    assert box.visitor_call(token, b"stop", {})[0] == 200
    assert not box.hub.sessions[sid].live
    sid, token = box.chat_session()
    assert box.staff_call("agent7", b"POST", b"stop", {"session": sid})[0] == 200
    assert box.hub.sessions[sid].ended_reason == "staff_stopped"


def test_a_batch_that_crosses_the_end_is_dropped_and_told_so_and_nothing_else_is(
    box: Box,
) -> None:
    """The end travels on the stream while the page's next batch may be on its way: that
    batch is answered 200 ``ended`` (an error status is a red line in the shop page's
    console), relays nothing, and the ended token opens nothing else; a minute on, the token
    is unknown again."""
    sid, token = box.chat_session()
    viewer = box.as_staff("agent7", b"GET", b"stream?session=" + sid.encode())
    render(box.staff, viewer)
    assert box.staff_call("agent7", b"POST", b"stop", {"session": sid})[0] == 200
    seen = len(frames(viewer))
    late = render(box.visitor, Request(b"POST", b"events", SNAPSHOT, X_Chat_Token=token))
    assert late == (200, {"ended": "staff_stopped"})
    assert len(frames(viewer)) == seen
    assert box.visitor_call(token, b"consent", {"allow": True})[0] == 401
    stream = render(box.visitor, Request(b"GET", b"stream?t=" + token.encode()))
    assert stream[0] == 401
    assert box.visitor_call(token, b"stop", {})[0] == 401
    box.clock.advance(60)
    late = render(box.visitor, Request(b"POST", b"events", SNAPSHOT, X_Chat_Token=token))
    assert late[0] == 401


# ---- the caller's code ---------------------------------------------------------------


def test_a_caller_joins_the_agent_with_its_code_once(box: Box) -> None:
    status, body = box.staff_call("agent7", b"POST", b"code", {})
    assert status == 200 and body["expires_in"] == 600
    code = body["code"]
    status, joined = render(box.visitor, Request(b"POST", b"code", {"code": code}))
    assert status == 200 and joined["agent"] == "李娜"
    sid = joined["session"]
    assert (
        render(box.staff, box.as_staff("agent7", b"GET", b"stream?session=" + sid.encode()))[0]
        == 200
    )
    assert (
        render(box.staff, box.as_staff("agent8", b"GET", b"stream?session=" + sid.encode()))[0]
        == 403
    )
    assert render(box.visitor, Request(b"POST", b"code", {"code": code}))[0] == 400  # used
    assert render(box.visitor, Request(b"POST", b"code", {"code": 123456}))[0] == 400


# ---- the supervisor's live view ----------------------------------------------------------


def test_only_a_supervisor_starts_a_live_view_and_only_its_own_is_open_to_it(box: Box) -> None:
    assert box.staff_call("agent8", b"POST", b"watch", {"agent": 7})[0] == 403
    assert box.staff_call("boss", b"POST", b"watch", {"agent": 99})[0] == 404
    desk = box.as_staff("agent7", b"GET", b"desk")
    render(box.staff, desk)
    status, body = box.staff_call("boss", b"POST", b"watch", {"agent": 7})
    assert status == 200
    sid = body["session"]
    notice = [f for f in frames(desk) if f["type"] == "cobrowse.watch"]
    assert notice and notice[0]["by"] == "王主管" and notice[0]["mask_inputs"] is True
    path = b"stream?session=" + sid.encode()
    # the watched agent, another agent and another supervisor may not open the view
    for who in ("agent7", "agent8", "boss2"):
        assert render(box.staff, box.as_staff(who, b"GET", path))[0] == 403, who
    viewer = box.as_staff("boss", b"GET", path)
    assert render(box.staff, viewer) == (200, None)
    # the desk of agent 7 records; agent 8 cannot post into it
    events_path = b"desk_events?session=" + sid.encode()
    assert box.staff_call("agent8", b"POST", events_path, SNAPSHOT)[0] == 403
    assert box.staff_call("agent7", b"POST", events_path, SNAPSHOT)[0] == 202
    assert [f for f in frames(viewer) if f["type"] == "cobrowse.events"]
    # the agent cannot stop being watched; the supervisor can
    assert box.staff_call("agent7", b"POST", b"stop", {"session": sid})[0] == 403
    assert box.staff_call("boss", b"POST", b"stop", {"session": sid})[0] == 200
    assert frames(desk)[-1]["type"] == "cobrowse.stop"
    # the desk's batch that crossed the stop: dropped and told so; another agent's: refused
    seen = len(frames(viewer))
    late = box.staff_call("agent7", b"POST", events_path, SNAPSHOT)
    assert late == (200, {"ended": "staff_stopped"}) and len(frames(viewer)) == seen
    assert box.staff_call("agent8", b"POST", events_path, SNAPSHOT)[0] == 403
    box.clock.advance(60)
    assert box.staff_call("agent7", b"POST", events_path, SNAPSHOT)[0] == 403


def test_a_flood_of_large_bodies_is_refused_before_it_is_parsed(
    box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    """4 MB of ``[{},{},...]`` is a million objects for the reactor to build: the rate is
    checked on the raw body first, so past the burst nothing more is parsed."""
    _sid, token = box.chat_session()
    parsed: list[int] = []
    real = resources_mod.json.loads

    def counting_loads(text: str, **kw: Any) -> Any:
        parsed.append(len(text))
        return real(text, **kw)

    monkeypatch.setattr(resources_mod.json, "loads", counting_loads)
    body = b"[" + b"{}," * (1024 * 1024 // 3) + b"{}]"  # 1 MB, not a batch of events
    statuses = [
        render(box.visitor, Request(b"POST", b"events", body, X_Chat_Token=token))[0]
        for _ in range(30)
    ]
    assert statuses.count(429) >= 30 - hub_mod.BYTE_BURST // len(body) - 1
    assert set(statuses) == {413, 429}  # parsed: over an incremental batch's cap
    big = [n for n in parsed if n >= len(body)]  # (the test's render reads the answers)
    assert 1 <= len(big) <= hub_mod.BYTE_BURST // len(body) + 1


@pytest.mark.parametrize("path", [b"stream?session=", b"desk"])
@pytest.mark.parametrize("accept", [None, "image/avif,image/webp,*/*", "text/css,*/*;q=0.1"])
def test_a_stream_opens_only_for_an_event_source(box: Box, path: bytes, accept: str | None) -> None:
    """A replayed page's <img> or style url() on this site, sent with the agent's cookie,
    opens no stream that never ends (a browser keeps six connections to a site)."""
    sid, _token = box.chat_session()
    if path.endswith(b"="):
        path += sid.encode()
    request = box.as_staff("agent7", b"GET", path)
    if accept is None:
        request.requestHeaders.removeHeader(b"Accept")
    else:
        request.requestHeaders.setRawHeaders(b"Accept", [accept.encode()])
    assert render(box.staff, request)[0] == 406
    assert not box.hub.desks and not box.hub.sessions[sid].viewers
