"""The demo's outbound campaign: a customer survey the interactive demo runs, so that an
admin sees the predictive dialer work on the wallboard (occupancy, the abandon rate against
its 3% target) beside the inbound day.

Seeded once: the survey team (agents 1017-1024, skill ``survey``), the queue ``survey`` they
answer, a safe-harbor message spoken by TTS (when espeak-ng is there), the campaign
``survey`` (predictive, AMD on, calling any day at any hour: the demo runs when a person
does) and a list of ``LEADS`` Chinese mobile numbers. The simulated switch answers the
numbers it dials as a real list does (``population``: 30% people, answering machines,
busy, congestion, the rest ringing out). ``start`` logs the team in and starts the campaign
(a headless demo, which measures the inbound day, leaves it stopped).
"""

# ruff: noqa: RUF001  (Chinese text keeps its own punctuation)
from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

from twisted.internet import defer

from acd import agent_state as st

NAME = "survey"
QUEUE = ("survey", "Customer survey 客户回访")
SKILL = ("survey", "Outbound surveys")
AGENTS = [
    ("1017", "Ma Lin 马林"),
    ("1018", "Gao Yan 高燕"),
    ("1019", "Lin Tao 林涛"),
    ("1020", "Luo Hui 罗慧"),
    ("1021", "Sophie Martin"),
    ("1022", "Zheng Kai 郑凯"),
    ("1023", "Xie Na 谢娜"),
    ("1024", "Han Bo 韩博"),
]
AGENT_NUMBERS = frozenset(n for n, _ in AGENTS)
LEADS = 400
PROMPT = "demo-safe-harbor"
SAFE_HARBOR_TEXT = "您好，这里是ccbox演示中心的客户回访。我们稍后再与您联系，回电请拨打4008001234。"
# Minutes before the next try: short, so that the demo's list keeps the team busy.
RETRY = {"no_answer": 2, "busy": 1, "congestion": 1, "machine": 5, "callback": 0}
DISPOSITIONS = ["Completed 已完成", "Refused 拒绝", "Call back 回电", "Wrong number 号码错误"]
SCRIPT = (
    "您好，我是ccbox演示中心的{agent}。耽误您一分钟做个满意度回访可以吗？\n"
    "1. 您对我们的服务满意吗？(1-5)\n2. 您会推荐给朋友吗？\n"
    "Hello, this is the ccbox demo center's customer survey: may I have one minute?"
)
PRODUCTS = ("宽带 Broadband", "手机套餐 Mobile plan", "电视 TV", "云存储 Cloud storage")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"


def seed(db: Any, data_dir: Path, wrapup_s: int) -> int | None:
    """Seed the survey team, queue, message, campaign and list (once: nothing when the
    campaign exists); the campaign's id, or None when it was there already."""
    from appliance.cli import resolved
    from appliance.db.dialer_store import NewLead

    if resolved(db.dialer.campaign_by_name(NAME)) is not None:
        return None
    skills = {s.name: s.id for s in resolved(db.skills.list_all())}
    skill_id = skills.get(SKILL[0]) or resolved(db.skills.add(*SKILL)).id
    known = {a.number for a in resolved(db.agents.list_all())}
    for number, name in AGENTS:
        if number not in known:
            agent = resolved(db.agents.add(number, name, "Survey", f"PJSIP/{number}"))
            resolved(db.agents.set_skill(agent.id, skill_id, 8))
    queues = {q.name: q.id for q in resolved(db.queues.list_all())}
    queue_id = (
        queues.get(QUEUE[0])
        or resolved(db.queues.add(*QUEUE, skills={skill_id: 3}, wrapup_s=wrapup_s)).id
    )
    campaign = resolved(
        db.dialer.create_campaign(
            NAME,
            queue_id,
            mode="predictive",
            caller_id_number="4008001234",
            caller_id_name="ccbox demo survey",
            window_days="mon,tue,wed,thu,fri,sat,sun",
            window_start="00:00",
            window_end="24:00",
            default_tz="Asia/Shanghai",
            max_attempts=3,
            retry_json=json.dumps(RETRY),
            dispositions_json=json.dumps(DISPOSITIONS, ensure_ascii=False),
            script=SCRIPT,
            amd=True,
            target_abandon_pct=3.0,
            min_predictive_agents=5,
            safe_harbor_prompt=_safe_harbor(db, data_dir),
        )
    )
    rng = random.Random(16)
    leads: list[NewLead] = []
    numbers: set[str] = set()
    while len(leads) < LEADS:
        number = f"+86139{rng.randrange(10**8):08d}"
        if number in numbers:
            continue
        numbers.add(number)
        leads.append(
            NewLead(
                number=number,
                tz="Asia/Shanghai",
                name=rng.choice(SURNAMES) + rng.choice(("先生", "女士")),
                fields={
                    "product": rng.choice(PRODUCTS),
                    "customer_since": str(rng.randint(2012, 2025)),
                },
            )
        )
    list_id = resolved(db.dialer.add_list(campaign.id, "Demo survey list 回访名单", "demo"))
    resolved(db.dialer.add_leads(campaign.id, leads, list_id))
    resolved(db.dialer.count_list(list_id, len(leads), 0))
    return int(campaign.id)


def _safe_harbor(db: Any, data_dir: Path) -> str:
    """The safe-harbor message as a library prompt, spoken by TTS; "" when espeak-ng is
    missing (the dialer then plays its fallback goodbye and logs it)."""
    from appliance.cli import resolved
    from ivr import prompt_audio, tts

    prompts = data_dir / "prompts"
    try:
        result = tts.synthesize(SAFE_HARBOR_TEXT, "zh", prompts / "tts")
    except (tts.TTSError, ValueError, OSError):
        return ""
    wav = result.path.read_bytes()
    prompt_audio.write_atomically(prompts, PROMPT, wav)
    if PROMPT not in set(resolved(db.ivr.prompt_names())):
        resolved(
            db.ivr.add_prompt(
                PROMPT,
                "tts",
                result.duration_ms,
                hashlib.sha256(wav).hexdigest(),
                "demo",
                label="Survey safe-harbor message 回访安全提示",
                language="zh",
                text=SAFE_HARBOR_TEXT,
            )
        )
    return PROMPT


def population(talk_s: float, seed: int | None) -> Any:
    """Who the simulated switch reaches when the dialer calls a number (a real list's
    shares; talk as long as the demo's inbound calls)."""
    from drivers.asterisk.simulator.called_parties import Population

    return Population(
        person=0.3,
        machine=0.1,
        busy=0.1,
        congestion=0.02,
        ring_s=(2.0, 10.0),
        talk_mean_s=talk_s,
        talk_sigma=0.5,
        patience_s=5.0,
        machine_greeting_s=8.0,
        seed=seed,
    )


async def start(master: Any) -> bool:
    """Log the survey team in and start the campaign (the running dialer reads it at once);
    False when there is no campaign or no dialer."""
    campaign = await master.db.dialer.campaign_by_name(NAME)
    dialer = getattr(master, "dialer", None)
    if campaign is None or dialer is None:
        return False
    acd = master.acd
    for number in sorted(AGENT_NUMBERS):
        agent = acd.agent_by_number(number)
        if agent is not None and agent.status == "active" and agent.state == st.LOGGED_OUT:
            acd.login(agent.id)
    if campaign.state != "running":
        await master.db.dialer.set_state(campaign.id, "running")
    await defer.ensureDeferred(dialer.reload())
    return True
