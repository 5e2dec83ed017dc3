"""The demo appliance: a local data directory, seeded data, and the real daemon.

``ccbox demo`` creates ``./ccbox-data`` (config, SQLite, migrations, an admin whose password
is printed once, sample skills, agents and queues) and runs ccboxd on it, with the switch
simulator beside it in the same process standing in for Asterisk: ccboxd logs in to its AMI
port and answers the simulated inbound calls (Poisson arrivals) on its FastAGI port.
``--headless`` stops after ``--duration`` seconds and ``--report json`` prints one summary
line.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import socket
import sys
from pathlib import Path
from typing import Any

from twisted.internet import defer

from appliance import config as config_mod
from appliance import daemon as daemon_mod
from appliance import (
    demo_campaign,
    demo_center,
    demo_channels,
    demo_crm,
    demo_dahdi,
    demo_history,
    demo_kb,
    demo_panel,
    demo_sms,
    passwords,
)
from appliance.db import migrate
from appliance.db.day_stats_store import COUNTERS
from appliance.db.engine import create_engine
from drivers.asterisk.simulator.switch import RandomDevice
from firmware_tools import demo_board

SKILLS = [
    ("billing", "Bills, payments, refunds"),
    ("tech", "Technical support"),
    ("sales", "New contracts and upgrades"),
    ("mandarin", "Speaks Mandarin"),
    ("english", "Speaks English"),
    ("care", "Complaints and call-backs"),
]
# Four teams (the department names the queue each answers: appliance/demo_center.py), as
# many agents as Erlang C staffs the busy hour with at the default rate (tested).
AGENTS = [
    ("1001", "Li Wei 李伟", "Support", {"tech": 8, "mandarin": 10, "english": 5}),
    ("1002", "Zhang Min 张敏", "Support", {"tech": 5, "billing": 7, "mandarin": 10}),
    ("1003", "Anna Schmidt", "Support", {"tech": 9, "english": 10}),
    ("1004", "Wang Fang 王芳", "Sales", {"sales": 9, "mandarin": 10, "english": 6}),
    ("1005", "David Chen 陈大卫", "Sales", {"sales": 6, "billing": 5, "english": 10}),
    ("1006", "Liu Yang 刘洋", "Billing", {"billing": 9, "mandarin": 10}),
    ("1007", "Zhao Lei 赵磊", "Support", {"tech": 7, "mandarin": 10}),
    ("1008", "Sun Li 孙丽", "Support", {"tech": 6, "mandarin": 10, "english": 4}),
    ("1009", "Tom Becker", "Support", {"tech": 8, "english": 10}),
    ("1010", "Huang Jing 黄静", "Sales", {"sales": 7, "mandarin": 10}),
    ("1011", "Maria Rossi", "Sales", {"sales": 8, "english": 10}),
    ("1012", "Zhou Qiang 周强", "Billing", {"billing": 8, "mandarin": 10}),
    ("1013", "Xu Ting 徐婷", "Billing", {"billing": 6, "mandarin": 10, "english": 5}),
    ("1014", "Emma Wilson", "Billing", {"billing": 7, "english": 10}),
    ("1015", "Guo Mei 郭梅", "Care", {"care": 9, "mandarin": 10}),
    ("1016", "He Jun 何军", "Care", {"care": 7, "mandarin": 10, "english": 6}),
]
QUEUES: list[tuple[str, str, dict[str, int], dict[str, Any]]] = [
    # group A of the sample flow: callers who want an agent wait at most two minutes,
    # then may leave a message
    ("support", "Technical support 技术支持", {"tech": 3}, {"max_wait_s": 120}),
    ("sales", "Sales 销售", {"sales": 3}, {}),
    ("billing", "Billing 账务", {"billing": 3}, {}),
    # group B: calls back the customers who left a complaint
    ("care", "Customer care 客户关怀", {"care": 3}, {}),
]


# The simulated switch's ports: beside, not on, a real Asterisk's 5038 and 4573.
DEMO_AMI_PORT = 15038
DEMO_FASTAGI_PORT = 14573
# The simulated day: callers a second in the busy hour, and the agents' mean talk (minutes
# of a real call compressed into seconds, as the wrap-up in demo_center.WRAPUP_S).
DEMO_PEAK_PER_S = 0.25
DEMO_TALK_S = 30.0


def prepare(
    data_dir: Path,
    port: int | None = None,
    ami_port: int | None = None,
    fastagi_port: int | None = None,
    chat_port: int | None = None,
) -> config_mod.Config:
    """Create or reuse the data directory; return its config, with the ports given here
    instead of the config's (None: the config's own; a new config takes 8080, the demo
    switch's ports and the widget endpoint's [chat] 8090)."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    conf_path = data_dir / "ccbox.conf"
    if not conf_path.exists():
        conf_path.write_text(
            config_mod.render(
                data_dir,
                web_port=port or 8080,
                switch=True,
                fastagi_port=fastagi_port or DEMO_FASTAGI_PORT,
                ami_port=ami_port or DEMO_AMI_PORT,
                ami_secret=passwords.generate_password(),
                firmware_keys_dir=data_dir / "firmware-keys",
            ),
            encoding="utf-8",
        )
    config = config_mod.load(conf_path)
    config = dataclasses.replace(
        config,
        web=dataclasses.replace(config.web, port=port or config.web.port),
        ami=dataclasses.replace(config.ami, port=ami_port or config.ami.port),
        fastagi=dataclasses.replace(config.fastagi, port=fastagi_port or config.fastagi.port),
        chat=dataclasses.replace(config.chat, port=chat_port or config.chat.port),
    )
    config.recording_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(config.database_url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    return config


class PortTaken(Exception):
    """A port the demo needs is in use: one line saying which and how to choose another."""


def check_ports(config: config_mod.Config) -> None:
    """Fail before anything is seeded or printed when a port the demo listens on is taken
    (the web UI, the simulated switch's AMI, ccboxd's FastAGI, the chat widget's endpoint):
    a start that failed later would leave logins nobody saw."""
    wanted = [(config.web.bind, config.web.port, "the web UI", "--port", "PORT")]
    if config.ami.enabled and config.fastagi.enabled:
        wanted += [
            ("127.0.0.1", config.ami.port, "the simulated switch's AMI", "--ami-port", "AMI_PORT"),
            (config.fastagi.bind, config.fastagi.port, "FastAGI", "--fastagi-port", "FASTAGI_PORT"),
        ]
    if config.chat.enabled:
        wanted.append(
            (config.chat.bind, config.chat.port, "the chat widget", "--chat-port", "CHAT_PORT")
        )
    for host, port, what, flag, make_var in wanted:
        with socket.socket() as probe:
            # as Twisted listens: SO_REUSEADDR, so only a live listener refuses it
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
                probe.listen()
            except OSError as exc:
                raise PortTaken(
                    f"port {port} for {what} on {host} is not free ({exc.strerror}): choose "
                    f"another with `ccbox demo {flag} N` or `make demo {make_var}=N`"
                ) from None


# The demo's logins besides the admin: (user name, role, display name, agent number or "").
DEMO_USERS = [
    ("supervisor", "supervisor", "Demo supervisor 班长", ""),
    ("qa", "qa", "Demo QA 质检", ""),
    ("agent1001", "agent", "Li Wei 李伟", "1001"),
]


def seed(config: config_mod.Config) -> dict[str, str]:
    """Seed an empty database; return the logins made now (user name -> password: only
    their hashes are stored), none when the database was seeded before."""
    from appliance.cli import open_db, resolved

    db = open_db(config)
    try:
        logins: dict[str, str] = {}
        if resolved(db.users.count("admin")) == 0:
            logins["admin"] = passwords.generate_password()
            resolved(db.users.add("admin", logins["admin"], "admin", "Administrator"))
        if not resolved(db.skills.list_all()):
            skill_ids = {name: resolved(db.skills.add(name, desc)).id for name, desc in SKILLS}
            for number, name, dept, levels in AGENTS:
                agent = resolved(db.agents.add(number, name, dept, f"PJSIP/{number}"))
                for skill, level in levels.items():
                    resolved(db.agents.set_skill(agent.id, skill_ids[skill], level))
            for qname, display, needs, settings in QUEUES:
                resolved(
                    db.queues.add(
                        qname,
                        display,
                        skills={skill_ids[s]: lvl for s, lvl in needs.items()},
                        wrapup_s=demo_center.WRAPUP_S,
                        **settings,
                    )
                )
        if not resolved(db.ivr.flows()):
            _seed_ivr(db)
        if not resolved(db.qa.list_forms()):
            _seed_qa(db)
        # the outbound survey the interactive demo runs (appliance/demo_campaign.py)
        demo_campaign.seed(db, config.data_dir, demo_center.WRAPUP_S)
        # customers the callers' numbers find, their tickets, the knowledge base
        demo_crm.seed(db)
        demo_kb.seed(db)
        # web chat and e-mail: queues, topics, the mailbox, the company site's origin
        demo_channels.seed(
            db,
            f"http://127.0.0.1:{demo_channels.DEMO_SITE_PORT}",
            passwords.generate_password(),
        )
        if "admin" in logins:
            _seed_users(db, logins)
        return logins
    finally:
        resolved(db.stopService())


def _seed_users(db: Any, logins: dict[str, str]) -> None:
    """A supervisor for the wallboard and console, a QA user, and agent 1001's desk login."""
    from appliance.cli import resolved

    agents = {a.number: a.id for a in resolved(db.agents.list_all())}
    for name, role, display, agent in DEMO_USERS:
        logins[name] = passwords.generate_password()
        user = resolved(db.users.add(name, logins[name], role, display))
        if agent in agents:
            resolved(db.agents.link_user(agents[agent], user.id))


def _seed_ivr(db: Any) -> None:
    """The sample service-center flow, published and bound to every dialed number, with
    its mailboxes and the account records it reads."""
    from appliance.cli import resolved
    from ivr import sample_center
    from ivr.prompt_library import SYSTEM_SOUNDS
    from ivr.validator import Catalog, validate

    for number, name, kind, owner in sample_center.MAILBOXES:
        resolved(db.voicemail.add_mailbox(number, name, kind, owner))
    for key, fields in sample_center.ACCOUNTS.items():
        resolved(db.ivr.put_record("accounts", key, fields))
    doc = sample_center.flow(always_open=True)  # sales answers whenever the demo runs
    catalog = Catalog(
        prompts=SYSTEM_SOUNDS,
        queues=frozenset(q.name for q in resolved(db.queues.list_all())),
        mailboxes=frozenset(m for m, *_ in sample_center.MAILBOXES),
    )
    problems = validate(doc, catalog, sample_center.NAME)
    if problems:  # the shipped flow is checked by the tests; this is a last guard
        raise RuntimeError(f"the sample flow does not validate: {problems[0]}")
    row = resolved(db.ivr.create_flow(sample_center.NAME, doc, "demo", "The sample center"))
    resolved(db.ivr.publish(row.id, row.version, "demo"))
    resolved(db.ivr.bind_did("*", row.id, "every number: the sample center"))


def _seed_qa(db: Any) -> None:
    """A sample QA form, so a QA user can score a demo call at once."""
    from appliance.cli import resolved

    def yes_no(qid: str, text: str, critical: bool = False) -> dict[str, Any]:
        return {"id": qid, "text": text, "kind": "yes_no", "critical": critical}

    def scale(qid: str, text: str, points: int) -> dict[str, Any]:
        return {"id": qid, "text": text, "kind": "scale", "max": points}

    groups = [
        (
            "Opening / 开场",
            20,
            [
                yes_no("greeting", "Greeted with the company script / 使用标准问候语"),
                yes_no("own_name", "Said their own name / 报工号或姓名"),
            ],
        ),
        (
            "Handling / 处理",
            50,
            [
                scale("understood", "Understood the request / 理解客户诉求", 5),
                scale("solved", "Solved it or set a next step / 解决问题或约定跟进", 5),
                scale("courtesy", "Courtesy and tone / 礼貌与语气", 5),
            ],
        ),
        (
            "Compliance / 合规",
            30,
            [
                yes_no("verified", "Verified the caller before account details / 核实身份", True),
                yes_no("closing", "Offered more help and closed politely / 礼貌结束通话"),
            ],
        ),
    ]
    definition = {"groups": [{"name": n, "weight": w, "questions": qs} for n, w, qs in groups]}
    resolved(db.qa.add_form("Standard call review", definition, "demo"))


def main(
    data_dir: Path,
    port: int | None = None,
    headless: bool = False,
    duration: float = 10.0,
    report: str | None = None,
    calls_per_s: float = DEMO_PEAK_PER_S,
    ami_port: int | None = None,
    fastagi_port: int | None = None,
    talk_s: float = DEMO_TALK_S,
    seed_traffic: int | None = None,
    history_days: int | None = None,
    chat_port: int | None = None,
) -> int:
    """``calls_per_s``: callers a second in the busy hour (demo_center.DAY_SHAPE gives the
    other hours); ``talk_s``: the agents' mean talk time; ``history_days``: days of
    synthetic history before today seeded at the first start (appliance/demo_history.py;
    None: 120, or none when headless: a headless run reports on itself alone)."""
    from twisted.internet import reactor as _reactor

    reactor: Any = _reactor
    config = prepare(data_dir, port, ami_port, fastagi_port, chat_port)
    try:
        check_ports(config)
    except PortTaken as exc:
        print(f"ccbox demo: {exc}", file=sys.stderr)
        return 1
    logins = seed(config)
    if history_days is None:
        history_days = 0 if headless else demo_history.DAYS
    demo_history.seed_history(config, history_days)
    board = demo_board.prepare(config.data_dir)
    reactor.callWhenRunning(demo_board.start, reactor, board)
    # The GSM modem: a simulated one on a pseudo-terminal, ccboxd's [modem] device.
    config, sms_modem = demo_sms.plug(reactor, config)
    reactor.addSystemEventTrigger("after", "shutdown", sms_modem.link.unplug)
    # The front panel and a watchdog board: simulated ones on pseudo-terminals.
    config, boards = demo_panel.plug(reactor, config)
    reactor.addSystemEventTrigger("after", "shutdown", boards.unplug)
    # The E1 card: a simulated /proc/dahdi in the data dir, [dahdi] on it.
    config = demo_dahdi.plug(config)
    # The e-mail server customers write to, and the company site that embeds the widget.
    channels = demo_channels.plug(reactor, config)
    reactor.addSystemEventTrigger("before", "shutdown", channels.stop)
    url = f"http://127.0.0.1:{config.web.port}/"

    result: dict[str, Any] = {"daemon": "failed", "web": None}
    if not (config.ami.enabled and config.fastagi.enabled):
        print("ccbox demo: [ami] and [fastagi] are off in the config: no simulated calls")
        sim = None
    else:
        sim = switch_for(
            reactor,
            config,
            default_device=DemoPhone(ring_s=demo_center.RING_S, mean_talk_s=talk_s),
            sounds_dir=install_sounds(config.data_dir),
            seed=seed_traffic,
        )
        # Who answers the numbers the dialer calls (the survey campaign's list).
        sim.switch.population = demo_campaign.population(talk_s, seed_traffic)
        # The switch is up before ccboxd starts, as Asterisk would be on a box.
        reactor.callWhenRunning(_start_switch, reactor, sim)
        # Its trunk calls mark the card's channels in use; the card is ISDN PRI, so they are
        # named as chan_dahdi names PRI calls (DAHDI/i<span>/<caller>-<hex>), with the
        # DAHDIChannel event saying which channel carries each.
        switch = sim.switch
        switch.pri_spans = True
        card = demo_dahdi.DemoCard(
            reactor, config.dahdi.proc_root, lambda: demo_dahdi.trunk_calls(switch)
        )
        reactor.callWhenRunning(card.start)
        reactor.addSystemEventTrigger("before", "shutdown", card.stop)
        reactor.addSystemEventTrigger("before", "shutdown", sim.stopService)
    started = dt.datetime.now(dt.UTC)

    def show_logins() -> None:
        for name, password in logins.items():
            # Printed once: only the hashes are stored.
            print(f"ccbox demo: {name} login is  {name} / {password}  (shown only this once)")
        logins.clear()

    def drive(daemon: daemon_mod.Daemon) -> None:
        result["daemon"] = "ok"
        # Listening now: the logins can be used as soon as they are read.
        show_logins()
        print(
            f"ccbox demo: web UI on {url} (data in {config.data_dir}); Ctrl-C stops it",
            flush=True,
        )
        _show_board(config, board)
        # A customer texts the center once the modem is ready: a ticket and a notice.
        modem = daemon.master.hardware.modem
        demo_sms.greet(reactor, sms_modem, lambda: modem.status().state == "ready")
        # The ACD's counters are the day's (a second demo today starts from the first's):
        # the report counts this run only.
        result["_day_before"] = _day_counts(daemon)
        result["_queues_before"] = _queue_counts(daemon)
        _staff_others(daemon)
        d = defer.ensureDeferred(_render_prompts(daemon))
        d.addCallback(lambda _: traffic(daemon))

    day = demo_center.Day(duration if headless else demo_center.DAY_S, calls_per_s)
    running_shifts: list[demo_center.Shifts] = []

    def traffic(daemon: daemon_mod.Daemon) -> None:
        if sim is not None and sim.running:
            shifts = _start_shifts(daemon, day, talk_s)
            running_shifts.append(shifts)
            hours = [0] * len(demo_center.DAY_SHAPE)
            result["calls_by_hour"] = hours  # callers arriving in each hour of the day
            result["staffing"] = {  # Erlang C's agents for each queue, hour by hour
                q: [plan[q] for plan in shifts.plans] for q in shifts.plans[0]
            }

            def caller(rng: Any, n: int) -> Any:
                hours[day.hour(daemon.reactor.seconds() - sim.traffic.started_at)] += 1
                return _sample_center_caller(rng, n)

            sim.start_traffic(calls_per_s, caller, curve=day.share)
            # visitors chat and customers write beside the calls, at a share of their rate
            channels.start(
                daemon,
                calls_per_s,
                day.share,
                seed_traffic,
                set(demo_campaign.AGENT_NUMBERS),
                headless,  # nobody at agent 1001's desk: simulated too
            )
            if not headless:  # a headless demo measures the inbound day alone
                d = defer.ensureDeferred(demo_campaign.start(daemon.master))
                d.addCallback(_campaign_started)
            print(
                f"ccbox demo: simulated switch on AMI 127.0.0.1:{config.ami.port}, callers "
                f"into FastAGI {config.fastagi.port}: a day of 08:00-20:00 in "
                f"{day.period_s:g} s, {calls_per_s:g} calls/s in the busy hour (10:00)",
                flush=True,
            )
        if headless:
            daemon.reactor.callLater(
                duration,
                lambda: defer.ensureDeferred(
                    _finish(daemon, sim, url, started, result, running_shifts, channels)
                ),
            )

    code = daemon_mod.run(config, on_ready=drive)
    if logins:  # the daemon did not start after all: the logins made for it still work
        print("ccbox demo: the demo did not start; the logins it made stay valid:")
        show_logins()
    if report == "json":
        print(json.dumps(result), flush=True)
    return code if code else (0 if result["daemon"] == "ok" else 1)


def _show_board(config: config_mod.Config, board: demo_board.DemoFirmware) -> None:
    keys = "" if config.firmware.keys_dir == board.keys_dir else f" --keys-dir {board.keys_dir}"
    print(
        f"ccbox demo: a simulated I/O board runs firmware {demo_board.RUNNING} on {board.device};"
        f" flash {demo_board.NEW} onto it with: ccbox --config {config.path} firmware flash"
        f" --device {board.device}{keys} {board.image}",
        flush=True,
    )


class DemoPhone(RandomDevice):
    """A demo agent's phone: a call lasts a greeting at least (``MIN_TALK_S``), then an
    exponential time, ``mean_talk_s`` in all on average."""

    MIN_TALK_S = 1.0

    def talk_time(self, rng: random.Random) -> float | None:
        floor = min(self.MIN_TALK_S, self.mean_talk_s / 2)
        return floor + rng.expovariate(1.0 / (self.mean_talk_s - floor))


def install_sounds(data_dir: Path) -> Path:
    """ccbox's system sounds for the simulated switch's sounds folder, made as `ccbox
    asterisk-config` makes them for a real Asterisk (espeak-ng, cached under the data
    directory: a second demo only copies them). Without espeak-ng the demo still runs and
    the switch answers STREAM FILE of them as Asterisk answers a missing sound."""
    from ivr import system_sounds, tts

    dest = data_dir / "asterisk-sounds"
    try:
        paths = system_sounds.install_system_sounds(
            dest, cache_dir=data_dir / "cache" / "system-sounds"
        )
    except (tts.TTSError, OSError) as exc:
        print(f"ccbox demo: no system sounds ({exc}): callers hear nothing there", file=sys.stderr)
    else:
        print(f"ccbox demo: {len(paths)} system sounds in {dest}", flush=True)
    return dest


def _sample_center_caller(rng: Any, n: int) -> Any:
    """A demo caller walking the sample flow: a path of keys, sometimes a spoken message,
    about one in three from a seeded customer's number (appliance/demo_crm.py). The first
    callers of a run take one path into each queue, so every queue shows a call
    within the first minute; then the paths come in CALLER_PATHS' shares."""
    from drivers.asterisk.simulator.traffic import demo_caller
    from ivr.sample_center import CALLER_PATHS

    script = demo_caller(rng, n)
    if rng.random() < demo_crm.CALLER_SHARE:  # a customer of the demo's: the desk pops it
        script.caller_number = rng.choice(demo_crm.CALLERS)
    openers: dict[str, str] = {}
    for keys, _, queue in CALLER_PATHS:
        if queue:
            openers.setdefault(queue, keys)
    # the complaint first: its call-back comes last, after the message
    opening = sorted(openers, key=lambda q: q != "care")
    if n <= len(opening):
        script.digits = openers[opening[n - 1]]
        script.message_s = rng.uniform(3, 8)
        script.patience_s = None
        return script
    paths, weights, _ = zip(*CALLER_PATHS, strict=True)
    script.digits = rng.choices(paths, weights)[0]
    script.message_s = rng.uniform(3, 20) if rng.random() < demo_center.MESSAGE_SHARE else None
    return script


def _day_counts(daemon: daemon_mod.Daemon) -> dict[str, int]:
    totals = daemon.master.acd.totals()
    return {k: int(totals[k]) for k in ("calls_answered", "calls_abandoned")}


# The day counters that count calls (the others are seconds).
QUEUE_COUNTS = tuple(c for c in COUNTERS if not c.endswith("_s"))


def _queue_counts(daemon: daemon_mod.Daemon) -> dict[str, dict[str, int]]:
    """Each inbound queue's day counters (acd/stats.py), by queue name (not the survey
    campaign's: it takes no callers)."""
    return {
        s.name: {k: int(getattr(s, k)) for k in QUEUE_COUNTS}
        for s in daemon.master.acd.stats.values()
        if s.name != demo_campaign.QUEUE[0]
    }


def _run_figures(
    before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]
) -> dict[str, dict[str, Any]]:
    """This run's counters per queue, with its service level (answered within the
    threshold over answered and abandoned after it, as acd/stats.py counts it)."""
    out: dict[str, dict[str, Any]] = {}
    for name, now in after.items():
        old = before.get(name, {})
        q: dict[str, Any] = {k: now[k] - old.get(k, 0) for k in QUEUE_COUNTS}
        base = q["answered"] + q["abandoned_after_sl"]
        q["service_level"] = round(q["answered_in_sl"] / base, 4) if base else None
        out[name] = q
    return out


