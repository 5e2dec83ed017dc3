"""The people (and machines) an outbound trunk reaches: who answers a number the switch
dials out through ``ccbox-outbound``, after how long, and what happens then.

A ``Population`` draws each dialed number's behaviour from a seeded random generator: a
person answers, an answering machine does, the line is busy, congested, or rings until the
caller gives up. A person talks for a lognormal time once bridged to someone, and hangs up
on silence: answered and left ``patience_s`` without being bridged (no agent came). What
the party says first is its ``speech`` (amd.py), which the dialplan's ``AMD()`` analyses.
``numbers`` fixes a number's party (tests, the real-switch harness's twins).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from drivers.asterisk.simulator import amd
from drivers.asterisk.simulator.switch import Device

KINDS = ("person", "machine", "busy", "congestion", "no_answer")


@dataclass
class CalledParty(Device):
    """One dialed number's behaviour (a Device the switch rings)."""

    kind: str = "person"
    congested: bool = False
    speech: tuple[tuple[str, int], ...] = amd.PERSON
    patience_s: float | None = 5.0  # answered, not bridged: hangs up after this long
    bridged_talk_s: float | None = None  # once bridged, hangs up after this long

    def talk_time(self, rng: random.Random) -> float | None:
        return None  # the switch's talk timer is not used: see Switch._party_answered


@dataclass
class Population:
    """Outcome shares (``person`` + ``machine`` + ``busy`` + ``congestion`` <= 1; the rest
    rings without an answer), ring times, a lognormal talk time (mean ``talk_mean_s``,
    ``talk_sigma``) and the patience of a person left in silence."""

    person: float = 0.3
    machine: float = 0.1
    busy: float = 0.1
    congestion: float = 0.02
    ring_s: tuple[float, float] = (3.0, 15.0)
    talk_mean_s: float = 120.0
    talk_sigma: float = 0.5
    patience_s: float = 5.0
    machine_greeting_s: float = 12.0  # a machine "talks" (its greeting, the beep) this long
    seed: int | None = None
    numbers: dict[str, CalledParty] = field(default_factory=dict)

    def __post_init__(self) -> None:
        total = self.person + self.machine + self.busy + self.congestion
        if not all(0 <= x <= 1 for x in (self.person, self.machine, self.busy, self.congestion)):
            raise ValueError("each share is between 0 and 1")
        if total > 1 + 1e-9:
            raise ValueError(f"the shares add up to {total:g}, more than 1")
        self.rng = random.Random(self.seed)
        self.dialed: list[tuple[str, str]] = []  # (number, kind), in dialing order

    def talk_s(self) -> float:
        """Lognormal with the configured mean: mu = ln(mean) - sigma^2 / 2."""
        mu = math.log(self.talk_mean_s) - self.talk_sigma**2 / 2
        return self.rng.lognormvariate(mu, self.talk_sigma)

    def party(self, number: str) -> CalledParty:
        fixed = self.numbers.get(number)
        if fixed is not None:
            self.dialed.append((number, fixed.kind))
            return fixed
        x = self.rng.random()
        ring = self.rng.uniform(*self.ring_s)
        edges = [self.person, self.machine, self.busy, self.congestion]
        kind = "no_answer"
        acc = 0.0
        for name, share in zip(KINDS, edges, strict=False):
            acc += share
            if x < acc:
                kind = name
                break
        self.dialed.append((number, kind))
        if kind == "person":
            return CalledParty(
                ring_s=ring, kind=kind, patience_s=self.patience_s, bridged_talk_s=self.talk_s()
            )
        if kind == "machine":
            return CalledParty(
                ring_s=ring,
                kind=kind,
                speech=amd.MACHINE,
                patience_s=None,
                bridged_talk_s=None,
                talk_s=self.machine_greeting_s,
            )
        if kind == "busy":
            return CalledParty(kind=kind, busy=True, ring_s=0.5)
        if kind == "congestion":
            return CalledParty(kind=kind, congested=True, ring_s=0.2)
        return CalledParty(kind=kind, answers=False)
