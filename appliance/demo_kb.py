"""The demo center's knowledge base: what its agents answer, in Chinese and in English.

The demo center sells and supports broadband, mobile plans, TV and cloud storage (as the
survey's products in appliance/demo_campaign.py). Each topic is one article per language,
linked to the queues whose callers ask about it and to the sample flow's nodes that lead
there (ivr/sample_center.py), so the desk suggests it on those calls. The HTML is plain
(paragraphs, lists, emphasis) and goes through the KB's sanitizer like any article.
"""

# ruff: noqa: RUF001  (Chinese text keeps its own punctuation)
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

AUTHOR = "supervisor"  # the demo's logins (appliance/demo.py DEMO_USERS)
REVIEWER = "admin"

# (key, Chinese name, English name, parent key or "")
CATEGORIES: tuple[tuple[str, str, str, str], ...] = (
    ("tech", "技术支持", "Technical support", ""),
    ("broadband", "宽带", "Broadband", "tech"),
    ("phone", "固话", "Phone line", "tech"),
    ("billing", "账务", "Billing", ""),
    ("sales", "销售", "Sales", ""),
    ("care", "客户关怀", "Customer care", ""),
    ("rules", "服务规范", "Service rules", ""),
)


@dataclass(frozen=True)
class DemoArticle:
    """One article of the demo's knowledge base."""

    category: str  # a key of CATEGORIES
    lang: str  # "zh" or "en"
    title: str
    html: str
    tags: tuple[str, ...]
    queues: tuple[str, ...] = ()  # queue names whose calls get it suggested
    nodes: tuple[str, ...] = ()  # sample flow nodes whose callers get it suggested
    ticket_types: tuple[str, ...] = ()  # ticket types it answers


