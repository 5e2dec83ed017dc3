# ruff: noqa: RUF001  (Chinese subjects keep their full-width colon)
"""The e-mail channel's pure rules: threads, routes, loops, the mails it writes."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace

import pytest

from acd.channels.email import compose, loops, routing
from acd.channels.email import threading as th
from webui.i18n import translator

NOW = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)
TRANSLATORS = {"zh": translator("zh_CN"), "en": translator("en")}


# ---- threading ------------------------------------------------------------------------


def test_norm_id_gives_the_header_form_and_refuses_nonsense() -> None:
    assert th.norm_id(" <abc@x.example> ") == "<abc@x.example>"
    assert th.norm_id("abc@x.example") == "<abc@x.example>"
    assert th.norm_id("") == ""
    assert th.norm_id("<a b@x>") == ""
    assert th.norm_id("<" + "a" * 300 + "@x>") == ""


def test_candidate_ids_in_reply_to_first_then_references_newest_first() -> None:
    ids = th.candidate_ids("<c@x>", ("<a@x>", "<b@x>", "<c@x>"))
    assert ids == ["<c@x>", "<b@x>", "<a@x>"]
    many = tuple(f"<{i}@x>" for i in range(100))
    assert len(th.candidate_ids("", many)) == th.MAX_LOOKUP


def test_reference_in_subject() -> None:
    assert th.reference_in("Re: invoice [#E42]") == 42
    assert th.reference_in("回复：发票 [#E7] [#E42]") == 42
    assert th.reference_in("invoice #E42") is None
    assert th.reference_in("") is None


def test_reply_subject_has_one_re_and_one_reference() -> None:
    assert th.reply_subject("Invoice", 5) == "Re: Invoice [#E5]"
    assert th.reply_subject("Re: RE: Invoice [#E5]", 5) == "Re: Invoice [#E5]"
    assert th.reply_subject("回复：发票问题", 9) == "Re: 发票问题 [#E9]"
    assert th.reply_subject("Aw: Fwd: x", 1) == "Re: x [#E1]"
    long = th.reply_subject("x" * 500, 123456)
    assert len(long) <= 200 and long.endswith("[#E123456]")


def test_chain_keeps_the_first_and_the_newest() -> None:
    ids = [f"<{i}@x>" for i in range(50)]
    out = th.chain(ids, limit=5)
    assert out == ["<0@x>", "<46@x>", "<47@x>", "<48@x>", "<49@x>"]
    assert th.chain(["<a@x>", "<a@x>", "bad id"]) == ["<a@x>"]


def test_our_message_id_is_stable_per_stored_message_and_not_guessable() -> None:
    one = th.our_message_id(12, "center.example", "<first@x>")
    assert one == th.our_message_id(12, "center.example", "<first@x>")
    assert one != th.our_message_id(13, "center.example", "<first@x>")
    assert one != th.our_message_id(12, "center.example", "<other@x>")
    assert th.new_message_id("x.example") != th.new_message_id("x.example")
    auto = th.new_message_id("x.example")
    raw = f"...Message-ID: {one}\r\nIn-Reply-To: {auto}\r\n<ccbox.5@x.example>".encode()
    assert th.our_ids_in(raw) == [one, auto]  # not the guessable form


# ---- routing --------------------------------------------------------------------------


def _r(id: int, kind: str, pattern: str, queue: int, account: int | None = None, pos: int = 0):
    return routing.Route(id, account, kind, pattern, queue, pos)


def test_route_sender_exact_and_domain() -> None:
    routes = [_r(1, "sender", "boss@big.example", 10), _r(2, "sender", "@big.example", 11)]
    pick = lambda s: routing.route(  # noqa: E731
        routes, account_id=1, default_queue_id=99, sender=s, subject="", text=""
    )[0]
    assert pick("Boss@Big.Example") == 10
    assert pick("clerk@big.example") == 11
    assert pick("x@sales.big.example") == 11
    assert pick("x@notbig.example") == 99
    assert pick("x@big.example.evil.test") == 99


def test_route_keywords_case_insensitive_and_chinese() -> None:
    routes = [_r(1, "keyword", "Refund", 20), _r(2, "keyword", "发票", 21)]
    pick = lambda subject, text: routing.route(  # noqa: E731
        routes,
        account_id=1,
        default_queue_id=None,
        sender="a@b.example",
        subject=subject,
        text=text,
    )[0]
    assert pick("REFUND please", "") == 20
    assert pick("hello", "I want a refund.") == 20
    assert pick("请开发票", "") == 21
    assert pick("你好", "我需要发票") == 21
    assert pick("hello", "nothing") is None


def test_route_folds_only_the_kept_text_and_only_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """It runs on the reactor: a 25 MB mail folded for each of 40 keyword routes took
    seconds; now what the thread keeps of it, once."""
    folded: list[int] = []
    real = routing._fold

    def fold(text: str) -> str:
        folded.append(len(text or ""))
        return real(text)

    monkeypatch.setattr(routing, "_fold", fold)
    routes = [_r(i, "keyword", f"word{i}", 20) for i in range(40)]
    routes.append(_r(99, "keyword", "far away", 21))
    text = "x" * (routing.TEXT_MAX + 1000) + " far away"
    queue, _ = routing.route(
        routes, account_id=1, default_queue_id=None, sender="a@b.example", subject="hi", text=text
    )
    assert queue is None  # past what the thread keeps: not looked at
    assert sum(folded) <= routing.TEXT_MAX + 1000


def test_route_account_routes_before_global_then_position() -> None:
    routes = [
        _r(1, "keyword", "help", 30, None, 0),
        _r(2, "keyword", "help", 31, 7, 5),
        _r(3, "keyword", "help", 32, 7, 1),
        _r(4, "keyword", "help", 33, 8, 0),
    ]
    queue, chosen = routing.route(
        routes, account_id=7, default_queue_id=1, sender="a@b.example", subject="help", text=""
    )
    assert (queue, chosen and chosen.id) == (32, 3)
    queue, _ = routing.route(
        routes, account_id=9, default_queue_id=1, sender="a@b.example", subject="help", text=""
    )
    assert queue == 30


# ---- loops ----------------------------------------------------------------------------


def _mail(**kw: str) -> SimpleNamespace:
    base = dict(
        from_addr="customer@example.com",
        auto_submitted="",
        precedence="",
        list_id="",
        x_auto_response_suppress="",
        return_path="<customer@example.com>",
    )
    base.update(kw)
    return SimpleNamespace(**base)


def test_loops_answer_a_person() -> None:
    assert loops.no_auto_reply_reason(_mail(), ["help@center.example"]) is None
    assert loops.no_auto_reply_reason(_mail(auto_submitted="no"), []) is None
    assert loops.no_auto_reply_reason(_mail(return_path=""), []) is None


def test_loops_never_answer_machines_lists_or_ourselves() -> None:
    own = ["help@center.example"]
    refused = [
        _mail(auto_submitted="auto-replied"),
        _mail(auto_submitted="auto-generated; foo"),
        _mail(precedence="bulk"),
        _mail(precedence="Junk"),
        _mail(precedence="list"),
        _mail(list_id="<news.example.com>"),
        _mail(x_auto_response_suppress="OOF"),
        _mail(return_path="<>"),
        _mail(from_addr="MAILER-DAEMON@example.com"),
        _mail(from_addr="postmaster@example.com"),
        _mail(from_addr="noreply@example.com"),
        _mail(from_addr="no-reply@example.com"),
        _mail(from_addr="do-not-reply@example.com"),
        _mail(from_addr="Help@Center.Example"),
        _mail(from_addr=""),
    ]
    for mail in refused:
        assert loops.no_auto_reply_reason(mail, own), mail
    assert loops.no_auto_reply_reason(_mail(), own, "<mailto:unsub@example.com>")


def test_an_old_mail_is_stale() -> None:
    assert not loops.stale(None, NOW)
    assert not loops.stale(NOW - dt.timedelta(hours=23), NOW)
    assert loops.stale(NOW - dt.timedelta(days=2), NOW)
    assert loops.stale(dt.datetime(2020, 1, 1), NOW)  # a naive Date read as UTC


def test_flooding_threshold() -> None:
    assert not loops.flooding(loops.FLOOD_MAILS - 1)
    assert loops.flooding(loops.FLOOD_MAILS)


# ---- compose --------------------------------------------------------------------------


def _read(msg: EmailMessage) -> EmailMessage:
    got = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert isinstance(got, EmailMessage)
    return got


def test_guess_language() -> None:
    assert compose.guess_language("发票问题", "") == "zh"
    assert compose.guess_language("Invoice", "Hello there") == "en"
    assert compose.guess_language("Hi", "我想问一下") == "zh"


def test_auto_reply_headers_and_reference_in_chinese() -> None:
    msg = compose.auto_reply(
        sender=compose.Sender("help@center.example", "客服中心"),
        conversation_id=123,
        to_name="张三\r\nBcc: evil@x.example",
        to_addr="zhang@example.com",
        subject="发票问题",
        answered_id="<m1@example.com>",
        answered_refs=("<m0@example.com>",),
        message_id="<ccbox.a.1@center.example>",
        language="zh",
        custom_body="",
        translators=TRANSLATORS,
        now=NOW,
    )
    got = _read(msg)
    assert got["Auto-Submitted"] == "auto-replied"
    assert got["X-Auto-Response-Suppress"] == "All"
    assert got["In-Reply-To"] == "<m1@example.com>"
    assert got["References"] == "<m0@example.com> <m1@example.com>"
    assert got["Subject"] == "Re: 发票问题 [#E123]"
    assert got["Bcc"] is None
    assert got["To"].addresses[0].addr_spec == "zhang@example.com"
    assert "张三" in got["To"].addresses[0].display_name
    assert got["From"].addresses[0].display_name == "客服中心"
    body = got.get_content().replace("\r\n", "\n")
    assert "[#E123]" in body
    assert "Thank you" not in body  # the Chinese catalog's text


def test_auto_reply_in_english_with_the_admins_text() -> None:
    msg = compose.auto_reply(
        sender=compose.Sender("help@center.example", "Help"),
        conversation_id=5,
        to_name="Ann",
        to_addr="ann@example.com",
        subject="Invoice",
        answered_id="<m1@example.com>",
        answered_refs=(),
        message_id="<x@center.example>",
        language="en",
        custom_body="We are closed on Sundays.",
        translators=TRANSLATORS,
        now=NOW,
    )
    body = _read(msg).get_content().replace("\r\n", "\n")
    assert body.startswith("We are closed on Sundays.")
    assert "[#E5]" in body


def test_no_header_or_body_is_written_through_an_encoded_word() -> None:
    """The email package decodes an encoded word in a value it is given and (Python before
    3.11.10 / 3.12.5) writes the CR LF it decoded: a stranger's subject, name, file name or
    Message-ID would write our mail's headers and body."""
    word = "=?utf-8?q?x=0D=0AX-Evil:_1=0D=0A=0D=0AFake_body?="
    msg = compose.agent_reply(
        sender=compose.Sender("help@center.example", word),
        conversation_id=7,
        to_name=word,
        to_addr="ann@example.com",
        subject=word,
        text="the real text",
        in_reply_to=f"<{word}@example.com>",
        references=[f"<{word}@example.com>", "<m1@example.com>"],
        message_id="<ccbox.1.x@center.example>",
        quote="",
        now=NOW,
        files=[(word + ".png", "image/png", b"\x89PNG")],
    )
    wire = msg.as_bytes()
    assert b"\nX-Evil" not in wire and b"\nFake body" not in wire
    got = _read(msg)
    assert "X-Evil" not in got and got["In-Reply-To"] is None
    assert got["References"] == "<m1@example.com>"
    assert "\n" not in got["Subject"] and got["Subject"].endswith("[#E7]")
    assert got["To"].addresses[0].addr_spec == "ann@example.com"
    body = got.get_body(("plain",))
    assert body is not None and body.get_content().strip() == "the real text"
    [part] = list(got.iter_attachments())
    assert "\n" not in (part.get_filename() or "")


