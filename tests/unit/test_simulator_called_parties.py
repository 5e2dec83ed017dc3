"""The simulator's called parties and its AMD(): the statuses and causes app_amd documents
(AMDSTATUS MACHINE/HUMAN/NOTSURE/HANGUP; AMDCAUSE INITIALSILENCE-<s>-<initial>,
HUMAN-<s>-<after greeting>, LONGGREETING-<v>-<greeting>, MAXWORDS-<n>-<max>, TOOLONG-<t>)
with amd.conf's defaults, and a population drawn as configured from its seed."""

from __future__ import annotations

from collections import Counter

import pytest

from drivers.asterisk.simulator import amd
from drivers.asterisk.simulator.called_parties import Population


@pytest.mark.parametrize(
    ("speech", "status", "cause", "after_s"),
    [
        # "Hello?" then silence: 800 ms of silence after the greeting make a person
        (amd.PERSON, "HUMAN", "HUMAN-800-800", 1.7),
        # words with short pauses: the third word is one too many
        (amd.MACHINE, "MACHINE", "MAXWORDS-3-2", 1.78),
        # one long utterance: 1500 ms of voice is a greeting, not a "hello"
        ((("voice", 6000),), "MACHINE", "LONGGREETING-1500-1500", 1.5),
        # nobody says anything for 2.5 s
        ((), "MACHINE", "INITIALSILENCE-2500-2500", 2.5),
        # short noises (under a word) with pauses shorter than the after-greeting silence
        ((("voice", 80), ("silence", 700)) * 10, "NOTSURE", "TOOLONG-5000", 5.02),
    ],
)
def test_amd_concludes_as_app_amd_documents(
    speech: tuple[tuple[str, int], ...], status: str, cause: str, after_s: float
) -> None:
    verdict = amd.detect(speech)
    assert (verdict.status, verdict.cause) == (status, cause)
    assert verdict.after_s == pytest.approx(after_s)


def test_amd_says_hangup_with_no_cause_when_the_party_leaves() -> None:
    assert amd.detect(amd.PERSON, hangup_after_ms=400) == amd.Verdict("HANGUP", "", 0.4)


def test_a_population_draws_its_shares_from_its_seed() -> None:
    def draw(seed: int) -> list[str]:
        people = Population(person=0.3, machine=0.1, busy=0.1, congestion=0.05, seed=seed)
        return [people.party(f"1380000{i:04d}").kind for i in range(4000)]

    kinds = draw(11)
    assert kinds == draw(11)  # the same seed, the same day
    shares = {k: n / len(kinds) for k, n in Counter(kinds).items()}
    for kind, share in (("person", 0.3), ("machine", 0.1), ("busy", 0.1), ("no_answer", 0.45)):
        assert shares[kind] == pytest.approx(share, abs=0.03), kind


def test_talk_times_are_lognormal_around_the_mean() -> None:
    people = Population(seed=5, talk_mean_s=120.0, talk_sigma=0.5)
    talks = [people.talk_s() for _ in range(20000)]
    assert sum(talks) / len(talks) == pytest.approx(120.0, rel=0.03)


@pytest.mark.parametrize("shares", [{"person": 1.2}, {"person": 0.6, "machine": 0.5}])
def test_shares_that_cannot_be_are_refused(shares: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Population(**shares)  # type: ignore[arg-type]
