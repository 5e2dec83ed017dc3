"""Numbers as the dialer stores them, and the called party's zone from a number."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acd.dialer.numbers import NUMBER, normalise, tz_of


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("+86 138-0013-8000", "+8613800138000"),
        ("0086 138 0013 8000", "+8613800138000"),
        ("(010) 1234.5678", "01012345678"),
        ("13800138000", "13800138000"),
        ("\uff11\uff13\uff18\uff10\uff10\uff11\uff13\uff18\uff10\uff10\uff10", "13800138000"),
        ("\uff08010\uff09\u30001234\u20145678", "01012345678"),
        ("'+44 20 7946 0958", "+442079460958"),
        ("  +1 (212) 555-1234\t", "+12125551234"),
        ("110", "110"),
        ("1" * 20, "1" * 20),
    ],
)
def test_normalise_accepts_what_people_type(raw: str, want: str) -> None:
    assert normalise(raw) == want


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("12", "too short"),
        ("+12", "too short"),
        ("00 12", "too short"),
        ("1" * 21, "too long"),
        ("1" * 300, "too long"),
        ("138 0013 8000 ext 12", "letters"),
        ("1-800-FLOWERS", "letters"),
        ("<img src=x onerror=alert(1)>", "markup"),
        ("=HYPERLINK(1)", "markup"),
        ("555\r\nApplication: System", "not a digit"),
        ("100&DAHDI/g1", "markup"),
        ("$(reboot)", "markup"),
        ("138+0013", "'+' can only come first"),
        ("++86138", "'+' can only come first"),
        ("+0086 138", "country code never starts with 0"),
        ("\uff11\uff12\x00\uff13", "not a digit"),
        ("138/0013", "not a digit"),
        ("\u0663\u0664\u0665\u0666", "not a digit"),  # Arabic-Indic digits: not ours to guess
        ("²³⁴⁵", "not a digit"),
    ],
)
def test_normalise_refuses_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        normalise(raw)
    assert reason in str(caught.value)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=40) | st.from_regex(r"[+0-9 ()\-.\uff10-\uff19]{0,30}", fullmatch=True))
def test_normalise_raises_only_value_error_and_is_idempotent(raw: str) -> None:
    try:
        number = normalise(raw)
    except ValueError as exc:
        assert str(exc)  # a reason, never an empty message
        return
    assert NUMBER.fullmatch(number), number
    assert not number.startswith(("00", "+0"))
    assert normalise(number) == number


@pytest.mark.parametrize(
    ("number", "want"),
    [
        ("+8613800138000", "Asia/Shanghai"),
        ("13800138000", "Asia/Shanghai"),  # a Chinese mobile, dialed nationally
        ("01012345678", "Asia/Shanghai"),  # a Beijing landline
        ("+12125551234", "America/New_York"),
        ("+13125551234", "America/Chicago"),
        ("+13035551234", "America/Denver"),
        ("+16025551234", "America/Phoenix"),
        ("+14155551234", "America/Los_Angeles"),
        ("+14165551234", "America/New_York"),  # Toronto
        ("+19075551234", "America/Anchorage"),
        ("+18085551234", "Pacific/Honolulu"),
        ("+442079460958", "Europe/London"),
        ("+85221234567", "Asia/Hong_Kong"),  # longest country code wins over +85x
        ("+81312345678", "Asia/Tokyo"),
        ("+74951234567", "Europe/Moscow"),
        ("+19995551234", "Europe/Paris"),  # an area code not in the table: the default
        ("+2348012345678", "Europe/Paris"),  # a country not in the table: the default
        ("110", "Europe/Paris"),  # a short national number: the default
    ],
)
def test_tz_of(number: str, want: str) -> None:
    assert tz_of(number, "Europe/Paris") == want


def test_every_zone_named_exists() -> None:
    import zoneinfo

    from acd.dialer import numbers

    zones = set(numbers._COUNTRY_TZ.values()) | set(numbers._NANP_AREAS)
    assert zones <= zoneinfo.available_timezones()