def test_agent_reply_keeps_the_thread_and_quotes() -> None:
    quote = compose.quoted("line one\n\nline two", "Ann", NOW, TRANSLATORS["en"])
    msg = compose.agent_reply(
        sender=compose.Sender("help@center.example", "Help"),
        conversation_id=5,
        to_name="Ann",
        to_addr="ann@example.com",
        subject="Re: Invoice [#E5]",
        text="Here it is.",
        in_reply_to="<m2@example.com>",
        references=["<m1@example.com>", "<a5@center.example>", "<m2@example.com>"],
        message_id="<ccbox.9@center.example>",
        quote=quote,
        now=NOW,
    )
    got = _read(msg)
    assert got["Subject"] == "Re: Invoice [#E5]"
    assert got["In-Reply-To"] == "<m2@example.com>"
    assert got["References"].split() == [
        "<m1@example.com>",
        "<a5@center.example>",
        "<m2@example.com>",
    ]
    assert got["Message-ID"] == "<ccbox.9@center.example>"
    assert got["Auto-Submitted"] is None
    body = got.get_content().replace("\r\n", "\n")
    assert body.startswith("Here it is.")
    assert "> line one\n>\n> line two" in body
    assert "Ann wrote:" in body


# ---- wiring ---------------------------------------------------------------------------


def test_the_master_builds_the_channel_after_the_engine_and_gives_it_to_the_web(
    tmp_path: Path,
) -> None:
    from twisted.internet.testing import MemoryReactorClock

    from acd.channels.email.service import EmailChannelService
    from appliance.config import parse
    from appliance.master import ApplianceMaster

    master = ApplianceMaster(parse(f"[ccbox]\ndata_dir = {tmp_path}\n"), MemoryReactorClock())
    names = [child.name for child in master]
    assert names.index("email") == names.index("channels") + 1  # started after, stopped before
    assert isinstance(master.email_channel, EmailChannelService)
    assert master.email_channel.channels is master.channels
    web = next(child for child in master if child.name == "web")
    assert web.ctx.email_channel is master.email_channel
    off = ApplianceMaster(
        parse(f"[ccbox]\ndata_dir = {tmp_path}\n[email]\nenabled = no\n"), MemoryReactorClock()
    )
    assert off.email_channel is None and "email" not in [c.name for c in off]
