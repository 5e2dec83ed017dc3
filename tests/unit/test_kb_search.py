"""Knowledge-base search on a fixture corpus (Chinese and English): the expected articles
come first on SQLite and on PostgreSQL alike, with highlighted, escaped snippets."""
# ruff: noqa: RUF001, E501  (Chinese punctuation and full-width letters are the point here)

from __future__ import annotations

from collections.abc import Iterator
from html import escape

import pytest

from appliance.cli import resolved
from appliance.db.connector import DBConnector
from appliance.kb import search, tokens
from appliance.kb.store import KBStore
from tests.conftest import BACKENDS, PG_URL
from tests.support.shared_db import migrated_connector

# key, language, title, body. Published, except the "draft:" ones.
CORPUS = [
    ("refund", "zh", "退款流程", "客户申请退款时，先核对订单号，再在后台提交退款申请。退款一般三个工作日到账。"),
    ("refund_time", "zh", "退款到账时间", "银行卡退款需要三到七个工作日，支付宝退款当天到账。"),
    ("invoice", "zh", "如何开具发票", "客户可以在订单完成后申请电子发票，发票抬头不能修改。"),
    ("password_zh", "zh", "重置登录密码", "在登录页点击忘记密码，输入手机号码获取验证码后设置新密码。"),
    ("wifi", "zh", "Wi-Fi 密码在哪里", "路由器背面的标签上印有默认 Wi-Fi 密码，也可以在管理页面修改。"),
    ("router", "zh", "路由器无法上网", "请先重启路由器和光猫，检查网线是否松动，再查看指示灯状态。"),
    ("vip", "zh", "ＶＩＰ 客户专线", "VIP 客户来电优先接入，专属坐席在五秒内应答。"),
    ("complaint", "zh", "投诉处理规范", "收到投诉后二十四小时内回访客户，记录处理结果并关闭工单。"),
    ("delivery", "zh", "快递配送范围", "全国大部分城市支持次日达，偏远地区需要三到五天。"),
    ("return", "zh", "七天无理由退货", "商品未拆封可在签收后七天内申请退货，退货运费由客户承担。"),
    ("account_zh", "zh", "注销账户", "注销账户前请先结清欠费，注销后数据无法恢复。"),
    ("bill", "zh", "话费账单查询", "登录网上营业厅即可查询近六个月的话费账单和通话详单。"),
    ("package", "zh", "套餐变更", "套餐变更次月生效，当月只能变更一次。"),
    ("roaming", "zh", "国际漫游开通", "出国前拨打客服热线或在营业厅开通国际漫游，资费按目的地计算。"),
    ("shop", "zh", "营业厅营业时间", "营业厅每天九点到晚上六点营业，节假日照常。"),
    ("refund_en", "en", "Refund policy", "Refunds are processed within seven working days after the return is received."),
    ("refund_card", "en", "Refunding a card payment", "A card payment is refunded to the same card. Banks may take a few days to show the refund."),
    ("password_en", "en", "Reset your password", "Open the login page, choose Forgot password and follow the link we e-mail you."),
    ("two_factor", "en", "Two-factor authentication", "Turn on two-factor authentication in the security settings to protect your account."),
    ("router_en", "en", "Router keeps disconnecting", "Restart the router, move it away from the microwave and update its firmware."),
    ("wifi_en", "en", "Changing the Wi-Fi password", "Log in to the router's admin page and change the wireless password under Security."),
    ("delivery_en", "en", "Delivery times", "Orders ship the next working day; remote areas take three to five days."),
    ("invoice_en", "en", "Getting an invoice", "Invoices are e-mailed as PDF once the order is complete."),
    ("complaint_en", "en", "Handling a complaint", "Call the customer back within 24 hours and record what was done."),
    ("cancel", "en", "Cancelling a subscription", "Subscriptions can be cancelled any time; the current month is still billed."),
    ("roaming_en", "en", "Roaming abroad", "Turn on roaming before you travel; prices depend on the country."),
    ("billing_hours", "en", "Billing hours", "The billing team answers calls from 9:00 to 18:00 on working days."),
    ("escape", "en", "Angle <brackets> & ampersands", "Type <script> into a field & see it escaped."),
    ("draft:refund", "en", "Refund secret draft", "Refunds refunds refunds: not reviewed yet."),
    ("draft:密码", "zh", "密码草稿", "密码密码密码，尚未审核。"),
]  # fmt: skip

