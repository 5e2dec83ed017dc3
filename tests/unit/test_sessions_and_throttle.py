"""Session store and login throttle, on a fake clock."""

from __future__ import annotations

from webui.sessions import SessionStore, SessionUser
from webui.throttle import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sessions_expire_after_idle_time_and_touch_keeps_them() -> None:
    clock = Clock()
    store = SessionStore(idle_seconds=60, clock=clock)
    s, new = store.get_or_create(None)
    assert new and s.csrf_token and s.id != s.csrf_token
    clock.now += 50
    same, new = store.get_or_create(s.id)
    assert same is s and not new
    clock.now += 50  # 50 s since the last touch: still alive
    assert store.get_or_create(s.id)[0] is s
    clock.now += 61
    other, new = store.get_or_create(s.id)
    assert new and other.id != s.id


def test_unknown_ids_get_a_fresh_session_never_the_given_id() -> None:
    store = SessionStore(idle_seconds=60, clock=Clock())
    s, new = store.get_or_create("attacker-chosen-id")
    assert new and s.id != "attacker-chosen-id"


def test_rotate_moves_to_a_new_id_and_kills_the_old() -> None:
    store = SessionStore(idle_seconds=60, clock=Clock())
    s, _ = store.get_or_create(None)
    s.locale = "zh_CN"
    user = SessionUser(1, "a", "admin", "A")
    new = store.rotate(s, user)
    assert new.id != s.id and new.csrf_token != s.csrf_token
    assert new.user == user and new.locale == "zh_CN"
    assert store.get_or_create(s.id)[0].id != s.id


def test_purge_and_drop_user() -> None:
    clock = Clock()
    store = SessionStore(idle_seconds=10, clock=clock)
    a, _ = store.get_or_create(None)
    b = store.rotate(store.get_or_create(None)[0], SessionUser(7, "u", "agent", ""))
    assert len(store) == 2
    assert store.drop_user(7) == 1
    clock.now += 11
    assert store.purge() == 1 and len(store) == 0
    assert a.id != b.id


def test_store_is_bounded_and_keeps_logged_in_sessions() -> None:
    store = SessionStore(idle_seconds=600, clock=Clock())
    store.MAX_SESSIONS = 50
    logged = store.rotate(store.get_or_create(None)[0], SessionUser(1, "u", "agent", ""))
    for _ in range(200):
        store.get_or_create(None)
    assert len(store) <= 50
    assert store.get_or_create(logged.id)[0] is logged


def test_a_name_at_an_address_is_locked_after_max_failures_with_back_off() -> None:
    clock = Clock()
    t = LoginThrottle(max_failures=3, window_s=900, backoff_s=60, clock=clock)
    for _ in range(2):
        t.failed("Alice", "10.0.0.1")
    assert t.locked("alice", "10.0.0.1") == 0
    t.failed("alice", "10.0.0.1")  # the third: a minute
    assert t.locked("ALICE", "10.0.0.1") == 60
    assert t.locked("bob", "10.0.0.1") == 0  # the rest of the floor behind the same NAT
    assert t.locked("alice", "10.0.0.2") == 0  # and alice from elsewhere
    clock.now += 60
    assert t.locked("alice", "10.0.0.1") == 0
    t.failed("alice", "10.0.0.1")  # the fourth: two minutes, then four, ...
    assert t.locked("alice", "10.0.0.1") == 120
    clock.now += 120
    t.failed("alice", "10.0.0.1")
    assert t.locked("alice", "10.0.0.1") == 240
    for _ in range(10):  # never longer than the window
        clock.now += t.locked("alice", "10.0.0.1")
        t.failed("alice", "10.0.0.1")
    assert t.locked("alice", "10.0.0.1") == 900
    clock.now += 900
    assert t.locked("alice", "10.0.0.1") == 0
    clock.now += 900  # a quiet window after the lock forgets the failures
    t.failed("alice", "10.0.0.1")
    assert t.locked("alice", "10.0.0.1") == 0


def test_an_address_is_locked_only_past_a_ceiling_well_above_one_persons_mistakes() -> None:
    clock = Clock()
    t = LoginThrottle(max_failures=5, window_s=900, address_ceiling=100, clock=clock)
    for n in range(99):  # 99 people behind one NAT, one typo each
        t.failed(f"agent{n}", "10.0.0.1")
        clock.now += 1
    assert t.locked("agent200", "10.0.0.1") == 0
    t.failed("agent99", "10.0.0.1")  # the hundredth: a spray of names
    assert t.locked("agent200", "10.0.0.1") > 0
    assert t.locked("agent200", "10.0.0.9") == 0
    clock.now += 900 - 99  # the first failure leaves the window
    assert t.locked("agent200", "10.0.0.1") == 0


def test_success_clears_only_that_name_at_that_address() -> None:
    t = LoginThrottle(max_failures=2, window_s=60, address_ceiling=3, clock=Clock())
    t.failed("a", "ip1")
    t.failed("a", "ip1")
    t.failed("b", "ip1")
    assert t.locked("a", "ip1") and t.locked("c", "ip1")  # a's pair; ip1 at its ceiling
    t.succeeded("a", "ip1")
    assert t.locked("c", "ip1")  # one good login does not reset the address
