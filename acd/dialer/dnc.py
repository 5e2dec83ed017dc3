"""Do-not-call: the center's list, each campaign's, and the national list, checked in memory.

The dialer asks :meth:`DoNotCall.blocks` before every dial (not only at import), so a
number put on a list a second ago is never dialed. The index is loaded from the store at
start and kept in step by writing through it: :meth:`add` changes memory at once, then the
database. The national list is replaced as a whole with its date, and only once the
database holds the new one (until then the old list stays in force). Changes made beside
the running dialer (``ccbox dnc add``, ``ccbox dnc import --national``, another process)
are picked up by :meth:`refresh`, which the dialer runs every ``REFRESH_S``: the rows
added since the last id seen, and the national list again when another one is in force
(its first row and date changed). A number taken off a list that way stays blocked here
until the next start (the safe side).

Numbers are compared in their normalised form (acd/dialer/numbers.py: ``+8613800138000``,
``01012345678``). The national list may hold millions: it is kept as a sorted array of
64-bit keys (8 bytes a number, binary search) instead of a set of strings (about 90 bytes
a number); the center's and campaigns' lists are small sets.
"""

from __future__ import annotations

import datetime as dt
import re
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np
from twisted.internet import defer, threads
from twisted.internet.interfaces import IReactorFromThreads, IReactorThreads

from acd.dialer.numbers import normalise
from appliance.text import N_

if TYPE_CHECKING:
    from appliance.db.dialer_store import DialerStore

T = TypeVar("T")
CENTER, CAMPAIGN, NATIONAL = "center", "campaign", "national"
REFRESH_S = 30.0  # how often the running dialer looks for rows written beside it
_LIMIT = 2**63


_CN_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_CN_LANDLINE = re.compile(r"0[1-9][0-9]{8,10}")


def _stored(number: str) -> str:
    """Normalised, or for a value that does not normalise (a caller ID from a hostile
    switch), its digits with a leading '+' kept."""
    try:
        return normalise(number)
    except ValueError:
        text = str(number)[:64]
        digits = "".join(ch for ch in text if "0" <= ch <= "9")
        return ("+" if text.strip().startswith("+") else "") + digits


def canonical(number: str) -> str:
    """One form for one number: a Chinese number written nationally (a mobile
    ``13800138000``, a landline ``01012345678``) as its international form
    (``+8613800138000``, ``+861012345678``), so a list matches a number however the list, the
    lead or the caller ID wrote it. Anything else as it is."""
    if _CN_MOBILE.fullmatch(number):
        return "+86" + number
    if _CN_LANDLINE.fullmatch(number):
        return "+86" + number[1:]
    return number


def key(number: str) -> str:
    """The form numbers are compared in (``canonical`` of the normalised number)."""
    return canonical(_stored(number))


def forms(number: str) -> set[str]:
    """The ways ``number`` may be stored: as given (normalised), international, national."""
    stored = _stored(number)
    found = {stored, canonical(stored)}
    international = canonical(stored)
    if international.startswith("+86"):
        rest = international[3:]
        found.add(rest if _CN_MOBILE.fullmatch(rest) else "0" + rest)
    return found


def _int_key(number: str) -> int | None:
    """A normalised number as one integer ('1' or '2' for no plus / plus, then the digits),
    or None when it does not fit in 63 bits."""
    plus = number.startswith("+")
    digits = number[1:] if plus else number
    if not digits.isdigit() or not digits.isascii():
        return None
    value = int(("2" if plus else "1") + digits)
    return value if value < _LIMIT else None


class NationalBuilder:
    """Collects normalised numbers chunk by chunk (``add``, e.g. as the store streams
    them), keeping 8 bytes a number, then ``build``s the NationalList."""

    def __init__(self) -> None:
        self._parts: list[np.ndarray] = []
        self._wide: set[str] = set()

    def add(self, numbers: Iterable[str]) -> None:
        wide = self._wide

        def keys() -> Iterable[int]:
            for n in numbers:
                same = canonical(n)
                k = _int_key(same)
                if k is None:
                    wide.add(same)
                else:
                    yield k

        self._parts.append(np.fromiter(keys(), dtype=np.int64))

    def build(self) -> NationalList:
        parts, self._parts = self._parts, []
        packed = np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)
        return NationalList.from_keys(packed, self._wide)