def _campaign_started(started: bool) -> None:
    if started:
        print(
            f"ccbox demo: outbound campaign {demo_campaign.NAME!r} running (predictive, "
            f"{len(demo_campaign.AGENTS)} agents): watch it on the wallboard",
            flush=True,
        )


def _staff_others(daemon: daemon_mod.Daemon) -> None:
    """Agents outside the demo's teams (added by an admin) and those a person logs in as
    (agent1001's desk) start their shift logged in; the teams are staffed hour by hour
    (demo_center.Shifts), the survey team when its campaign starts."""
    acd = daemon.master.acd
    teams = _teams()
    for agent in acd.agents.values():
        if agent.number in demo_campaign.AGENT_NUMBERS and agent.user_id is None:
            continue
        mine = agent.number not in teams or agent.user_id is not None  # a person's desk
        if mine and agent.status == "active" and agent.state == "logged_out":
            acd.login(agent.id)


def _teams() -> dict[str, str]:
    """Agent number -> the queue its team answers."""
    return {number: demo_center.TEAMS[dept] for number, _, dept, _ in AGENTS}


def _start_shifts(daemon: daemon_mod.Daemon, day: Any, talk_s: float) -> Any:
    """Staff the teams for the hour now, and again every second as the day goes on."""
    from twisted.internet import task

    from ivr.sample_center import CALLER_PATHS

    shifts = demo_center.Shifts(
        daemon.master.acd, day, talk_s, demo_center.queue_shares(CALLER_PATHS), _teams()
    )
    start = daemon.reactor.seconds()
    shown = [-1]

    def tick() -> None:
        elapsed = daemon.reactor.seconds() - start
        shifts.check(elapsed)
        hour = day.hour(elapsed)
        if hour != shown[0]:  # the day on the console, as the wallboard shows it
            shown[0] = hour
            on = ", ".join(f"{q} {n}" for q, n in shifts.staffed.items())
            share = demo_center.DAY_SHAPE[hour]
            print(
                f"ccbox demo: {day.clock(elapsed)}, {share:.0%} of the busy hour's callers; "
                f"agents logged in: {on}",
                flush=True,
            )

    loop = task.LoopingCall(tick)
    loop.clock = daemon.reactor
    loop.start(1.0, now=True)
    return shifts


