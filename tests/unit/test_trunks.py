"""A call's trunk from its channel name, in every form chan_dahdi gives one, and hostile ones."""

from __future__ import annotations

import pytest

from appliance.hardware.trunks import CallTrunk, call_trunk, dahdi_channel, trunk_label


@pytest.mark.parametrize(
    ("name", "channel"),
    [
        ("DAHDI/17-1", 17),  # an analog or CAS (MFC/R2) channel: its number, then a call count
        ("DAHDI/62-3", 62),
        ("DAHDI/i1/13800138000-1a", None),  # a PRI call: span and caller, not the channel
        ("DAHDI/i2/:5-3f", None),
        ("DAHDI/pseudo-1804289383", None),  # a conference's pseudo channel
        ("PJSIP/trunk-00000001", None),
        ("Local/1001@agent-phones-0000002a;1", None),
        ("DAHDI/12345-1", None),  # no such channel number
        ("DAHDI/\uff11\uff17-1", None),  # full-width digits are not a channel number
        ("DAHDI/17-1\n", None),
        ("", None),
    ],
)
def test_the_dahdi_channel_of_a_channel_name(name: str, channel: int | None) -> None:
    assert dahdi_channel(name) == channel


def test_the_group_comes_from_the_monitor_and_only_as_a_search_could_ask_for_it() -> None:
    groups = {17: "g0", 18: "g0<script>", 19: "x" * 33}
    assert call_trunk("DAHDI/17-1", groups.get) == CallTrunk("DAHDI", "g0", 17)
    assert call_trunk("DAHDI/18-1", groups.get) == CallTrunk("DAHDI", "", 18)
    assert call_trunk("DAHDI/19-1", groups.get) == CallTrunk("DAHDI", "", 19)
    assert call_trunk("DAHDI/20-1", groups.get) == CallTrunk("DAHDI", "", 20)  # unknown
    assert call_trunk("DAHDI/17-1") == CallTrunk("DAHDI", "", 17)  # no [dahdi]
    assert call_trunk("DAHDI/i1/13800138000-1a", groups.get) == CallTrunk("DAHDI", "", None)
    # a PRI call's channel from the span monitor (its DAHDIChannel event); CAS: the name's
    on = {"DAHDI/i1/13800138000-1a": 17}.get
    assert call_trunk("DAHDI/i1/13800138000-1a", groups.get, on) == CallTrunk("DAHDI", "g0", 17)
    assert call_trunk("DAHDI/18-1", groups.get, on) == CallTrunk("DAHDI", "", 18)
    assert call_trunk("PJSIP/trunk-00000001", groups.get, lambda name: 17) == CallTrunk(
        "PJSIP", "", None
    )
    assert call_trunk("PJSIP/trunk-00000001", groups.get) == CallTrunk("PJSIP", "", None)
    assert [trunk_label("g0", 17), trunk_label("g0", None), trunk_label("", 17)] == [
        "g0 / 17",
        "g0",
        "17",
    ]
    assert trunk_label("", None) == ""
