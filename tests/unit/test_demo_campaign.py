"""The demo's outbound survey (appliance/demo_campaign.py): seeded once with its team, queue,
spoken safe-harbor message and list, predictive and checked by the store like any campaign;
the simulated switch's called parties answer as a real list does."""

from __future__ import annotations

from pathlib import Path

from appliance import demo, demo_campaign
from appliance.cli import open_db, resolved


def test_the_survey_is_seeded_once_with_its_team_queue_message_and_list(tmp_path: Path) -> None:
    config = demo.prepare(tmp_path / "data", port=1, ami_port=2, fastagi_port=3)
    demo.seed(config)
    demo.seed(config)  # a second demo on the same data adds nothing
    db = open_db(config)
    try:
        campaign = resolved(db.dialer.campaign_by_name("survey"))
        assert campaign is not None
        assert (campaign.mode, campaign.state, campaign.amd) == ("predictive", "stopped", True)
        assert campaign.target_abandon_pct == 3.0 and campaign.min_predictive_agents == 5
        assert campaign.window_days == "mon,tue,wed,thu,fri,sat,sun"
        # all day: a visitor at any minute sees it dial (an end of 23:59 left 15:59 UTC out)
        assert (campaign.window_start, campaign.window_end) == ("00:00", "24:00")
        assert campaign.dispositions[0] == "Completed 已完成"
        # the message a customer hears when no agent is free within 2 s: a library prompt
        assert campaign.safe_harbor_prompt == demo_campaign.PROMPT
        assert (config.data_dir / "prompts" / f"{demo_campaign.PROMPT}.wav").stat().st_size > 1000
        assert demo_campaign.PROMPT in resolved(db.ivr.prompt_names())
        figures = resolved(db.dialer.campaign_figures(campaign.id, campaign.created_at))
        assert figures.leads["new"] == demo_campaign.LEADS == 400
        lead = resolved(db.dialer.due_leads(campaign.id, campaign.created_at, limit=1))[0]
        assert lead.number.startswith("+86139") and len(lead.number) == 14
        assert set(lead.fields) == {"product", "customer_since"}
        # the team answers the survey queue only (no inbound queue takes them)
        queue = next(q for q in resolved(db.queues.list_all()) if q.id == campaign.queue_id)
        assert queue.name == "survey"
        agents = [a for a in resolved(db.agents.list_all()) if a.department == "Survey"]
        assert sorted(a.number for a in agents) == sorted(demo_campaign.AGENT_NUMBERS)
    finally:
        resolved(db.stopService())


def test_the_called_parties_answer_as_a_real_list_does() -> None:
    people = demo_campaign.population(talk_s=30.0, seed=16)
    kinds = [people.party(f"+86139{n:08d}").kind for n in range(2000)]
    share = {k: kinds.count(k) / len(kinds) for k in set(kinds)}
    assert abs(share["person"] - 0.3) < 0.04 and abs(share["machine"] - 0.1) < 0.03
    assert abs(share["no_answer"] - 0.48) < 0.04
