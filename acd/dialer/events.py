"""What the dialing engine publishes on the event bus (appliance/eventbus.py).

``CampaignFigures``: every few seconds per running campaign, for the campaign pages and the
wallboard's occupancy and abandon tiles. ``LeadPreview``: a preview campaign's next lead
for an agent, dialed ``dial_in_s`` later unless the agent skips it. ``LeadOffered``: an
answered outbound call is being offered to an agent (the desk pops the lead and the
campaign's script); ``LeadConnected`` when the agent answered it. ``AttemptEnded``: an
attempt's outcome was recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CampaignFigures:
    """A running (or just stopped) campaign's live figures.

    ``occupancy``: talk time / logged-in time of the campaign queue's agents since the
    campaign started (0..1); ``dial_level``: lines placed per available agent, as the pacer
    has it now; ``abandon_24h`` / ``abandon_30d``: percent of answered calls abandoned (no
    agent within 2 s) over the last 24 hours / 30 days."""

    campaign_id: int
    name: str
    mode: str
    state: str
    placed: int  # since the engine started the campaign
    answered: int  # a person answered (machines not counted)
    abandoned: int
    machines: int
    in_flight: int  # lines ringing or answered and not yet with an agent
    agents_idle: int
    agents_busy: int
    occupancy: float
    dial_level: float
    abandon_24h: float
    abandon_30d: float
    at: float


@dataclass(frozen=True)
class LeadOffered:
    """The answered customer of ``lead_id`` is ringing ``agent_id``'s phone: the desk pops
    the lead (``fields``: the list's columns, ``script``: the campaign's) before the agent
    answers. ``call_id``: the calls row of the outbound call."""

    agent_id: int
    campaign_id: int
    campaign: str
    lead_id: int
    attempt_id: int
    number: str
    name: str
    script: str
    call_id: int | None
    at: float
    fields: dict[str, Any] = field(default_factory=dict)
    dispositions: tuple[str, ...] = ()


@dataclass(frozen=True)
class LeadPreview:
    """Preview: ``lead_id`` is the agent's next call; the engine dials it for that agent
    ``dial_in_s`` seconds after ``at`` (Dialer.preview_dial_now / preview_skip change that).
    ``withdrawn``: the preview is over without a call (skipped, or the agent
    was taken by another call)."""

    agent_id: int
    campaign_id: int
    campaign: str
    lead_id: int
    number: str
    name: str
    script: str
    dial_in_s: float
    at: float
    fields: dict[str, Any] = field(default_factory=dict)
    withdrawn: bool = False


@dataclass(frozen=True)
class LeadConnected:
    """The agent answered: talking to the lead's customer (``wait_ms``: answer -> agent)."""

    agent_id: int
    campaign_id: int
    lead_id: int
    attempt_id: int
    wait_ms: int
    at: float


@dataclass(frozen=True)
class AttemptEnded:
    """An attempt's outcome (the contract's words: answered, no_answer, busy, congestion,
    machine, abandoned, failed, dnc) and when the lead is tried again (None: never)."""

    campaign_id: int
    lead_id: int
    attempt_id: int
    outcome: str
    next_at: float | None
    at: float
