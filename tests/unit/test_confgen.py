"""ccbox asterisk-config: files Asterisk can read (pyst2 parses them back), least privilege."""

from __future__ import annotations

import re
from pathlib import Path

import asterisk.config
import pytest

from appliance import cli
from appliance.config import Config, ConfigError, parse
from appliance.switch_settings import asterisk_settings
from drivers.asterisk import confgen, dialplan
from ivr import system_sounds

SECRET = "0123456789abcdef"


def config(extra: str = "") -> Config:
    return parse(f"[ami]\nsecret = {SECRET}\n{extra}")


def read(path: Path) -> dict[str, list[tuple[str, str]]]:
    cfg = asterisk.config.Config(str(path))
    return {c.name: [(i.name, i.value.strip()) for i in c.items] for c in cfg.categories}


def test_writes_files_asterisk_can_read(tmp_path: Path) -> None:
    paths = confgen.write(asterisk_settings(config()), tmp_path)
    assert sorted(p.name for p in paths) == [
        "README.txt",
        "extensions_ccbox.conf",
        "manager_ccbox.conf",
    ]
    manager = dict(read(tmp_path / "manager_ccbox.conf")["ccbox"])
    assert manager["secret"] == SECRET
    assert manager["permit"] == "127.0.0.1/255.255.255.255"
    assert manager["deny"] == "0.0.0.0/0.0.0.0"
    write = set(manager["write"].split(","))
    assert not write & {"system", "command", "config", "all"}  # nothing that is root
    assert "originate" in write and "call" in write
    assert "all" not in manager["read"].split(",")
    assert (tmp_path / "manager_ccbox.conf").stat().st_mode & 0o777 == 0o640


def test_dialplan_routes_trunks_into_fastagi_and_spy_modes(tmp_path: Path) -> None:
    confgen.write(asterisk_settings(config("[fastagi]\nport = 4600\n")), tmp_path, trunk="DAHDI/g1")
    contexts = read(tmp_path / "extensions_ccbox.conf")
    assert set(contexts) >= {
        "ccbox-inbound",
        "ccbox-agents",
        "ccbox-outbound",
        "ccbox-handoff",
        "ccbox-supervise",
    }
    assert "ccbox-outbound-connect" not in contexts  # no route: nothing originates there
    inbound = [v for _, v in contexts["ccbox-inbound"]]
    assert "n,AGI(agi://127.0.0.1:4600/inbound,${EXTEN})" in inbound
    outbound = [v for _, v in contexts["ccbox-outbound"]]
    assert "_X,1,Dial(DAHDI/g1/${EXTEN},60)" in outbound
    assert "_X.,1,Dial(DAHDI/g1/${EXTEN},60)" in outbound
    dialer = [v for _, v in contexts["ccbox-dialer"]]
    for pattern in ("_X", "_X."):  # an answered campaign call: AMD() when asked, then ccboxd
        assert f'{pattern},1,GotoIf($["${{CCBOX_AMD}}" != "1"]?talk)' in dialer
    assert "n,AMD()" in dialer
    assert "n(talk),AGI(agi://127.0.0.1:4600/dialer,${EXTEN})" in dialer
    spy = [v for _, v in contexts["ccbox-supervise"]]
    for mode, opts in (("listen", "qEu"), ("whisper", "qEuw"), ("barge", "qEuB")):
        assert f"{mode},1,Answer()" in spy
        assert f"n,ChanSpy(${{CCBOX_SPY_TARGET}},{opts})" in spy


@pytest.mark.parametrize(
    ("conf", "trunk", "message"),
    [
        ("", "DAHDI/g0", "at least 12 characters"),  # no secret
        ("[ami]\nsecret = short\n", "DAHDI/g0", "at least 12 characters"),
        ("[ami]\nsecret = 0123456789abc;x\n", "DAHDI/g0", "must not contain"),
        (f"[ami]\nsecret = {SECRET}\n", "DAHDI/g1&PJSIP/x", "trunk"),
        (f"[ami]\nsecret = {SECRET}\n", "Local/x@ctx", "trunk"),
        (f"[ami]\nsecret = {SECRET}\n", "Local@ctx,x", "trunk"),
    ],
)
def test_unsafe_inputs_are_refused(tmp_path: Path, conf: str, trunk: str, message: str) -> None:
    with pytest.raises(confgen.ConfgenError, match=message):
        confgen.write(asterisk_settings(parse(conf)), tmp_path, trunk=trunk)
    assert not (tmp_path / "manager_ccbox.conf").exists()