async def _render_prompts(daemon: daemon_mod.Daemon) -> None:
    """The published flows' TTS prompts, rendered before the first caller arrives."""
    from ivr.flow_model import parse

    ivr = daemon.master.ivr
    for row in await ivr.db.ivr.flows():
        version = await ivr.db.ivr.published(row.id)
        if version is not None:
            try:
                await ivr.prompts.render_flow(parse(version.graph))
            except RuntimeError as exc:
                print(f"ccbox demo: {exc} (calls will hear silence there)", file=sys.stderr)


def switch_for(reactor: Any, config: config_mod.Config, **options: Any) -> Any:
    """The simulated switch as ``config``'s box would meet Asterisk: its manager on the
    config's AMI port and user, its calls into the config's FastAGI address. ``options``:
    the rest of SwitchSimulator's (devices, sounds, seed)."""
    from drivers.asterisk.simulator.service import SwitchSimulator

    return SwitchSimulator(
        reactor,
        ami_port=config.ami.port,
        ami_username=config.ami.username,
        ami_secret=config.ami.secret,
        agi_host=config.fastagi.bind,
        agi_port=config.fastagi.port,
        **options,
    )


def _start_switch(reactor: Any, sim: Any) -> None:
    try:
        sim.startService()
    except OSError as exc:
        print(f"ccbox demo: cannot start the simulated switch: {exc}", file=sys.stderr)
        reactor.stop()