ARTICLES: tuple[DemoArticle, ...] = (
    # ---- broadband: no internet -----------------------------------------------------------
    DemoArticle(
        "broadband",
        "zh",
        "宽带无法上网：先检查光猫指示灯",
        "<p>客户反映宽带完全无法上网时，请按以下顺序排查，大多数问题在五分钟内可以解决。</p>"
        "<ol><li>请客户查看光猫（光纤调制解调器）上的指示灯：<strong>PON</strong> 灯常亮表示"
        "光路正常；<strong>LOS</strong> 灯红色闪烁表示光纤信号中断，需要派单上门。</li>"
        "<li>PON 灯正常时，请客户关闭光猫和路由器电源，等待 30 秒后先开光猫，"
        "两分钟后再开路由器。</li>"
        "<li>仍无法上网：在系统中查询该账户是否欠费停机（见《如何查询账单和余额》）。</li>"
        "<li>账户正常且重启无效：创建“故障”工单，优先级“高”，写明指示灯状态和重启结果。</li></ol>"
        "<p>同一小区多名客户同时报障时，很可能是区域故障：请查看坐席公告栏，并告知客户预计恢复时间。</p>",
        ("宽带", "断网", "光猫", "指示灯", "故障"),
        queues=("support",),
        nodes=("tech", "tech-queue"),
        ticket_types=("fault",),
    ),
    DemoArticle(
        "broadband",
        "en",
        "No internet: check the modem lights first",
        "<p>When a customer has no internet at all, go through these steps in order; most "
        "cases are solved within five minutes.</p>"
        "<ol><li>Ask the customer to look at the fibre modem's lights: a steady "
        "<strong>PON</strong> light means the fibre line is fine; a blinking red "
        "<strong>LOS</strong> light means the fibre signal is lost and a technician must "
        "visit.</li>"
        "<li>If PON is fine, have the customer switch off the modem and the router, wait 30 "
        "seconds, switch on the modem first and the router two minutes later.</li>"
        "<li>Still no internet: check whether the account is suspended for an unpaid bill "
        "(see <em>Reading a bill and the balance</em>).</li>"
        "<li>Account in order and the restart did not help: open a <em>fault</em> ticket "
        "with priority <em>high</em>, noting the lights and what the restart did.</li></ol>"
        "<p>Several customers of one neighbourhood at once usually means an area outage: "
        "check the notices bar on the desk and tell the customer when service should be "
        "back.</p>",
        ("broadband", "no internet", "modem", "lights", "outage"),
        queues=("support",),
        nodes=("tech", "tech-queue"),
        ticket_types=("fault",),
    ),
    # ---- broadband: slow Wi-Fi ------------------------------------------------------------
    DemoArticle(
        "broadband",
        "zh",
        "网速慢或 Wi-Fi 信号差怎么办",
        "<p>先区分是宽带本身慢还是无线信号差：请客户用网线直连电脑测速。</p>"
        "<ul><li>有线测速达到套餐带宽的 80% 以上：问题在 Wi-Fi。建议把路由器放在房屋中央、"
        "离开地面和金属物体，优先连接 5G 频段；大户型可推荐我们的 Mesh 组网套装。</li>"
        "<li>有线测速也明显偏低：请客户重启光猫，并在晚高峰以外的时段再测一次。"
        "连续两次低于 50% 时，创建“故障”工单并附上测速结果。</li>"
        "<li>老旧路由器（不支持 802.11ac）无法跑满 300M 以上的套餐，"
        "可介绍路由器升级优惠。</li></ul>",
        ("网速慢", "Wi-Fi", "无线", "路由器", "测速"),
        queues=("support",),
        nodes=("tech",),
        ticket_types=("fault", "inquiry"),
    ),
    DemoArticle(
        "broadband",
        "en",
        "Slow internet or weak Wi-Fi",
        "<p>First tell a slow line from weak Wi-Fi: ask the customer to run a speed test on a "
        "computer plugged into the router with a cable.</p>"
        "<ul><li>The wired test reaches 80% or more of the plan's speed: the problem is the "
        "Wi-Fi. Suggest placing the router in the middle of the home, off the floor and away "
        "from metal, and using the 5 GHz network; for large homes offer our mesh kit.</li>"
        "<li>The wired test is clearly low too: have the customer restart the modem and test "
        "again outside the evening peak. Below 50% twice: open a <em>fault</em> ticket with "
        "the results.</li>"
        "<li>Old routers (no 802.11ac) cannot carry plans above 300 Mbit/s: mention the router "
        "upgrade offer.</li></ul>",
        ("slow", "wifi", "wireless", "router", "speed test"),
        queues=("support",),
        nodes=("tech",),
        ticket_types=("fault", "inquiry"),
    ),
    # ---- phone line -----------------------------------------------------------------------
    DemoArticle(
        "phone",
        "zh",
        "固定电话没有拨号音",
        "<p>固话摘机无拨号音时：</p>"
        "<ol><li>请客户换一部电话机、换一根电话线直接插在入户接口上试。</li>"
        "<li>仍无拨号音：查询账户是否停机；光纤入户的固话经光猫的 PHONE 口接入，"
        "请客户确认光猫 PHONE 灯是否亮起。</li>"
        "<li>PHONE 灯不亮：按《宽带无法上网》的方法重启光猫。</li>"
        "<li>以上都正常仍无拨号音：创建“故障”工单，约定上门时间，并留下客户的手机号码以便联系。</li></ol>",
        ("固话", "拨号音", "电话", "故障"),
        queues=("support",),
        nodes=("tech",),
        ticket_types=("fault",),
    ),
    DemoArticle(
        "phone",
        "en",
        "No dial tone on the landline",
        "<p>When the landline has no dial tone:</p>"
        "<ol><li>Ask the customer to try another handset and another cord, plugged straight "
        "into the wall socket.</li>"
        "<li>Still nothing: check that the account is not suspended; on fibre the phone line "
        "runs through the modem's PHONE port, so ask whether the modem's PHONE light is "
        "on.</li>"
        "<li>PHONE light off: restart the modem as in <em>No internet: check the modem "
        "lights first</em>.</li>"
        "<li>All of that in order and still no tone: open a <em>fault</em> ticket, agree on a "
        "visit, and note a mobile number to reach the customer.</li></ol>",
        ("landline", "dial tone", "phone", "fault"),
        queues=("support",),
        nodes=("tech",),
        ticket_types=("fault",),
    ),
    # ---- billing: reading a bill ----------------------------------------------------------
    DemoArticle(
        "billing",
        "zh",
        "如何查询账单和余额",
        "<p>核实身份后（见《核实来电客户身份》），可以在客户资料中查看最近 12 个月的账单。</p>"
        "<ul><li>账单日为每月 1 日，最后缴费日为每月 20 日。</li>"
        "<li>账单包括：套餐月费、超出套餐的通话和流量、增值业务、上月欠费和滞纳金。</li>"
        "<li>客户也可以自助查询：拨打服务热线按 1 再按 1，输入账户号码即可听到余额；"
        "按 2 再按 1 可把最新账单以短信发送到登记的手机。</li>"
        "<li>客户对某一项费用有疑问，请逐项说明；确认计费有误时，创建“投诉”工单转账务复核，"
        "不要口头承诺退款金额。</li></ul>",
        ("账单", "余额", "查询", "缴费日"),
        queues=("billing",),
        nodes=("billing", "billing-queue", "accounts"),
        ticket_types=("inquiry", "complaint"),
    ),
    DemoArticle(
        "billing",
        "en",
        "Reading a bill and the balance",
        "<p>Once the caller is verified (see <em>Verifying the caller</em>), the customer's "
        "last 12 bills are in their record.</p>"
        "<ul><li>Bills are issued on the 1st of the month and due on the 20th.</li>"
        "<li>A bill lists the plan's monthly fee, calls and data beyond the plan, add-on "
        "services, any unpaid amount from last month and the late fee.</li>"
        "<li>Customers can help themselves: on the service line press 1 then 1 and key in "
        "the account number to hear the balance; press 2 then 1 to get the latest bill by "
        "text message.</li>"
        "<li>When a customer questions a charge, explain it line by line; if it really is "
        "wrong, open a <em>complaint</em> ticket for billing to review, and never promise a "
        "refund amount on the phone.</li></ul>",
        ("bill", "balance", "charges", "due date"),
        queues=("billing",),
        nodes=("billing", "billing-queue", "accounts"),
        ticket_types=("inquiry", "complaint"),
    ),
    # ---- billing: paying ------------------------------------------------------------------
    DemoArticle(
        "billing",
        "zh",
        "缴费方式与停机复机",
        "<p>支持的缴费方式：微信、支付宝、银行代扣、营业厅现金，"
        "以及电话自助缴费（主菜单按 2 再按 2）。</p>"
        "<ul><li>超过最后缴费日未缴费，每日收取欠费金额 0.1% 的滞纳金；欠费满 30 天暂停服务。</li>"
        "<li>缴清欠费后系统在 2 小时内自动复机；超过 2 小时未恢复，请创建“故障”工单。</li>"
        "<li>坐席<strong>不得</strong>在电话中记录客户的银行卡号或支付密码：需要时转到电话自助缴费线路，"
        "并暂停录音。</li></ul>",
        ("缴费", "支付", "停机", "复机", "滞纳金"),
        queues=("billing",),
        nodes=("billing", "pay-line"),
        ticket_types=("inquiry",),
    ),
    DemoArticle(
        "billing",
        "en",
        "Ways to pay, and service after an unpaid bill",
        "<p>Customers pay by WeChat Pay, Alipay, bank direct debit, cash at a shop, or on the "
        "phone (main menu: press 2, then 2).</p>"
        "<ul><li>After the due date a late fee of 0.1% of the unpaid amount is added each day; "
        "after 30 days unpaid the service is suspended.</li>"
        "<li>Once the bill is paid, service comes back on its own within 2 hours; if it does "
        "not, open a <em>fault</em> ticket.</li>"
        "<li>Agents <strong>never</strong> take card numbers or payment passwords on the "
        "phone: transfer the caller to the pay-by-phone line and pause the recording.</li>"
        "</ul>",
        ("payment", "pay", "suspended", "late fee", "direct debit"),
        queues=("billing",),
        nodes=("billing", "pay-line"),
        ticket_types=("inquiry",),
    ),
    # ---- billing: refunds -----------------------------------------------------------------
    DemoArticle(
        "billing",
        "zh",
        "退费规则",
        "<p>以下情况可以退费，退回原支付渠道，7 个工作日内到账：</p>"
        "<ul><li>重复缴费或多缴费用。</li><li>经核实的计费错误。</li>"
        "<li>区域故障连续超过 24 小时：按天折算当月月费。</li></ul>"
        "<p>办理方式：创建“投诉”工单，类型字段选“退费”，写明金额和原因，由账务组审核。"
        "坐席可告知客户流程和时限，但金额以审核结果为准。</p>",
        ("退费", "退款", "重复缴费", "计费错误"),
        queues=("billing", "care"),
        nodes=("billing",),
        ticket_types=("complaint",),
    ),
    DemoArticle(
        "billing",
        "en",
        "Refunds",
        "<p>A refund is due in these cases; it goes back the way the customer paid, within 7 "
        "working days:</p>"
        "<ul><li>A bill paid twice, or paid too much.</li><li>A charge found to be wrong.</li>"
        "<li>An area outage longer than 24 hours: the month's fee for those days.</li></ul>"
        "<p>How: open a <em>complaint</em> ticket, with the amount and the reason; the billing "
        "team reviews it. Tell the customer the process and the time it takes, but the amount "
        "is what the review decides.</p>",
        ("refund", "money back", "overpaid", "wrong charge"),
        queues=("billing", "care"),
        nodes=("billing",),
        ticket_types=("complaint",),
    ),
    # ---- sales ----------------------------------------------------------------------------
    DemoArticle(
        "sales",
        "zh",
        "套餐介绍与升级",
        "<p>当前在售套餐（月费）：</p>"
        "<ul><li>宽带 300M：99 元；宽带 1000M：169 元，含 Wi-Fi 6 路由器。</li>"
        "<li>家庭融合套餐：1000M 宽带 + 两张手机卡（每张 30GB 流量、500 分钟通话）"
        "+ 电视，199 元。</li>"
        "<li>云存储 1TB：15 元，融合套餐客户免费。</li></ul>"
        "<p>升级当天生效，月费按天折算；降级下月 1 日生效。合约期内的客户升级不收违约金，"
        "降级或提前解约需按合约收取。推荐时先了解客户的家庭人数和使用习惯，再介绍最合适的一款。</p>",
        ("套餐", "升级", "融合", "价格", "宽带"),
        queues=("sales",),
        nodes=("sales-hours", "sales-queue"),
        ticket_types=("sales",),
    ),
    DemoArticle(
        "sales",
        "en",
        "Plans and upgrades",
        "<p>The plans on sale (monthly fee):</p>"
        "<ul><li>Broadband 300 Mbit/s: 99 yuan; broadband 1 Gbit/s: 169 yuan, with a Wi-Fi 6 "
        "router.</li>"
        "<li>Family bundle: 1 Gbit/s broadband, two mobile SIMs (30 GB data and 500 minutes "
        "each) and TV, 199 yuan.</li>"
        "<li>Cloud storage 1 TB: 15 yuan, free with the family bundle.</li></ul>"
        "<p>An upgrade starts the same day, the fee counted by days; a downgrade starts on the "
        "1st of next month. Upgrades during a contract cost nothing; downgrades or leaving "
        "early cost what the contract says. Ask about the household and how they use the "
        "service before suggesting the plan that fits.</p>",
        ("plan", "upgrade", "bundle", "price", "broadband"),
        queues=("sales",),
        nodes=("sales-hours", "sales-queue"),
        ticket_types=("sales",),
    ),
    # ---- sales: installation and moving ---------------------------------------------------
    DemoArticle(
        "sales",
        "zh",
        "新装宽带与移机",
        "<p>新装：核实地址在覆盖范围内后创建“销售”工单，约定上门时间（最早次日，周末可约）。"
        "装机师傅上门前一小时电话联系客户。</p>"
        "<p>移机（搬家）：请客户提前 5 个工作日办理，新地址在覆盖范围内免收移机费；"
        "原号码、原套餐和合约保持不变。新地址不在覆盖范围内时，可免违约金解约。</p>",
        ("新装", "装机", "移机", "搬家", "预约"),
        queues=("sales", "support"),
        nodes=("sales-queue",),
        ticket_types=("sales",),
    ),
    DemoArticle(
        "sales",
        "en",
        "New broadband and moving house",
        "<p>New line: check that the address is covered, open a <em>sales</em> ticket and "
        "agree on a visit (next day at the earliest, weekends too). The technician calls the "
        "customer an hour before arriving.</p>"
        "<p>Moving house: customers ask 5 working days ahead; moving is free when the new "
        "address is covered, and the number, plan and contract stay as they are. When the new "
        "address is not covered, the customer may leave the contract without a fee.</p>",
        ("installation", "new line", "moving", "move house", "appointment"),
        queues=("sales", "support"),
        nodes=("sales-queue",),
        ticket_types=("sales",),
    ),
    # ---- customer care: complaints --------------------------------------------------------
    DemoArticle(
        "care",
        "zh",
        "投诉处理流程与时限",
        "<p>接到投诉时：</p>"
        "<ol><li>耐心听完，不打断，不争辩；复述客户的诉求并确认。</li>"
        "<li>能当场解决的当场解决；不能的，创建“投诉”工单，写清事实、客户诉求和已做的处理。</li>"
        "<li>告知客户时限：24 小时内回电，3 个工作日内给出处理结果。</li>"
        "<li>VIP 和大客户的投诉优先级设为“紧急”，由班长当天跟进。</li></ol>"
        "<p>客户在语音菜单按 8 留下的投诉录音会自动生成工单，由客户关怀组回电。</p>",
        ("投诉", "处理流程", "时限", "回电"),
        queues=("care",),
        nodes=("complaint",),
        ticket_types=("complaint",),
    ),
    DemoArticle(
        "care",
        "en",
        "Handling a complaint: steps and time limits",
        "<p>When a customer complains:</p>"
        "<ol><li>Listen to the end without interrupting or arguing; repeat the request back "
        "and confirm it.</li>"
        "<li>Solve it on the call when you can; otherwise open a <em>complaint</em> ticket "
        "with the facts, what the customer asks for and what you did.</li>"
        "<li>Tell the customer the time limits: a call back within 24 hours, an answer within "
        "3 working days.</li>"
        "<li>Complaints from VIP and key-account customers get priority <em>urgent</em>; a "
        "supervisor follows them up the same day.</li></ol>"
        "<p>A complaint left as a message in the menu (key 8) becomes a ticket by itself, and "
        "customer care calls back.</p>",
        ("complaint", "escalation", "time limit", "call back"),
        queues=("care",),
        nodes=("complaint",),
        ticket_types=("complaint",),
    ),
    # ---- service rules --------------------------------------------------------------------
    DemoArticle(
        "rules",
        "zh",
        "核实来电客户身份",
        "<p>涉及账户信息（余额、账单、套餐变更、密码）前，必须核实身份：</p>"
        "<ul><li>来电号码是客户资料中登记的号码，并能说出账户号码；或</li>"
        "<li>说出身份证号码后四位和登记地址。</li></ul>"
        "<p>核实不通过：只能提供公开信息（套餐价格、营业厅地址），不得透露任何账户信息。"
        "不要通过短信或邮件发送客户的个人资料。</p>",
        ("核实身份", "安全", "账户信息", "隐私"),
        queues=("support", "billing", "sales", "care"),
        ticket_types=("inquiry",),
    ),
    DemoArticle(
        "rules",
        "en",
        "Verifying the caller",
        "<p>Before any account detail (balance, bills, plan changes, passwords) the caller "
        "must be verified:</p>"
        "<ul><li>the call comes from a number on the customer's record and the caller knows "
        "the account number; or</li>"
        "<li>the caller gives the last four digits of their ID card and the registered "
        "address.</li></ul>"
        "<p>Not verified: give public information only (prices, shop addresses), nothing about "
        "the account. Never send personal data by text message or e-mail.</p>",
        ("verify", "identity", "security", "privacy"),
        queues=("support", "billing", "sales", "care"),
        ticket_types=("inquiry",),
    ),
    # ---- customer care: VIP ---------------------------------------------------------------
    DemoArticle(
        "care",
        "zh",
        "VIP 与大客户服务标准",
        "<p>弹屏显示 VIP 或大客户标记时：</p>"
        "<ul><li>用客户姓氏称呼，主动说明工号。</li>"
        "<li>故障工单优先级至少为“高”，上门时间优先安排在 4 小时内。</li>"
        "<li>大客户有专属客户经理：需要时在工单中指派给“大客户部”。</li>"
        "<li>通话结束后在备注中记录客户的偏好（联系时间、常用号码），方便下一位坐席。</li></ul>",
        ("VIP", "大客户", "服务标准", "优先"),
        queues=("support", "billing", "sales", "care"),
        ticket_types=("complaint", "fault"),
    ),
    DemoArticle(
        "care",
        "en",
        "Serving VIP and key-account customers",
        "<p>When the screen pop shows a VIP or key-account badge:</p>"
        "<ul><li>Address the customer by name and give your agent number.</li>"
        "<li>Fault tickets get priority <em>high</em> at least; a visit within 4 hours "
        "comes first.</li>"
        "<li>Key accounts have their own account manager: assign the ticket to the "
        "<em>Key accounts</em> department when needed.</li>"
        "<li>After the call, note the customer's preferences (when to call, which number) "
        "for the next agent.</li></ul>",
        ("VIP", "key account", "service standard", "priority"),
        queues=("support", "billing", "sales", "care"),
        ticket_types=("complaint", "fault"),
    ),
)