@pytest.mark.parametrize(
    ("device_tech", "message"),
    [
        ("SIP", "no chan_sip"),  # Asterisk 22: PJSIP only
        ("Local", "Local@<context>"),
        ("Local@ctx/n,x", "Local@<context>"),
        ("IAX2&PJSIP", "device technology"),
    ],
)
def test_device_technologies_refused(tmp_path: Path, device_tech: str, message: str) -> None:
    with pytest.raises(confgen.ConfgenError, match=message):
        confgen.write(asterisk_settings(config()), tmp_path, device_tech=device_tech)
    assert not (tmp_path / "extensions_ccbox.conf").exists()


def test_cli_writes_the_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "ccbox.conf"
    conf.write_text(f"[ami]\nsecret = {SECRET}\n")
    out = tmp_path / "asterisk"
    assert cli.main(["--config", str(conf), "asterisk-config", "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out and (out / "README.txt").exists()
    # the system sounds, both languages, and the README says where they go
    for lang in ("en", "zh"):
        assert {p.stem for p in (out / "sounds" / lang).glob("*.wav")} == system_sounds.NAMES
    readme = (out / "README.txt").read_text()
    assert f"{out}/sounds/zh/" in readme and "/var/lib/asterisk/sounds/zh" in readme
    conf.write_text("[ami]\nsecret = x\n")
    assert cli.main(["--config", str(conf), "asterisk-config", "--out", str(out)]) == 1
    assert "at least 12 characters" in capsys.readouterr().err


def test_cli_sounds_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "ccbox.conf"
    conf.write_text(f"[ami]\nsecret = {SECRET}\n")
    base = ["--config", str(conf), "asterisk-config", "--out"]
    asterisk_sounds = tmp_path / "var-lib-asterisk-sounds"
    args = [*base, str(tmp_path / "a"), "--sounds-dir", str(asterisk_sounds)]
    assert cli.main([*args, "--sound-languages", "zh"]) == 0
    assert {p.parent.name for p in asterisk_sounds.rglob("*.wav")} == {"zh"}
    assert not (tmp_path / "a" / "sounds").exists()
    assert "nothing to copy" in (tmp_path / "a" / "README.txt").read_text()
    assert cli.main([*base, str(tmp_path / "b"), "--no-sounds"]) == 0
    assert not (tmp_path / "b" / "sounds").exists()
    assert "--no-sounds" in (tmp_path / "b" / "README.txt").read_text()
    capsys.readouterr()
    assert cli.main([*base, str(tmp_path / "c"), "--sound-languages", "en,fr"]) == 1
    assert "choose from en, zh" in capsys.readouterr().err


# ---- extension patterns: what ccboxd sends into each context must match -----------------
# Matched by drivers/asterisk/dialplan.py, which holds Asterisk's rules (its tests replay
# dialplan-patterns.txt) and is what the simulator routes with.

TEN = "4008001234"
# What ccboxd (or a trunk) puts in the extension of each generated context.
SENT = {
    # DIDs (E.164 with '+' from PJSIP providers), and 0 for analog lines without DID (s)
    "ccbox-inbound": ["1", "7", "12", "123", TEN, "+86" + TEN, "0", "s"],
    "ccbox-agents": ["1", "7", "12", "123", "1001", TEN],  # desk phone endpoints
    "ccbox-features": ["*71", "*72", "*73", "*74", "*75", "*98"],
    "ccbox-callback": ["1", "7", "12", "123", TEN],  # callback ids
    "ccbox-transfer-queue": ["1", "7", "12", "123", TEN],  # queue ids
    "ccbox-transfer-agent": ["1", "7", "12", "123", "1001", TEN],  # agent numbers
    "ccbox-extensions": ["1", "7", "12", "123", TEN, "1" * 20],  # the old PBX's extensions
    "ccbox-outbound": ["1", "7", "12", "123", TEN, "+86" + TEN],  # phone numbers
    "ccbox-desk-dial": ["1", "7", "12", "123", TEN, "+86" + TEN],  # click-to-dial numbers
    "ccbox-desk-hold": ["0"],  # hold: the Atxfer's one exact digit
    "ccbox-dialer": ["1", "7", "12", "123", TEN],  # dial attempt ids
    "ccbox-handoff": ["s"],  # a stopping ccboxd's callers (Goto from the AGI contexts)
    "ccbox-supervise": ["listen", "whisper", "barge"],
}


def generated(tmp_path: Path, **kwargs: str) -> dialplan.Dialplan:
    confgen.write(asterisk_settings(config()), tmp_path, **kwargs)
    path = tmp_path / "extensions_ccbox.conf"
    return dialplan.parse(path.read_text(), str(path))


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"trunk": "Local@pstn-out", "device_tech": "IAX2"}, {"device_tech": "Local@phones"}],
)
def test_every_extension_ccboxd_sends_matches(tmp_path: Path, kwargs: dict[str, str]) -> None:
    plan = generated(tmp_path, **kwargs)
    assert set(plan.contexts) == set(SENT)  # a new context needs its row in SENT
    for context, sent in SENT.items():
        for exten in sent:
            assert plan.exists(context, exten), (context, exten)