class NationalList:
    """A frozen set of numbers: a sorted array of integer keys, and the few that do not fit."""

    _keys: array[int]
    _wide: frozenset[str]

    def __init__(self, numbers: Iterable[str] = ()) -> None:
        builder = NationalBuilder()
        builder.add(numbers)
        built = builder.build()
        self._keys, self._wide = built._keys, built._wide

    @classmethod
    def from_keys(cls, sorted_keys: np.ndarray, wide: Iterable[str] = ()) -> NationalList:
        """From unique, sorted keys (``NationalBuilder``)."""
        self = cls.__new__(cls)
        self._keys = array("q")
        self._keys.frombytes(sorted_keys.astype(np.int64).tobytes())
        self._wide = frozenset(wide)
        return self

    def __contains__(self, number: object) -> bool:
        if not isinstance(number, str):
            return False
        number = canonical(number)
        k = _int_key(number)
        if k is None:
            return number in self._wide
        i = bisect_left(self._keys, k)
        return i < len(self._keys) and self._keys[i] == k

    def __len__(self) -> int:
        return len(self._keys) + len(self._wide)

    def nbytes(self) -> int:
        """Memory of the keys (the array's buffer; the few wide numbers not counted)."""
        return self._keys.buffer_info()[1] * self._keys.itemsize


