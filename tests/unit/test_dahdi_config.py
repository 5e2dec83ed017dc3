"""[dahdi]: the trunk groups' channel ranges checked, every problem said."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import ConfigError, parse


def test_groups_and_defaults() -> None:
    conf = parse("[dahdi]\nenabled = yes\ngroups = default:1-15,17-31; g1:32-46 ;\n").dahdi
    assert conf.enabled and conf.poll_s == 5 and conf.proc_root == Path("/proc/dahdi")
    groups = dict(conf.groups)
    assert groups["default"] == (*range(1, 16), *range(17, 32))
    assert groups["g1"] == tuple(range(32, 47))
    assert parse("").dahdi.enabled is False and parse("").dahdi.groups == ()
    scan = parse("[dahdi]\nscan_command = /usr/sbin/dahdi_scan 1 2\n").dahdi.scan_command
    assert scan == ("/usr/sbin/dahdi_scan", "1", "2")


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("1-15", "expected group:channels"),
        ("a b:1", "expected group:channels"),
        ("a:1-5; a:6", "a is listed twice"),
        ("a:1-5; b:5-9", "channel 5 is in both a and b"),
        ("a:9-3", "channels are 1 to 4096, low to high"),
        ("a:0", "channels are 1 to 4096"),
        ("a:1-99999", "channels are 1 to 4096"),
        ("a:1,,2", "'' is not a channel or a range"),
        ("a:1-2-3", "'1-2-3' is not a channel or a range"),
        ("a:$(reboot)", "is not a channel or a range"),
    ],
)
def test_bad_groups_are_refused_with_the_reason(value: str, said: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(f"[dahdi]\ngroups = {value}\n")
    assert "[dahdi] groups" in str(err.value) and said in str(err.value)


def test_every_problem_is_said_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        parse("[dahdi]\npoll_s = 0\nproc_root = proc/dahdi\nscan_command = dahdi_scan\n")
    text = str(err.value)
    assert "[dahdi] poll_s" in text and "[dahdi] proc_root" in text
    assert "[dahdi] scan_command" in text and "absolute path" in text