def seed(db: Any) -> int:
    """Categories, the articles published (written by the demo supervisor, approved by the
    admin) and their links to the demo's queues, the sample flow's nodes and ticket types,
    and a quiz on them for the support team; the number of articles made, 0 when the
    knowledge base has categories already."""
    from appliance.cli import resolved
    from appliance.kb.store import KBStore, flow_node_key
    from ivr import sample_center

    kb = KBStore(db)
    if resolved(kb.categories()):
        return 0
    queues = {q.name: q.id for q in resolved(db.queues.list_all())}
    ids: dict[str, int] = {}
    made: dict[str, int] = {}  # title -> article id
    for position, (key, zh, en, parent) in enumerate(CATEGORIES):
        ids[key] = resolved(kb.add_category(f"{zh} {en}", ids.get(parent), position))
    for a in ARTICLES:
        article_id = resolved(
            kb.create(AUTHOR, ids[a.category], a.title, a.html, a.lang, a.tags, role="supervisor")
        )
        links = [("queue", str(queues[q])) for q in a.queues if q in queues]
        links += [("flow_node", flow_node_key(sample_center.NAME, n)) for n in a.nodes]
        links += [("ticket_type", t) for t in a.ticket_types]
        resolved(kb.set_links(AUTHOR, "supervisor", article_id, links))
        resolved(kb.submit(AUTHOR, "supervisor", article_id))
        resolved(kb.approve(REVIEWER, "admin", article_id))
        made[a.title] = article_id
    _seed_quiz(db, made)
    return len(ARTICLES)


