"""Search tokens and snippets, without a database: what both databases index and match,
and what a hit shows."""
# ruff: noqa: RUF001  (full-width letters are the point here)

from __future__ import annotations

from appliance.kb import tokens
from appliance.kb.snippets import highlight


def test_chinese_runs_are_bigrams_and_characters_words_are_stems() -> None:
    assert tokens.document_tokens("退款流程") == ["退", "退款", "款", "款流", "流", "流程", "程"]
    assert tokens.query_tokens("退款流程") == ["退款", "款流", "流程"]
    assert tokens.query_tokens("退") == ["退"]
    assert tokens.query_tokens("Refunds REFUNDING refund") == ["refund"]
    # full-width letters and digits are the ASCII ones; punctuation and _ separate words
    assert tokens.query_tokens("ＶＩＰ１２３ wi-fi snake_case") == [
        "vip123",
        "wi",
        "fi",
        "snake",
        "case",
    ]
    assert tokens.query_tokens("Wi-Fi密码") == ["wi", "fi", "密码"]
    assert tokens.query_tokens("<script>'; DROP TABLE x;--") == ["script", "drop", "tabl", "x"]
    assert tokens.query_tokens(" ,;。、 ") == []


def test_tokens_are_bounded_and_only_letters_and_digits() -> None:
    text = "词" * 20000 + " " + "a" * 100
    doc = tokens.document_tokens(text)
    assert len(doc) == tokens.MAX_TOKENS
    assert len(tokens.query_tokens("x" * 500)[0]) == tokens.MAX_WORD
    assert len(tokens.query_tokens(" ".join(f"w{i}" for i in range(100)))) == 32
    assert all(t.isalnum() for t in tokens.document_tokens("a.b-c_d 'e' \"f\" 合同。条款"))


def test_snippets_escape_everything_and_mark_whole_matches() -> None:
    text = "Intro <img src=x onerror=alert(1)> & more.\n退款流程：先核对订单号。Refunds take days."
    out = highlight(text, "退款流程 refund")
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; more." in out
    assert "<mark>退款流程</mark>" in out and "<mark>Refunds</mark>" in out
    assert "<img" not in out and "\n" not in out
    # a word is marked whole, not inside another word; a match is never cut
    assert highlight("prerefund refunding", "refund") == "prerefund <mark>refunding</mark>"
    long = "a " * 200 + "the refund policy " + "b " * 200
    out = highlight(long, "refund", width=40)
    assert out.startswith("…") and out.endswith("…") and "<mark>refund</mark>" in out
    assert highlight("nothing here", "absent") == "nothing here"
