"""The demo center's customers and work orders, so the desk pops a real record from the first
call: customers (some VIP or key accounts, several numbers each, custom fields), open tickets
in several states (one falls overdue minutes after the demo starts and escalates on the
board), the SLA rules they follow, and the knowledge base (appliance/demo_kb.py).

The numbers are those the demo's callers use: the history's frequent callers
(appliance/demo_history.py numbers its callers 138 and a Zipf-drawn serial, so 13800000001
calls the most) and ``CALLERS``, which the live traffic (appliance/demo.py) dials from now
and then. Seeded once, like the rest of the demo: nothing is added when customers exist.
"""

# ruff: noqa: RUF001  (Chinese text keeps its own punctuation)
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ACTOR = "demo"


@dataclass(frozen=True)
class DemoCustomer:
    name: str
    customer_class: str
    numbers: tuple[str, ...]
    account: str = ""
    email: str = ""
    note: str = ""
    fields: dict[str, str] = field(default_factory=dict)


# The customers' own fields (key, label, kind, choices).
FIELDS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    (
        "plan",
        "Plan 套餐",
        "choice",
        ("宽带 300M", "宽带 1000M", "家庭融合 Family bundle", "企业专线 Business line"),
    ),
    ("district", "District 区域", "text", ()),
    ("contract_end", "Contract ends 合约到期", "date", ()),
    ("devices", "Devices 设备数", "number", ()),
)

CUSTOMERS: tuple[DemoCustomer, ...] = (
    DemoCustomer(
        "王建国 Wang Jianguo",
        "vip",
        ("13800000001", "010-6552 8888"),
        account="100001",
        email="wang.jianguo@example.com",
        note="喜欢下午联系 Prefers calls after 14:00",
        fields={
            "plan": "家庭融合 Family bundle",
            "district": "朝阳区 Chaoyang",
            "contract_end": "2027-06-30",
            "devices": "6",
        },
    ),
    DemoCustomer(
        "李娜 Li Na",
        "normal",
        ("13800000002",),
        account="100002",
        email="lina@example.com",
        fields={"plan": "宽带 300M", "district": "海淀区 Haidian", "contract_end": "2027-01-31"},
    ),
    DemoCustomer(
        "北京星河科技有限公司 Xinghe Tech",
        "key_account",
        ("13800000003", "010-6500 1234", "13911110003"),
        account="200003",
        email="it@xinghe.example.com",
        note="客户经理：周强 Account manager: Zhou Qiang",
        fields={
            "plan": "企业专线 Business line",
            "district": "东城区 Dongcheng",
            "contract_end": "2028-12-31",
            "devices": "120",
        },
    ),
    DemoCustomer(
        "陈杰 Chen Jie",
        "normal",
        ("13800000004", "13912345001"),
        account="100004",
        fields={"plan": "宽带 1000M", "district": "西城区 Xicheng"},
    ),
    DemoCustomer(
        "Emily Zhang 张艾米",
        "vip",
        ("13800000005",),
        account="100005",
        email="emily.zhang@example.com",
        note="English please",
        fields={"plan": "家庭融合 Family bundle", "district": "朝阳区 Chaoyang", "devices": "4"},
    ),
    DemoCustomer(
        "刘芳 Liu Fang", "normal", ("13800000006",), account="100006", fields={"plan": "宽带 300M"}
    ),
    DemoCustomer("赵强 Zhao Qiang", "normal", ("13800000007", "010-8888 7777"), account="100007"),
    DemoCustomer(
        "上海云帆物流 Yunfan Logistics",
        "key_account",
        ("13800000008", "021-5888 1234"),
        account="200008",
        email="ops@yunfan.example.com",
        fields={"plan": "企业专线 Business line", "district": "浦东新区 Pudong", "devices": "45"},
    ),
    DemoCustomer(
        "Sarah Lee",
        "normal",
        ("13800000009",),
        account="100009",
        email="sarah.lee@example.com",
        fields={"plan": "宽带 1000M"},
    ),
    DemoCustomer(
        "孙伟 Sun Wei",
        "vip",
        ("13800000010", "13912345010"),
        account="100010",
        fields={"plan": "家庭融合 Family bundle", "contract_end": "2027-03-31"},
    ),
    DemoCustomer("周敏 Zhou Min", "normal", ("13912345011",), account="100011"),
    DemoCustomer(
        "Tom Walker", "normal", ("13912345012",), account="100012", email="tom.walker@example.com"
    ),
)
# The numbers the live demo's callers take now and then (one caller in three): every
# customer's first mobile number.
CALLERS: tuple[str, ...] = tuple(c.numbers[0] for c in CUSTOMERS)
CALLER_SHARE = 0.35


@dataclass(frozen=True)
class DemoTicket:
    customer: int  # index into CUSTOMERS
    type_key: str
    subject: str
    body: str
    priority: str
    state: str  # where it is now: new, accepted, dispatched, in_progress
    assign: tuple[str, str] | None = None  # (kind, target)
    due_in_minutes: int | None = None  # None: from the SLA rule


