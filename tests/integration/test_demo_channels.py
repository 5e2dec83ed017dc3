"""The demo's internet channels, through the real ``ccbox demo --headless``: beside the calls,
visitors of the company site chat through the public widget endpoint over loopback (HTTP
clients, Chinese and English), customers' mails (GB2312 among them, a reply to the
auto-reply) reach the support mailbox of the loopback mail server that ccboxd polls over
IMAP, and the simulated agents accept and answer both through the channels' engine. The
JSON report counts them from the database; the database shows the rest: the routes chose
the billing and VIP e-mail queues, the GB2312 mails are stored readable, a visitor wrote in
Chinese.

The company site (appliance/demo_site/) is checked in this process: its pages embed the
widget from the chat endpoint's address with one script tag, and nothing else of the box.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import reactor
from twisted.trial import unittest
from twisted.web.test.requesthelper import DummyRequest

from appliance import config as config_mod
from appliance import demo_channels
from appliance.cli import open_db, resolved
from tests.conftest import free_port
from tests.support.daemon import BIN
from tests.support.inline_db import migrated_sqlite
from tests.support.tmp import temp_dir

pytestmark = pytest.mark.integration


def run_demo(data: Path, seconds: int) -> tuple[dict, str]:  # type: ignore[type-arg]
    cmd = [
        str(BIN / "ccbox"),
        "demo",
        "--data-dir",
        str(data),
        "--port",
        str(free_port()),
        "--ami-port",
        str(free_port()),
        "--fastagi-port",
        str(free_port()),
        "--chat-port",
        str(free_port()),
        "--headless",
        "--duration",
        str(seconds),
        # calls as test_daemon_process's busy day: Erlang C logs in a dozen agents, who
        # answer the chats (0.5 a second) and mails (0.2 a second) between calls
        "--calls-per-second",
        "1",
        "--talk-seconds",
        "4",
        "--seed",
        "3",
        "--report",
        "json",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stdout


def test_the_demo_visitors_chat_and_customers_write_beside_the_calls(tmp_path: Path) -> None:
    data = tmp_path / "demo-data"
    report, out = run_demo(data, 35)
    assert (report["daemon"], report["web"]) == ("ok", 200), report
    assert report["calls_answered"] >= 1, report  # the calls ran too
    ch = report["channels"]
    visitors, agents, writers = ch["visitors"], ch["agents"], ch["writers"]
    # visitors chatted through the real endpoint: no refusal, every start a chat
    assert visitors["errors"] == [] and visitors["refused"] == 0, ch
    assert visitors["chats"] >= 3 and ch["chats"] >= visitors["chats"], ch
    # answered by the simulated agents: accepted, their lines reached the visitors' streams
    assert ch["chats_answered"] >= 3 and agents["accepted"] >= 3, ch
    assert visitors["lines_sent"] >= 3 and visitors["replies_seen"] >= 3, ch
    assert ch["lines_customer"] >= visitors["lines_sent"] and ch["lines_agent"] >= 3, ch
    # mails: written into the loopback mailbox, taken over IMAP, answered
    assert writers["mails"] >= 3 and writers["gb2312"] >= 2, ch
    assert ch["emails"] >= 3 and ch["emails_replied"] >= 1 and agents["mail_replies"] >= 1, ch
    assert "embeds the chat widget" in out

    with closing(sqlite3.connect(data / "ccbox.sqlite")) as db:
        queues = dict(
            db.execute(
                "SELECT q.name, count(*) FROM conversations c JOIN queues q ON q.id = c.queue_id"
                " WHERE c.media = 'email' GROUP BY q.name"
            ).fetchall()
        )
        # the routes: 发票 to billing, a sender @vip.example.com to the VIP queue
        assert queues.get("email-billing", 0) >= 1 and queues.get("email-vip", 0) >= 1, queues
        bodies = [
            r[0]
            for r in db.execute(
                "SELECT m.body FROM conversation_messages m JOIN conversations c"
                " ON c.id = m.conversation_id WHERE c.media = 'email' AND m.sender = 'customer'"
            )
        ]
        # the GB2312 mails read as the customers wrote them
        assert any("宽带从昨晚开始一直掉线" in b for b in bodies), bodies
        assert any("请帮我开具上个月的发票" in b for b in bodies), bodies
        chinese_chat = db.execute(
            "SELECT count(*) FROM conversation_messages m JOIN conversations c"
            " ON c.id = m.conversation_id WHERE c.media = 'chat' AND m.body LIKE '%宽带%'"
        ).fetchone()[0]
    assert chinese_chat >= 1  # a visitor wrote in Chinese


def test_the_company_site_embeds_the_widget_from_the_chat_endpoint() -> None:
    root = demo_channels.site_root("http://127.0.0.1:8090/")
    for path in (b"", b"index.html", b"plans.html", b"help.html"):
        page = root.getChildWithDefault(path, DummyRequest([path]))
        request = DummyRequest([path])
        body = page.render(request)
        assert isinstance(body, bytes)
        text = body.decode()
        tag = '<script src="http://127.0.0.1:8090/chat/widget.js" data-ccbox-chat async>'
        assert text.count(tag) == 1, path
        assert "{{" not in text
        assert request.responseHeaders.getRawHeaders(b"content-type") == [
            b"text/html; charset=utf-8"
        ]
    # a page the site does not have is not found (no directory listing of the box)
    request = DummyRequest([b"ccbox.conf"])
    missing = root.getChildWithDefault(b"ccbox.conf", request)
    missing.render(request)
    assert request.responseCode == 404


class PortsMovedTests(unittest.TestCase):
    def test_a_demo_whose_mail_port_is_taken_takes_a_free_one_and_keeps_the_password(
        self,
    ) -> Any:
        """The seeded mailbox follows the loopback mail server to the ports it got: a
        stored password goes only to the server it was given for, so the demo gives it
        again (a demo run while another held 14143 failed at start with "type its password
        again")."""
        data = temp_dir(self) / "demo-data"
        data.mkdir()
        conf = data / "ccbox.conf"
        conf.write_text(
            config_mod.render(
                data.resolve(),
                web_port=free_port(),
                fastagi_port=free_port(),
                ami_port=free_port(),
                ami_secret="s3cret",
            ),
            encoding="utf-8",
        )
        url = migrated_sqlite(data / "ccbox.sqlite")
        config = dataclasses.replace(config_mod.load(conf), database_url=url)
        db = open_db(config)
        demo_channels.seed(db, "http://127.0.0.1:8088", "mail-Secret-1")
        resolved(db.stopService())
        busy = socket.socket()
        self.addCleanup(busy.close)
        with contextlib.suppress(OSError):  # or another program holds it: as good
            busy.bind(("127.0.0.1", demo_channels.DEMO_IMAP_PORT))
            busy.listen()
        plugged = demo_channels.plug(reactor, config)
        self.addCleanup(plugged.stop)
        assert plugged.mail is not None
        self.assertNotEqual(plugged.mail.imap_port, demo_channels.DEMO_IMAP_PORT)
        with closing(sqlite3.connect(data / "ccbox.sqlite")) as conn:
            row = conn.execute(
                "SELECT imap_port, smtp_port, imap_password, smtp_password FROM email_accounts"
            ).fetchone()
        self.assertEqual(
            row, (plugged.mail.imap_port, plugged.mail.smtp_port, "mail-Secret-1", "mail-Secret-1")
        )
