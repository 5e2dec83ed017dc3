"""The one e-mail check (appliance/email_address.py) every address goes through."""

from __future__ import annotations

import pytest

from appliance.email_address import MAX_LENGTH, is_email


@pytest.mark.parametrize(
    "address",
    [
        "li.lei@example.com",
        "o'brien+crm@mail.example.co.uk",
        "wang_fang@xn--fiqs8s.xn--fiqz9s",  # an international domain, in its xn-- form
        "a@b.cn",
        "x" * 64 + "@example.com",
    ],
)
def test_a_plain_address_is_one(address: str) -> None:
    assert is_email(address)


@pytest.mark.parametrize(
    "address",
    [
        "",
        "li.lei",
        "li.lei@localhost",  # no dotted domain
        "a@@b.cn",
        "a@b@c.cn",
        "@b.cn",
        "a@.cn",
        "a@b.cn\r\nBcc: all@evil.example",  # header injection
        "a@b.cn\nBcc: all@evil.example",
        "a\r@b.cn",
        "a b@c.cn",
        "a@b .cn",
        "a\t@b.cn",
        "a@b.cn,c@d.cn",
        "a@b.cn;c@d.cn",
        "Li <a@b.cn>",
        "<a@b.cn>",
        "a(comment)@b.cn",
        "[a]@b.cn",
        '"a"@b.cn',
        "a\\@b.cn",
        "a\x00@b.cn",
        "a@b.cn\x7f",
        "a@例子.中国",
        "a@b_c.cn",
        "x" * 65 + "@example.com",
        "a@" + "b" * 64 + ".cn",
        "a@" + ("b" * 60 + ".") * 4 + "c" * 10,  # 256: over MAX_LENGTH
    ],
)
def test_a_hostile_or_malformed_address_is_refused(address: str) -> None:
    assert not is_email(address)


def test_the_bound_is_the_mail_standards() -> None:
    assert MAX_LENGTH == 254
    assert is_email("a@" + ("b" * 60 + ".") * 4 + "c")  # 2 + 244 + 1 = 247


@pytest.mark.parametrize(
    "address", ["o'brien@example.com", "a@b.cn,c@d.cn", "a@b.cn;c@d.cn", "a(x)@b.cn", "a@b"]
)
def test_the_customer_form_and_the_import_agree(address: str) -> None:
    """The import refused what the form took (and the form took separators a mail header
    reads as a second recipient): both now ask is_email."""
    from appliance.crm.customer_import import parse_row, read_columns
    from appliance.crm.customer_store import CustomerStore
    from appliance.crm.fields import FieldErrors

    store = CustomerStore(None)  # type: ignore[arg-type]  # _check reads no database
    try:
        store._check({"email": address})
        form = True
    except FieldErrors as exc:
        assert set(exc.errors) == {"email"}
        form = False
    cols = read_columns(["name", "numbers", "email"], [])
    try:
        parse_row(["Li Lei", "13800138000", address], cols, [])
        imported = True
    except ValueError as exc:
        assert "e-mail" in str(exc)
        imported = False
    assert form == imported == is_email(address)