TICKETS: tuple[DemoTicket, ...] = (
    DemoTicket(
        0,
        "fault",
        "宽带频繁掉线 Broadband keeps dropping",
        "客户反映每天晚上 8 点后频繁掉线，已重启光猫两次无效。PON 灯正常。",
        "high",
        "dispatched",
        ("queue", "support"),
        # the one that falls overdue soon after the demo starts, and escalates
        due_in_minutes=3,
    ),
    DemoTicket(
        2,
        "fault",
        "企业专线中断 Business line down",
        "东城区办公室专线中断，影响 120 台设备。需要 4 小时内上门。",
        "urgent",
        "in_progress",
        ("department", "Support"),
    ),
    DemoTicket(
        0,
        "complaint",
        "账单重复扣费 Charged twice",
        "11 月账单重复扣费 169 元，客户要求退费。",
        "normal",
        "accepted",
        ("queue", "billing"),
    ),
    DemoTicket(
        4,
        "sales",
        "升级 1000M 宽带 Upgrade to 1 Gbit/s",
        "Customer asks for the 1 Gbit/s upgrade and a Wi-Fi 6 router; call back on Saturday.",
        "normal",
        "new",
    ),
    DemoTicket(
        7,
        "inquiry",
        "发票抬头变更 Invoice title change",
        "需要把发票抬头改为“上海云帆物流有限公司”。",
        "low",
        "new",
        ("queue", "billing"),
    ),
    DemoTicket(
        9,
        "complaint",
        "装机师傅迟到 Technician came late",
        "约定上午 10 点上门，实际 12 点才到，客户不满意。",
        "high",
        "new",
        ("queue", "care"),
    ),
)

# The demo's SLA rules beside the defaults: faults and complaints of VIP weight are answered
# fast, and an overdue one goes to the supervisors, then up a priority, then to care.
SLA_RULES: tuple[tuple[str, str, int, int, list[dict[str, Any]]], ...] = (
    (
        "fault",
        "high",
        15,
        240,
        [
            {"after": 0, "action": "notify"},
            {"after": 30, "action": "raise_priority"},
        ],
    ),
    (
        "complaint",
        "high",
        15,
        480,
        [
            {"after": 0, "action": "notify"},
            {"after": 60, "action": "reassign", "kind": "queue", "target": "care"},
        ],
    ),
)


# How long ago each ticket was opened (minutes), when its due date is the SLA rule's.
OPENED_AGO = (None, 60, 180, 30, 1500, 20)


def seed(db: Any, now: dt.datetime | None = None) -> int:
    """The customer fields, customers, SLA rules and tickets (see the module docstring); the
    number of customers made, 0 when the box has customers already."""
    from appliance.cli import resolved
    from appliance.crm.customer_store import CustomerStore
    from appliance.crm.field_admin import FieldAdmin
    from appliance.crm.fields import FieldDef
    from appliance.crm.tickets.catalog import TicketCatalog
    from appliance.crm.tickets.store import TicketStore

    customers = CustomerStore(db)
    if resolved(customers.search("", limit=1)):
        return 0
    now = now or dt.datetime.now(dt.UTC)
    fields = FieldAdmin(db)
    for position, (key, label, kind, choices) in enumerate(FIELDS):
        resolved(fields.save(ACTOR, None, FieldDef(key, label, kind, choices), position))
    ids = [
        resolved(
            customers.create(
                ACTOR,
                c.name,
                c.numbers,
                customer_class=c.customer_class,
                email=c.email,
                account=c.account,
                note=c.note,
                fields=c.fields,
            )
        )
        for c in CUSTOMERS
    ]
    catalog = TicketCatalog(db)
    for type_key, priority, respond, resolve, steps in SLA_RULES:
        resolved(catalog.save_rule(type_key, priority, respond, resolve, steps))
    resolves = {(t, p): r for t, p, _, r, _ in SLA_RULES}
    for ticket, ago in zip(TICKETS, OPENED_AGO, strict=True):
        if ticket.due_in_minutes is not None:  # opened so long ago that it falls due then
            ago = resolves[(ticket.type_key, ticket.priority)] - ticket.due_in_minutes
        opened = now - dt.timedelta(minutes=ago or 0)
        _open(TicketStore(db, clock=_at(opened)), ticket, ids[ticket.customer])
    return len(ids)


def _at(moment: dt.datetime) -> Callable[[], dt.datetime]:
    """A clock stopped at ``moment`` (the ticket is opened then)."""
    return lambda: moment


def _open(store: Any, ticket: DemoTicket, customer_id: int) -> None:
    """The ticket opened by the supervisor at the store's clock, and moved to its state."""
    from appliance.cli import resolved

    ticket_id = resolved(
        store.create(
            "supervisor",
            type_key=ticket.type_key,
            subject=ticket.subject,
            body=ticket.body,
            customer_id=customer_id,
            priority=ticket.priority,
            source="phone",
        )
    )
    if ticket.assign is not None:
        kind, target = ticket.assign
        resolved(store.assign("supervisor", "supervisor", ticket_id, kind, target))
    path = {"accepted": ("accepted",), "in_progress": ("accepted", "in_progress")}
    for state in path.get(ticket.state, ()):
        resolved(store.transition("supervisor", "supervisor", ticket_id, state))