class DoNotCall:
    """The do-not-call index. ``store``: where changes are written (None: memory only).
    ``reactor``: the national list (a million numbers: about 2 s) is built in its thread
    pool, never on the reactor thread (None: built in the caller's thread, for tests)."""

    def __init__(
        self, store: DialerStore | None = None, reactor: IReactorThreads | None = None
    ) -> None:
        self.store = store
        self.reactor = reactor
        self._center: set[str] = set()
        self._campaign: dict[int, set[str]] = {}
        self._national = NationalList()
        self.national_date: dt.date | None = None
        self._last_id = 0  # the newest row read (refresh reads after it)
        self._national_mark: tuple[int, dt.date | None] | None = None
        self._refreshing = False

    # ---- loading -----------------------------------------------------------------------

    def load(
        self,
        rows: Iterable[tuple[str, str, int | None]],
        national_date: dt.date | None = None,
        national: NationalList | None = None,
    ) -> None:
        """Replace the index with ``rows`` (number, scope, campaign_id: the store's
        ``dnc_entries()``), national rows among them or the ``national`` list built apart.
        Blocking for a long national list: see ``load_from_store``."""
        center: set[str] = set()
        campaign: dict[int, set[str]] = {}
        builder = NationalBuilder()
        listed: list[str] = []
        for number, scope, campaign_id in rows:
            k = key(number)
            if scope == CENTER:
                center.add(k)
            elif scope == CAMPAIGN and campaign_id is not None:
                campaign.setdefault(campaign_id, set()).add(k)
            elif scope == NATIONAL:
                listed.append(k)
        if national is None:
            builder.add(listed)
            national = builder.build()
        self._center, self._campaign = center, campaign
        self._national = national
        self.national_date = national_date

    def load_from_store(self) -> defer.Deferred[None]:
        """Load every row from the store (at the dialer's start)."""
        assert self.store is not None
        store = self.store

        async def run() -> None:
            last = await store.dnc_last_id()  # read first: a row added meanwhile comes again
            rows = await store.dnc_entries(scopes=(CENTER, CAMPAIGN))
            mark, national, day = await self._read_national(store)
            self.load(rows, day, national)
            self._last_id, self._national_mark = last, mark

        return defer.ensureDeferred(run())

    async def _read_national(
        self, store: DialerStore
    ) -> tuple[tuple[int, dt.date | None] | None, NationalList, dt.date | None]:
        mark = await store.national_list_mark()  # first: a list replaced meanwhile reloads
        # streamed in the database's thread, 8 bytes a number kept (never a million str)
        builder = NationalBuilder()
        await store.national_numbers(builder.add)
        national = await self._in_thread(builder.build)
        day = await store.national_list_date()
        return mark, national, day

    def refresh(self) -> defer.Deferred[None]:
        """Pick up what was written beside this index since it last looked: the center's
        and campaigns' rows added (by id), and the national list when another is in force.
        The reads run in the database's pool, a national list is built in a thread."""
        if self.store is None or self._refreshing:
            return defer.succeed(None)
        store = self.store
        self._refreshing = True

        async def run() -> None:
            try:
                rows, last = await store.dnc_added_since(self._last_id)
                for number, scope, campaign_id in rows:
                    if scope == CENTER:
                        self._center.add(key(number))
                    elif scope == CAMPAIGN and campaign_id is not None:
                        self._campaign.setdefault(campaign_id, set()).add(key(number))
                self._last_id = max(self._last_id, last)
                mark = await store.national_list_mark()
                if mark != self._national_mark:
                    mark, national, day = await self._read_national(store)
                    self._national, self.national_date = national, day
                    self._national_mark = mark
            finally:
                self._refreshing = False

        return defer.ensureDeferred(run())

    def _in_thread(self, fn: Callable[..., T], *args: Any) -> defer.Deferred[T]:
        if self.reactor is None:
            return defer.maybeDeferred(fn, *args)
        pool = cast(Any, self.reactor).getThreadPool()
        return threads.deferToThreadPool(cast(IReactorFromThreads, self.reactor), pool, fn, *args)

    # ---- checking ----------------------------------------------------------------------

    def blocks(self, number: str, campaign_id: int | None = None) -> str | None:
        """The scope of the first list that has ``number`` (center, then the campaign's,
        then national), or None: it may be dialed."""
        k = key(number)
        if k in self._center:
            return CENTER
        if campaign_id is not None and k in self._campaign.get(campaign_id, ()):
            return CAMPAIGN
        if k in self._national:
            return NATIONAL
        return None

    def counts(self) -> dict[str, int]:
        return {
            CENTER: len(self._center),
            CAMPAIGN: sum(len(s) for s in self._campaign.values()),
            NATIONAL: len(self._national),
        }

    # ---- changing ----------------------------------------------------------------------

    def add(
        self, number: str, scope: str, source: str, campaign_id: int | None = None
    ) -> defer.Deferred[bool]:
        """Put ``number`` on the center's list or a campaign's: in force at once (before the
        database has it), then written through the store (which also marks the number's
        waiting leads ``dnc``). ValueError for a number that is not one, a bad scope."""
        k = normalise(number)
        if scope == CENTER and campaign_id is None:
            self._center.add(canonical(k))
        elif scope == CAMPAIGN and campaign_id is not None:
            self._campaign.setdefault(campaign_id, set()).add(canonical(k))
        elif scope == NATIONAL:
            raise ValueError(N_("the national list is replaced as a whole"))
        else:
            raise ValueError(
                N_("a campaign's do-not-call entry names its campaign, and only it does")
            )
        if self.store is None:
            return defer.succeed(True)
        store = self.store

        async def write() -> bool:
            added = await store.add_dnc(k, scope, source, campaign_id)
            for other in sorted(forms(k) - {k}):  # leads that wrote it the other way
                await store.mark_number_dnc(other, campaign_id)
            return added

        return defer.ensureDeferred(write())

    def remove(
        self, number: str, scope: str, campaign_id: int | None = None
    ) -> defer.Deferred[int]:
        """Take ``number`` off one list, however it was written there (national or
        international): from the database first, then from memory (a failed write leaves
        it blocked, never the other way round). The rows removed."""
        k = key(number)

        async def run() -> int:
            removed = 0
            if self.store is not None:
                for form in sorted(forms(number)):
                    removed += await self.store.remove_dnc(form, scope, campaign_id)
            if scope == CENTER:
                self._center.discard(k)
            elif scope == CAMPAIGN and campaign_id is not None:
                self._campaign.get(campaign_id, set()).discard(k)
            return removed if self.store is not None else 1

        return defer.ensureDeferred(run())

    def replace_national(self, numbers: Iterable[str], list_date: dt.date) -> defer.Deferred[int]:
        """The national list becomes ``numbers`` (normalised here, in a thread when there is
        a reactor; a ValueError through the Deferred for one that is not a number, before
        anything changes), dated ``list_date``. The old list stays in force until the
        database holds the new one. The number of distinct numbers."""

        async def run() -> int:
            normalised = await self._in_thread(_normalise_all, numbers)
            built = await self._in_thread(NationalList, normalised)
            count = len(built)
            if self.store is not None:
                count = await self.store.replace_national(normalised, list_date)
                # this very list: the next refresh need not read it back
                self._national_mark = await self.store.national_list_mark()
            self._national = built
            self.national_date = list_date
            return count

        return defer.ensureDeferred(run())


def _normalise_all(numbers: Iterable[str]) -> list[str]:
    return [normalise(n) for n in numbers]


def add_to_center_list(
    number: str, source: str, index: DoNotCall | None, store: DialerStore
) -> defer.Deferred[bool]:
    """Don't call me (pressed in the IVR, said to an agent): ``number`` on the center's
    list. Through the running dialer's ``index`` when there is one (in force at once, then
    written), else straight to the store (the dialer loads it when it starts). ValueError
    for a value that is not a phone number. True when it was not on the list yet."""
    if not isinstance(index, DoNotCall):
        index = DoNotCall(store)  # for the database alone: the same writes
    return index.add(number, CENTER, source)
