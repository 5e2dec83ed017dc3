"""The phones ccbox may dial: a device goes into Dial's argument, so anything that could add a
device, an option or an expansion is refused; SIP/ is gone with chan_sip."""

from __future__ import annotations

import pytest

from drivers.asterisk import device_names
from drivers.asterisk.device_syntax import BadDevice, check_device, is_device, local_context

ACCEPTED = [
    "PJSIP/1001",
    "PJSIP/desk_3",
    "PJSIP/alice.home",
    "IAX2/1001",
    "DAHDI/1",
    "DAHDI/24",
    "Local/1001@agent-phones",
    "Local/1001@agent-phones/n",
    "Local/*21001@follow_me",
    "Local/+8613800138000@phones",
    "Local/" + "9" * 20 + "@" + "c" * 32 + "/n",  # the longest: fits the 64-character column
]

REFUSED = [
    "",
    "SIP/1001",  # Asterisk 22 has no chan_sip
    "sip/1001",
    "PJSIP/",
    "PJSIP/1001&PJSIP/9999",  # a second device
    "PJSIP/1001,30,tT",  # Dial's options
    "PJSIP/10 01",
    " PJSIP/1001",
    "PJSIP/1001 ",
    'PJSIP/1001"',
    "PJSIP/1001'",
    "PJSIP/${EXTEN}",
    "PJSIP/$[1+1]",
    "PJSIP/1001(x)",
    "PJSIP/1001@provider",  # a number out of a trunk
    "PJSIP/1001\n",
    "IAX2/user:secret@host",
    "DAHDI/g0",  # a group rings any free phone of it
    "DAHDI/r1/5551234",
    "DAHDI/1-1",  # a channel name, not a device
    "Local/1001",  # no context
    "Local/@agent-phones",
    "Local/1001@",
    "Local/1001@agent-phones/nj",
    "Local/1001@agent-phones/m",
    "Local/1001@agent phones",
    "Local/1001@agent-phones,30",
    "Local/1001@agent-phones&PJSIP/1",
    "Local/${CALLERID(num)}@x",
    "Local/1001@${CTX}",
    "Local/1001@ctx;2",
    "Local/1001@a@b",
    "Local/1001@ctx/n/n",
    "Local/" + "9" * 21 + "@ctx",
    "Console/dsp",
    "Zap/1",
    "PJSIP/" + "a" * 33,
]


@pytest.mark.parametrize("device", ACCEPTED)
def test_accepted(device: str) -> None:
    assert check_device(device) == device and is_device(device)
    # and the ACD finds the same phone again in the channels Asterisk names for it
    assert device_names.device_key(device) == device.removesuffix("/n")


@pytest.mark.parametrize("device", REFUSED)
def test_refused(device: str) -> None:
    with pytest.raises(BadDevice, match="like PJSIP/1001"):
        check_device(device)
    assert not is_device(device)


def test_refusals_say_what_to_use() -> None:
    with pytest.raises(BadDevice, match=r"no SIP/ .*use PJSIP/"):
        check_device("SIP/1001")
    with pytest.raises(BadDevice, match="at most 64"):
        check_device("PJSIP/" + "1" * 64)
    with pytest.raises(BadDevice, match="a string"):
        check_device(1001)


def test_local_context() -> None:
    assert local_context("Local/1001@agent-phones/n") == "agent-phones"
    assert local_context("PJSIP/1001") is None
    assert local_context("Local/1@x,y") is None
