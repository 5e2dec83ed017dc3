"""The short codes an agent reads to a caller so the caller's browser joins the agent's
escorted browsing without a chat.

A code is 6 digits, good for ``[cobrowse] code_minutes``, used once. Guessing is bounded
twice: an address gets ``PER_ADDRESS_FAILURES`` wrong codes per ``PER_ADDRESS_WINDOW_S``,
and the whole box ``GLOBAL_FAILURES_PER_MIN`` wrong codes a minute from every address
together (a botnet has many addresses). With the defaults one validity of 10 minutes allows
at most 100 wrong guesses box-wide: 0.01 % of the 10^6 codes per live code, so walking the
code space takes months, not minutes. The price: under such an attack a real caller may be
told to wait a minute. Runs on the reactor thread only.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from appliance.text import N_

DIGITS = 6
SPACE = 10**DIGITS
PER_ADDRESS_FAILURES = 5
PER_ADDRESS_WINDOW_S = 15 * 60.0
GLOBAL_FAILURES_PER_MIN = 10
MAX_LIVE = 2000  # codes alive at once (an agent holds one at a time)
MAX_ADDRESSES = 50_000  # addresses remembered (bounded under a spray)


class CodeError(Exception):
    """A refused code, with a user-safe message and the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Issued:
    code: str
    agent_id: int
    agent_name: str
    expires_at: float
    by: str = ""  # the agent's user name and address, for the audit log
    by_address: str = ""


class CodeBook:
    """Live codes and the failure counters; the clock is the reactor's ``seconds``."""

    def __init__(self, clock: Callable[[], float], code_minutes: int) -> None:
        self.clock = clock
        self.valid_s = max(1, code_minutes) * 60.0
        self._codes: dict[str, Issued] = {}
        self._by_agent: dict[int, str] = {}
        self._address_failures: dict[str, deque[float]] = {}
        self._global_failures: deque[float] = deque()

    def _expire(self, now: float) -> None:
        for code, issued in list(self._codes.items()):
            if issued.expires_at <= now:
                self._drop(code)

    def _drop(self, code: str) -> None:
        issued = self._codes.pop(code, None)
        if issued is not None and self._by_agent.get(issued.agent_id) == code:
            del self._by_agent[issued.agent_id]

    def issue(self, agent_id: int, agent_name: str, by: str = "", address: str = "") -> Issued:
        """A fresh code for ``agent_id``; the agent's previous code, if any, stops working."""
        now = self.clock()
        self._expire(now)
        old = self._by_agent.get(agent_id)
        if old is not None:
            self._drop(old)
        if len(self._codes) >= MAX_LIVE:
            raise CodeError(N_("too many co-browsing codes are open; try again later"), 503)
        while True:
            code = f"{secrets.randbelow(SPACE):0{DIGITS}d}"
            if code not in self._codes:
                break
        issued = Issued(code, agent_id, agent_name, now + self.valid_s, by, address)
        self._codes[code] = issued
        self._by_agent[agent_id] = code
        return issued

    def revoke(self, agent_id: int) -> None:
        code = self._by_agent.get(agent_id)
        if code is not None:
            self._drop(code)

    def _recent(self, times: deque[float], now: float, window: float) -> int:
        while times and now - times[0] >= window:
            times.popleft()
        return len(times)

    def redeem(self, code: str, address: str) -> Issued:
        """The agent behind ``code`` (the code is used up), or CodeError: 429 while the
        address or the box is over its wrong-guess budget (checked before the code, so a
        right guess past the budget is refused too), 400 for a wrong or expired code."""
        now = self.clock()
        self._expire(now)
        mine = self._address_failures.get(address)
        if mine is not None and (
            self._recent(mine, now, PER_ADDRESS_WINDOW_S) >= PER_ADDRESS_FAILURES
        ):
            raise CodeError(N_("too many wrong codes; try again later"), 429)
        if self._recent(self._global_failures, now, 60.0) >= GLOBAL_FAILURES_PER_MIN:
            raise CodeError(N_("too many wrong codes; try again in a minute"), 429)
        issued = (
            self._codes.get(code)
            if len(code) == DIGITS and code.isascii() and code.isdigit()
            else None
        )
        if issued is None:
            self._fail(address, now)
            raise CodeError(N_("this code is wrong or has expired"), 400)
        self._drop(code)
        return issued

    def _fail(self, address: str, now: float) -> None:
        self._global_failures.append(now)
        times = self._address_failures.get(address)
        if times is None:
            if len(self._address_failures) >= MAX_ADDRESSES:
                self._forget_quiet(now)
            times = self._address_failures[address] = deque()
        times.append(now)

    def _forget_quiet(self, now: float) -> None:
        for address, times in list(self._address_failures.items()):
            if self._recent(times, now, PER_ADDRESS_WINDOW_S) == 0:
                del self._address_failures[address]
        if len(self._address_failures) >= MAX_ADDRESSES:  # all recent: forget the oldest
            oldest = sorted(self._address_failures, key=lambda a: self._address_failures[a][-1])
            for address in oldest[: MAX_ADDRESSES // 10]:
                del self._address_failures[address]
