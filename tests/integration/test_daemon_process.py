"""ccboxd and ccbox demo as real processes: readiness, login over HTTP, SIGTERM, refusals."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import wave
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, write_config
from tests.support.appliance import USERS, prepare
from tests.support.daemon import BIN, running_daemon
from tests.support.http import Browser

pytestmark = pytest.mark.integration


def drain(sock: socket.socket) -> bytes:
    """Every notification still queued on the socket."""
    rest = b""
    sock.settimeout(1)
    try:
        while True:
            rest += sock.recv(4096) + b"\n"
    except TimeoutError:
        pass
    return rest


def test_daemon_serves_logins_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    config = prepare(tmp_path)
    with running_daemon(config.path, tmp_path, WATCHDOG_USEC="2000000") as daemon:
        assert b"web UI on http://127.0.0.1:" in daemon.ready_message
        assert daemon.notify.recv(100) == b"WATCHDOG=1"  # heartbeat from the reactor
        b = Browser(config.web.port)
        r = b.login("admin", USERS["admin"][1])
        assert r.status == 303
        dash = b.get("/")
        assert dash.status == 200 and "The Admin" in dash.body
        daemon.stop(30)
        rest = drain(daemon.notify)
    out = daemon.output
    assert daemon.returncode == 0, out
    assert b"STOPPING=1" in rest
    assert out.index("web stopped") < out.index("db stopped"), out  # reverse start order
    assert "admin logged in (admin)" in out
    assert "Traceback" not in out


def test_daemon_logs_for_journald_when_journal_stream_is_set(tmp_path: Path) -> None:
    config = prepare(tmp_path)
    with running_daemon(config.path, tmp_path, JOURNAL_STREAM="8:1234") as daemon:
        daemon.stop(30)
    lines = [line for line in daemon.output.splitlines() if line and not line.startswith("    ")]
    assert lines and all(line[:3] in ("<6>", "<7>", "<5>", "<4>") for line in lines), lines


def test_daemon_refuses_an_unmigrated_database_and_names_the_fix(tmp_path: Path) -> None:
    conf = write_config(tmp_path)
    proc = subprocess.run(
        [str(BIN / "ccboxd"), "--config", str(conf)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    assert f"run: ccbox --config {conf} db upgrade" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_daemon_refuses_a_bad_config_with_one_line_per_key(tmp_path: Path) -> None:
    conf = tmp_path / "ccbox.conf"
    conf.write_text("[web]\nport = eighty\n[fastagi]\nbind = everywhere\n")
    proc = subprocess.run(
        [str(BIN / "ccboxd"), "--config", str(conf)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"ccboxd: {conf}: [fastagi] bind = 'everywhere': not an IP address "
        "(use 127.0.0.1, 0.0.0.0 or an address of this box)",
        f"ccboxd: {conf}: [web] port = 'eighty': not a whole number (expected 1 to 65535)",
    ]


def test_daemon_reports_a_busy_port_and_exits(tmp_path: Path) -> None:
    config = prepare(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", config.web.port))
        busy.listen()
        proc = subprocess.run(
            [str(BIN / "ccboxd"), "--config", str(config.path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1
    assert "cannot start" in proc.stdout and "Address already in use" in proc.stdout


def test_headless_demo_reports_json_and_prints_the_logins_once(tmp_path: Path) -> None:
    data = tmp_path / "demo-data"
    cmd = [
        str(BIN / "ccbox"),
        "demo",
        "--data-dir",
        str(data),
        "--port",
        str(free_port()),
        # not the demo's own 15038 and 14573: another demo may be running on this machine
        "--ami-port",
        str(free_port()),
        "--fastagi-port",
        str(free_port()),
        "--chat-port",
        str(free_port()),
        "--headless",
        "--duration",
        "18",
        # a busier day than the default, with talk and wrap-up as short as the run is:
        # Erlang C staffs it from the demo's roster (appliance/demo_center.py)
        "--calls-per-second",
        "1",
        "--talk-seconds",
        "4",
        "--seed",  # an ordinary sample: 13 callers in the 18 s (12 expected)
        "10",
        "--report",
        "json",
    ]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stdout + first.stderr
    report = json.loads(first.stdout.strip().splitlines()[-1])
    assert set(report) == {
        "daemon",
        "web",
        "calls_offered",
        "calls_completed",
        "calls_answered",
        "calls_abandoned",
        "agents_released",
        "agent_violations",
        "service_level",
        "avg_wait_s",
        "occupancy",
        "ivr_steps",
        "voicemails",
        "recordings",
        "queues",
        "calls_by_hour",
        "staffing",
        "logged_in",
        "switch",
        "channels",  # chats and e-mails: tests/integration/test_demo_channels.py
    }
    assert (report["daemon"], report["web"]) == ("ok", 200)
    # logins are printed once ccboxd listens, not before (a start that failed would lose them)
    assert first.stdout.index("ccboxd ready; web UI on") < first.stdout.index(" login is ")
    assert_a_healthy_day(report)
    # No agent was left ringing or on a call the switch did not have (acd/invariants.py).
    assert (report["agents_released"], report["agent_violations"]) == (0, 0), report
    # Every call walks the sample flow's main menu at least.
    assert report["ivr_steps"] >= report["calls_offered"] >= 1, report
    # every call an agent answered and finished left a stereo recording with its metrics,
    # indexed with its agent and E1 channel; the report counts what the database holds
    assert report["recordings"] >= report["calls_completed"], report
    with closing(sqlite3.connect(data / "ccbox.sqlite")) as db:
        assert db.execute("SELECT count(*) FROM voicemails").fetchone()[0] == report["voicemails"]
        rows = db.execute(
            "SELECT r.path, r.duration_ms, r.agent_id, r.channel_number, r.caller_talk_ratio,"
            " r.peaks, c.direction FROM recordings r JOIN calls c ON c.id = r.call_id"
        ).fetchall()
    assert len(rows) == report["recordings"], rows
    for path, duration_ms, agent_id, channel, caller_talk, peaks, direction in rows:
        with wave.open(str(data / "recordings" / path)) as w:
            assert (w.getnchannels(), w.getframerate()) == (2, 8000), path
            assert abs(w.getnframes() / 8 - duration_ms) <= 1, path
        assert agent_id is not None, path
        # an E1 channel for a caller's call (a complaint's call-back starts on the agent's
        # phone: acd/callback_call.py)
        assert channel is not None or direction == "outbound", path
        assert caller_talk > 0 and len(json.loads(peaks)) == 200, path
    # The first caller arrives at once, hears a prompt of at most 3 s, and six agents are
    # logged in whose phones ring 2 s: it is answered, and it completes when traffic stops.
    assert report["calls_offered"] >= report["calls_completed"] >= 1, report
    # completed: the callers an agent answered, and the complaints' call-backs
    callbacks = report["queues"]["care"]["callbacks"]
    assert report["calls_answered"] + callbacks >= report["calls_completed"], report
    assert 0 < report["occupancy"] <= 1 and 0 <= report["service_level"] <= 1, report
    assert 0 <= report["avg_wait_s"] < 8, report
    assert "AMI ready" in first.stdout and "Traceback" not in first.stdout + first.stderr
    # the demo installs ccbox's system sounds where the simulated Asterisk looks, so no call
    # meets a missing one (ccboxd logs each missing name once)
    assert (data / "asterisk-sounds" / "zh" / "ccbox-queue-wait.wav").is_file()
    assert "is not installed in Asterisk" not in first.stdout + first.stderr
    login_lines = [line for line in first.stdout.splitlines() if " login is " in line]
    logins = dict(line.split(" login is  ")[1].split()[0:3:2] for line in login_lines)
    # the admin, and a supervisor, a QA user and agent 1001's desk to run the center with
    assert list(logins) == ["admin", "supervisor", "qa", "agent1001"], login_lines
    stored = (data / "ccbox.sqlite").read_bytes().decode("latin-1")
    assert not [p for p in logins.values() if p in stored]
    # The agents the first run left in wrap-up finish it in the second (10 s from its start,
    # not afresh and not cut short: acd/service.py restore), so the second runs longer.
    second_cmd = [*cmd[: cmd.index("--duration") + 1], "10", *cmd[cmd.index("--duration") + 2 :]]
    second = subprocess.run(second_cmd, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0
    assert " login is " not in second.stdout
    assert (data / "ccbox.conf").exists() and (data / "recordings").is_dir()
    # A second demo on the same data loses no call: fresh uniqueids, every row finished,
    # and the report counts this run (the ACD's day counters carry the first run's too).
    again = json.loads(second.stdout.strip().splitlines()[-1])
    assert again["calls_offered"] >= again["calls_completed"] >= 1, again
    callbacks = again["queues"]["care"]["callbacks"] + report["queues"]["care"]["callbacks"]
    assert again["calls_answered"] + callbacks >= again["calls_completed"], again
    assert again["calls_answered"] <= again["calls_offered"], again
    assert (again["agents_released"], again["agent_violations"]) == (0, 0), again
    # every call the switch placed was served to its end, each with its row
    assert again["switch"]["failed"] == 0 and again["switch"]["offered"] >= 1, again
    assert again["calls_offered"] >= again["switch"]["offered"], again
    output = second.stdout + second.stderr
    assert "Traceback" not in output and "DuplicateError" not in output, output[-3000:]
    with closing(sqlite3.connect(data / "ccbox.sqlite")) as db:
        total, distinct, open_rows = db.execute(
            "SELECT count(*), count(DISTINCT uniqueid), sum(ended_at IS NULL) FROM calls"
        ).fetchone()
        voicemails = db.execute("SELECT count(*) FROM voicemails").fetchone()[0]
    assert total == distinct == report["calls_offered"] + again["calls_offered"]
    assert open_rows == 0
    # each report counts its own run's messages (the first run's complaint left one)
    assert report["voicemails"] >= 1 and voicemails == report["voicemails"] + again["voicemails"]


def assert_a_healthy_day(report: dict[str, Any]) -> None:
    """A center on a busy day, not a meltdown: callers reach every queue, the teams are
    staffed for the hour, and most calls are answered within 20 s (acd/stats.py)."""
    queues = report["queues"]
    assert set(queues) == {"support", "billing", "sales", "care"}
    for name, q in queues.items():
        # care takes the complaints' call-backs; the others callers in line
        assert q["offered"] + q["callbacks"] >= 1, (name, report)
    assert max(q["offered"] for q in queues.values()) < 0.75 * report["calls_offered"], report
    # the run's service level, from its queues' counters
    answered = sum(q["answered"] for q in queues.values())
    base = answered + sum(q["abandoned_after_sl"] for q in queues.values())
    assert base >= 5, report
    in_sl = sum(q["answered_in_sl"] for q in queues.values())
    assert report["service_level"] == round(in_sl / base, 4)
    assert 0.6 <= report["service_level"] <= 1.0, report
    assert sum(q["overflowed"] for q in queues.values()) <= 0.1 * report["calls_offered"], report
    # the switch placed every call the report counts per hour, and none failed
    assert report["switch"]["failed"] == 0, report
    assert sum(report["calls_by_hour"]) == report["switch"]["offered"], report
    # Erlang C's staffing follows the day: more agents in the busy hour than at closing
    staffing = report["staffing"]
    assert all(hours[2] == max(hours) for hours in staffing.values()), staffing
    assert sum(h[2] for h in staffing.values()) > sum(h[-1] for h in staffing.values())
    # and the agents followed it: logged in as the busy hour came (agent1001 is a person's,
    # logged in all day), idle ones logged out as the evening went
    on = report["logged_in"]
    for name, hours in on.items():
        assert hours[2] is not None and hours[2] >= staffing[name][2], (name, on, staffing)
    evening = [h[-1] for h in on.values()]
    assert None not in evening and sum(evening) < sum(h[2] for h in on.values()), on


def test_daemon_refuses_a_bad_recording_key_file(tmp_path: Path) -> None:
    """An admin asked for encrypted recordings: a key that cannot be used stops the daemon
    with one clear line, before anything is recorded in the clear."""
    config = prepare(tmp_path)
    key = tmp_path / "recording.key"
    key.write_bytes(b"short")
    key.chmod(0o600)
    text = config.path.read_text().replace("encryption_key_file =", f"encryption_key_file = {key}")
    config.path.write_text(text)
    proc = subprocess.run(
        [str(BIN / "ccboxd"), "--config", str(config.path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"ccboxd: {config.path}: [recording] encryption_key_file: ")
    assert "5 bytes, a key is exactly 32 raw bytes" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