def test_no_pattern_needs_two_digits_or_catches_special_extensions(tmp_path: Path) -> None:
    for name, context in generated(tmp_path).contexts.items():
        patterns = list(context.extensions)
        assert "_X." not in patterns or "_X" in patterns, name
        for special in ("h", "i", "t", "e", "a", "o", "T", ""):
            if not (name in ("ccbox-inbound", "ccbox-handoff") and special == "s"):
                assert not any(dialplan.matches(p, special) for p in patterns), (name, special)


# ---- the fallback after AGI(): only when ccboxd never took the call ----------------------

_GOTOIF = re.compile(r'\$\["\$\{(\w+)\}" (!?=) "([^"]*)"\]\?(\w+)\Z')


def run_extension(
    plan: dialplan.Dialplan,
    context: str,
    exten: str,
    channel: dict[str, str],
    agi: dict[str, str],
) -> list[str]:
    """Run ``exten`` of ``context`` as Asterisk would, the AGI step leaving ``agi`` in the
    channel's variables; returns what the caller hears (Playback)."""
    found = plan.find(context, exten)
    assert found is not None, (context, exten)
    ext = found.extension
    heard: list[str] = []
    priority = 1
    while priority in ext.steps:
        step = ext.steps[priority]
        priority += 1
        if step.app == "Goto":
            to_context, to_exten, to_priority = step.data.split(",")
            assert to_priority == "1", step.data
            return heard + run_extension(plan, to_context, to_exten, channel, {})
        if step.app == "Set":
            var, _, val = step.data.partition("=")
            channel[var] = val
        elif step.app == "AGI":
            channel.update(agi)
        elif step.app == "GotoIf":
            m = _GOTOIF.match(step.data)
            assert m, step.data
            var, op, literal, label = m.groups()
            if (channel.get(var, "") == literal) == (op == "="):
                target = ext.label(label)
                assert target is not None, label
                priority = target.priority
        elif step.app in ("Playback", "VoiceMail"):
            heard.append(step.data if step.app == "Playback" else f"VoiceMail({step.data})")
        elif step.app == "Dial":
            heard.append(f"Dial({step.data})")
        elif step.app == "Hangup":
            break
        else:
            assert step.app in ("Answer", "NoOp"), f"the test cannot run {step.app}"
    return heard


REACHED = {confgen.AGI_MARK: "1"}  # what ccboxd's FastAGI server sets first in each session
HANDED_OFF = {confgen.AGI_MARK: "1", confgen.HANDOFF_MARK: "1"}  # a stopping ccboxd's


@pytest.mark.parametrize(
    ("before", "agi", "heard"),
    [
        ({}, {"AGISTATUS": "FAILURE"}, ["ss-noservice"]),  # ccboxd unreachable
        # ccboxd handled the call; a sound was missing inside the session
        ({}, {"AGISTATUS": "FAILURE", **REACHED}, []),
        ({}, {"AGISTATUS": "SUCCESS", **REACHED}, []),
        # redirected here after an earlier session set the mark, and ccboxd is down now
        (REACHED, {"AGISTATUS": "FAILURE"}, ["ss-noservice"]),
        # a stopping ccboxd handed the caller back: the hand-off, never the "no service"
        ({}, {"AGISTATUS": "SUCCESS", **HANDED_OFF}, ["ccbox-handoff"]),
        ({}, {"AGISTATUS": "FAILURE", **HANDED_OFF}, ["ccbox-handoff"]),
        # handed off in an earlier session, then redirected here and served to the end
        (HANDED_OFF, {"AGISTATUS": "SUCCESS", **REACHED}, []),
    ],
)
def test_fallback_plays_only_when_ccboxd_was_unreachable(
    tmp_path: Path, before: dict[str, str], agi: dict[str, str], heard: list[str]
) -> None:
    plan = generated(tmp_path)
    for context in ("ccbox-inbound", "ccbox-transfer-queue", "ccbox-transfer-agent"):
        for exten in ("1", "12", TEN, "+86" + TEN):
            if plan.exists(context, exten):
                got = run_extension(plan, context, exten, dict(before), agi)
                assert got == heard, (context, exten)