# The new agents' quiz: (the article a question is about, kind, text, options, correct).
QUIZ_TITLE = "新坐席培训：宽带故障与账务 New agents: broadband faults and billing"
QUIZ: tuple[tuple[str, str, str, tuple[str, ...], tuple[int, ...]], ...] = (
    (
        "宽带无法上网：先检查光猫指示灯",
        "single",
        "光猫 LOS 灯红色闪烁表示什么？ What does a blinking red LOS light mean?",
        (
            "光纤信号中断，需要上门 The fibre signal is lost: a technician visits",
            "一切正常 All is well",
            "账户欠费 The bill is unpaid",
        ),
        (0,),
    ),
    (
        "缴费方式与停机复机",
        "true_false",
        "坐席可以在电话中记下客户的银行卡号。 Agents may take card numbers on the phone.",
        (),
        (1,),
    ),
    (
        "如何查询账单和余额",
        "single",
        "每月的最后缴费日是几号？ On which day of the month is a bill due?",
        ("1 日 the 1st", "20 日 the 20th", "30 日 the 30th"),
        (1,),
    ),
    (
        "退费规则",
        "multiple",
        "哪些情况可以退费？ Which cases get a refund?",
        (
            "重复缴费 Paid twice",
            "经核实的计费错误 A charge found wrong",
            "客户改变主意 The customer changed their mind",
            "区域故障超过 24 小时 An area outage over 24 hours",
        ),
        (0, 1, 3),
    ),
    (
        "投诉处理流程与时限",
        "single",
        "投诉需要在多长时间内回电？ Within how long is a complaint called back?",
        ("1 小时 1 hour", "24 小时 24 hours", "3 个工作日 3 working days"),
        (1,),
    ),
)
QUIZ_DAYS = 7  # the support team has it to do within a week
QUIZ_TEAM = "Support"  # the demo agents' department (appliance/demo.py AGENTS)


def _seed_quiz(db: Any, articles: dict[str, int]) -> None:
    """The quiz, assigned to the support team (agent1001's desk gets it)."""
    import datetime as dt

    from appliance.cli import resolved
    from appliance.kb.training import QuestionDraft, TrainingStore

    training = TrainingStore(db)
    drafts = [
        QuestionDraft(articles[title], kind, text, options, correct)
        for title, kind, text, options, correct in QUIZ
    ]
    quiz_id = resolved(training.create_quiz(AUTHOR, QUIZ_TITLE, drafts))
    # the demo's queues take agents by skill: the team is the agents of its department
    team = [a.id for a in resolved(db.agents.list_all()) if a.department == QUIZ_TEAM]
    if team:
        due = dt.datetime.now(dt.UTC) + dt.timedelta(days=QUIZ_DAYS)
        resolved(training.assign(AUTHOR, quiz_id, due, agent_ids=team))