async def _finish(
    daemon: daemon_mod.Daemon,
    sim: Any,
    url: str,
    started: dt.datetime,
    result: dict[str, Any],
    shifts: list[demo_center.Shifts],
    channels: demo_channels.DemoChannels | None = None,
) -> None:
    """Stop the traffic (callers still on the line hang up), count the calls, the chats
    and e-mails, check the web."""
    day_before = result.pop("_day_before", {})
    try:
        if sim is not None and sim.traffic is not None:
            await sim.traffic.stopService()
            # the simulated switch's count: calls placed, ended normally, hung up by the
            # caller, failed (ccboxd unreachable, or a session that ended without a hangup)
            result["switch"] = sim.traffic.summary.as_dict()
        db = daemon.master.db
        # a call's end is queued to the database, not awaited by its session: count once
        # what the calls that just ended left is written
        await db.calls.written().addTimeout(10, daemon.reactor)
        result["calls_offered"] = await db.calls.count_since(started)
        result["calls_completed"] = await db.calls.count_completed(started)
        result.update(daemon.master.acd.totals())
        for key, before in day_before.items():
            result[key] -= before
        if shifts:  # the agents logged in at the end of each hour
            result["logged_in"] = shifts[0].by_hour
        result["ivr_steps"] = await db.calls.count_events("ivr_step", started)
        result["voicemails"] = await db.voicemail.count(since=started)
        before = result.pop("_queues_before", {})
        queues = _run_figures(before, _queue_counts(daemon))
        result["queues"] = queues
        answered = sum(q["answered"] for q in queues.values())
        base = answered + sum(q["abandoned_after_sl"] for q in queues.values())
        in_sl = sum(q["answered_in_sl"] for q in queues.values())
        result["service_level"] = round(in_sl / base, 4) if base else None
        await _recordings_settled(daemon)
        result["recordings"] = await db.recordings.count(started)
        if channels is not None:
            result["channels"] = await channels.finish(db, started)
        result["web"] = await _web_status(daemon.reactor, url + "login")
    except Exception as exc:  # reported, and the demo still stops
        print(f"ccbox demo: final check failed: {exc}", file=sys.stderr)
    finally:
        daemon.reactor.stop()


async def _recordings_settled(daemon: daemon_mod.Daemon, limit_s: float = 10.0) -> None:
    """Until the recordings of the calls that just ended are merged (or ``limit_s``)."""
    from twisted.internet import task

    recorder = daemon.master.recorder
    for _ in range(int(limit_s / 0.1)):
        if not recorder.pending:
            return
        await task.deferLater(daemon.reactor, 0.1, lambda: None)


async def _web_status(reactor: Any, url: str) -> int:
    from twisted.web.client import Agent, HTTPConnectionPool

    pool = HTTPConnectionPool(reactor, persistent=False)
    pool._factory.noisy = False
    response = await Agent(reactor, pool=pool).request(b"GET", url.encode())
    return int(response.code)