@pytest.mark.parametrize("kwargs", [{}, {"device_tech": "IAX2", "pbx": "IAX2"}])
def test_digits_dialed_one_by_one_are_collected_to_the_end(
    tmp_path: Path, kwargs: dict[str, str]
) -> None:
    """An attended transfer's digits (AMI Atxfer to 1002@ccbox-agents) and an overlap-dialed
    DID are collected while some pattern matches more: with _X! the first match was final,
    and the real switch dialed 10 instead of 1002 (make test-asterisk)."""
    plan = generated(tmp_path, **kwargs)
    for name, context in plan.contexts.items():
        patterns = list(context.extensions)
        assert not any("!" in p for p in patterns), name
        for number in SENT[name]:
            for end in range(1, len(number)):
                prefix = number[:end]
                assert any(dialplan.matches_more(p, prefix) for p in patterns), (name, prefix)


@pytest.mark.parametrize(
    ("shutdown", "heard"),
    [
        ("", ["ccbox-handoff"]),  # the default: a message, then hang up
        ("handoff = message\nhandoff_to = tt-allbusy\n", ["tt-allbusy"]),
        ("handoff = voicemail\nhandoff_to = 800\n", ["VoiceMail(800@default,u)"]),
        ("handoff = voicemail\nhandoff_to = 800@center\n", ["VoiceMail(800@center,u)"]),
        ("handoff = extension\nhandoff_to = 8000\n", ["Dial(PJSIP/${EXTEN},60)"]),
    ],
)
def test_the_handoff_is_what_the_config_says(
    tmp_path: Path, shutdown: str, heard: list[str]
) -> None:
    confgen.write(asterisk_settings(config(f"[shutdown]\n{shutdown}")), tmp_path)
    path = tmp_path / "extensions_ccbox.conf"
    plan = dialplan.parse(path.read_text(), str(path))
    for context in ("ccbox-inbound", "ccbox-transfer-queue", "ccbox-transfer-agent"):
        assert run_extension(plan, context, "12", {}, HANDED_OFF) == heard, context
    if "extension" in shutdown:  # the old PBX's extension 8000 is what is dialed
        assert plan.exists("ccbox-extensions", "8000")


@pytest.mark.parametrize(
    ("shutdown", "message"),
    [
        ("handoff = extension\nhandoff_to = abc\n", "an extension is digits"),
        ("handoff = message\nhandoff_to = a@b\n", "a sound name has no '@'"),
        ("handoff_to = x,Dial(DAHDI/g0)\n", "letters, digits"),
        ("handoff = queue\n", "one of"),
        ("grace_s = 23\n", "expected 0 to 22"),
    ],
)
def test_a_handoff_that_would_break_the_dialplan_is_refused(shutdown: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config(f"[shutdown]\n{shutdown}")


_AGI_SCRIPT = re.compile(r"AGI\(agi://[^/]+/([^,)]*)")


def test_every_fastagi_script_the_dialplan_names_is_a_route_the_master_serves(
    tmp_path: Path,
) -> None:
    """A script name with no route is hung up by the FastAGI server: the generated
    dialplan must name only routes ccboxd serves (it named ``outbound``, which was none)."""
    from twisted.internet.testing import MemoryReactorClock

    from appliance.master import ApplianceMaster

    conf = config(f"[ccbox]\ndata_dir = {tmp_path}\n")
    confgen.write(asterisk_settings(conf), tmp_path / "out")
    named = set(_AGI_SCRIPT.findall((tmp_path / "out" / "extensions_ccbox.conf").read_text()))
    master = ApplianceMaster(conf, MemoryReactorClock())
    assert master.fastagi is not None
    served = set(master.fastagi.factory.routes)
    assert named, "no AGI() found in the dialplan"
    assert named <= served, f"scripts without a route: {sorted(named - served)}"


def test_desk_dial_sets_the_caller_id_and_lets_the_agent_transfer(tmp_path: Path) -> None:
    """Click-to-dial: the agent's phone (the Dial's calling side) gets T, which hold,
    consultation and three-way calls need (AMI Atxfer on that leg); the caller ID comes from
    channel variables ccboxd sets on the Originate."""
    confgen.write(asterisk_settings(config()), tmp_path, trunk="DAHDI/g1")
    desk = [v for _, v in read(tmp_path / "extensions_ccbox.conf")["ccbox-desk-dial"]]
    assert "_+X.,1,Set(CALLERID(num)=${CCBOX_DESK_CID_NUM})" in desk
    assert "n,Set(CALLERID(name)=${CCBOX_DESK_CID_NAME})" in desk
    assert "n,Dial(DAHDI/g1/${EXTEN},60,T)" in desk
    hold = [v for _, v in read(tmp_path / "extensions_ccbox.conf")["ccbox-desk-hold"]]
    # one exact extension: Atxfer's digit collection ends at once, and no pattern could
    # swallow another number; the agent waits in silence (the caller hears the music)
    assert hold == ["0,1,Answer()", "n,Wait(3600)", "n,Hangup()"]
