"""Devices as Asterisk names them (device-channel-names.txt beside the traces)."""

from __future__ import annotations

import pytest

from drivers.asterisk.device_names import BadDevice, device_key, device_of_channel, same_device


@pytest.mark.parametrize(
    ("channel", "device"),
    [
        # Every leg name the traces show, and the device each belongs to.
        ("IAX2/1001-8367", "IAX2/1001"),
        ("IAX2/1001-978", "IAX2/1001"),
        ("IAX2/1006-15222", "IAX2/1006"),
        ("Local/1001@agent-phones-00000081;1", "Local/1001@agent-phones"),
        ("Local/1001@agent-phones-00000081;2", "Local/1001@agent-phones"),
        ("Local/1001@agent-phones-0000006a;1", "Local/1001@agent-phones"),
        ("Local/1001@ccbox-agents-00000085;1", "Local/1001@ccbox-agents"),
        ("Local/1007@trace-agents-00000062;1", "Local/1007@trace-agents"),
        ("Local/5551234@ccbox-outbound-0000006b;2", "Local/5551234@ccbox-outbound"),
        ("PJSIP/1001-0000000a", "PJSIP/1001"),
        ("PJSIP/desk-1001-0000000a", "PJSIP/desk-1001"),
        ("DAHDI/1-1", "DAHDI/1"),
    ],
)
def test_a_channel_is_the_leg_of_its_device(channel: str, device: str) -> None:
    assert device_of_channel(channel) == device
    assert same_device(channel, device)


def test_a_local_agent_dialed_with_n_is_found_by_its_leg() -> None:
    # What the code did before: the leg's name cut at its last "-" was looked up as the
    # configured device, which carries the /n the name never has: the agent was not found.
    name, configured = "Local/1001@agent-phones-0000006a;1", "Local/1001@agent-phones/n"
    assert name.rsplit("-", 1)[0] != configured
    assert device_of_channel(name) == device_key(configured)


@pytest.mark.parametrize(
    "channel",
    ["ConfBridge/0x7f-1", "Local/1001@agent-phones;1", "Local/1001@x-zzzzzzzz;1", "PJSIP/1001", ""],
)
def test_channels_that_are_no_phone_leg_have_no_device(channel: str) -> None:
    assert device_of_channel(channel) is None


def test_a_configured_device_is_compared_without_its_dial_options() -> None:
    assert device_key("Local/1001@agent-phones/n") == "Local/1001@agent-phones"
    assert device_key("Local/1001@agent-phones") == "Local/1001@agent-phones"
    assert device_key("IAX2/1001") == "IAX2/1001"
    assert same_device("Local/1001@agent-phones-00000083;1", "Local/1001@agent-phones/n")
    assert not same_device("Local/1002@agent-phones-00000083;1", "Local/1001@agent-phones/n")
    assert not same_device("PJSIP/10010-0000000a", "PJSIP/1001")


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("SIP/1001", "one of PJSIP, IAX2, DAHDI, Local"),
        ("PJSIP/1001&PJSIP/1002", "one of PJSIP"),
        ("Local/1001", "Local/<exten>@<context>"),
        ("Local/1001@ctx/q", "Local/<exten>@<context>"),
    ],
)
def test_a_bad_device_is_refused_with_the_reason(device: str, message: str) -> None:
    with pytest.raises(BadDevice, match=message):
        device_key(device)