# query -> the articles expected first, in order; a set: these, in any order (articles that
# say it equally: title against title, body against body).
EXPECTED_TOP: dict[str, list[str | set[str]]] = {
    "退款": [{"refund", "refund_time"}],  # both titles say it
    "退款流程": ["refund"],
    "到账": ["refund_time", "refund"],  # the title first, then the body
    "密码": [{"password_zh", "wifi"}],
    "重置密码": [],  # no article holds 重置 and 置密: bigrams keep the phrase together
    "路由器": ["router", "wifi"],
    "ＶＩＰ": ["vip"],  # full-width letters are the ASCII ones
    "vip 专线": ["vip"],
    "发票": ["invoice"],
    "票": ["invoice"],  # one character: the character
    "工作日": ["refund_time", "refund"],
    "refund": [{"refund_en", "refund_card"}],
    "Refunding": [{"refund_en", "refund_card"}],  # stems: refunding, refunds, refund
    "password": [{"password_en", "wifi_en"}],
    "wi-fi password": ["wifi_en"],
    "Wi-Fi 密码": ["wifi"],
    "router": ["router_en", "wifi_en"],
    "router firmware": ["router_en"],
    "working days": [{"billing_hours", "delivery_en", "refund_en"}],
    "invoices": ["invoice_en"],
    "<script>": ["escape"],
    "nothing-here 无此内容": [],
}


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def db(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DBConnector]:
    """One database per backend for the module: the tests only search the corpus."""
    with migrated_connector(backend, tmp_path_factory.mktemp("kb-search"), PG_URL) as connector:
        yield connector


@pytest.fixture(scope="module")
def corpus(db: DBConnector) -> tuple[KBStore, dict[str, int], dict[int, str]]:
    kb = KBStore(db)
    cat = resolved(kb.add_category("All"))
    ids: dict[str, int] = {}
    for key, lang, title, body in CORPUS:
        article = resolved(kb.create("ann", cat, title, f"<p>{escape(body)}</p>", lang))
        ids[key] = article
        if not key.startswith("draft:"):
            resolved(kb.submit("ann", "agent", article))
            resolved(kb.approve("sue", "supervisor", article))
    return kb, ids, {v: k for k, v in ids.items()}


def _starts_with(found: list[str], top: list[str | set[str]]) -> bool:
    if not top:
        return not found
    at = 0
    for group in top:
        want = {group} if isinstance(group, str) else group
        if set(found[at : at + len(want)]) != want:
            return False
        at += len(want)
    return True


def test_expected_articles_come_first_in_chinese_and_english(
    corpus: tuple[KBStore, dict[str, int], dict[int, str]],
) -> None:
    kb, _ids, keys = corpus
    found = {q: [keys[h.article_id] for h in resolved(kb.search(q))] for q in EXPECTED_TOP}
    wrong = {q: found[q] for q, top in EXPECTED_TOP.items() if not _starts_with(found[q], top)}
    assert wrong == {}
    # the same articles on both databases: exactly those holding every token of the query
    published = [c for c in CORPUS if not c[0].startswith("draft:")]
    for query, keys_found in found.items():
        wanted = set(tokens.query_tokens(query))
        holding = {
            key
            for key, _lang, title, body in published
            if wanted and wanted <= set(tokens.document_tokens(f"{title} {body}"))
        }
        assert set(keys_found) == holding, query
    # drafts are only an editor's, and the language filter keeps to one language
    editors = [keys[h.article_id] for h in resolved(kb.search("密码", published_only=False))]
    assert editors[0] == "draft:密码" and "draft:密码" not in found["密码"]
    english = [keys[h.article_id] for h in resolved(kb.search("refund", lang="en"))]
    assert "draft:refund" not in english and english[:2] == ["refund_en", "refund_card"]
    assert resolved(kb.search("退款", lang="en")) == []
    assert resolved(kb.search("")) == [] and resolved(kb.search("  ,;  ")) == []


def test_snippets_are_escaped_and_a_common_word_ranks_its_newest_articles(
    corpus: tuple[KBStore, dict[str, int], dict[int, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    kb, ids, keys = corpus
    [hit] = resolved(kb.search("退款流程"))
    assert hit.title == "退款流程" and hit.lang == "zh"
    assert "<mark>退款</mark>" in hit.snippet_html
    [hit] = resolved(kb.search("<script>"))
    assert hit.article_id == ids["escape"]
    assert hit.snippet_html == "Type &lt;<mark>script</mark>&gt; into a field &amp; see it escaped."
    [hit] = resolved(kb.search("firmware"))
    assert "update its <mark>firmware</mark>" in hit.snippet_html
    hits = resolved(kb.search("refunds"))
    assert "<mark>Refunds</mark> are processed" in hits[0].snippet_html
    assert hits[0].score >= hits[1].score > 0
    # a word in more articles than search.CANDIDATES: the best of the newest that many
    everything = {keys[h.article_id] for h in resolved(kb.search("天"))}
    assert everything == {"refund_time", "delivery", "return", "shop"}
    monkeypatch.setattr(search, "CANDIDATES", 2)
    assert {keys[h.article_id] for h in resolved(kb.search("天"))} == {"return", "shop"}
