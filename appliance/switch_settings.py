"""ccbox's config mapped to what the Asterisk drivers take (drivers never read ccbox.conf).

Part of the composition root: appliance/master.py builds the AMI client from
``ami_settings``, ``ccbox asterisk-config`` (appliance/cli.py) renders the Asterisk files
from ``asterisk_settings``.
"""

from __future__ import annotations

from appliance.config import AmiConfig, Config
from drivers.asterisk.ami.client import AmiSettings
from drivers.asterisk.confgen import AsteriskSettings


def ami_settings(ami: AmiConfig) -> AmiSettings:
    return AmiSettings(host=ami.host, port=ami.port, username=ami.username, secret=ami.secret)


def asterisk_settings(config: Config) -> AsteriskSettings:
    return AsteriskSettings(
        ami_username=config.ami.username,
        ami_secret=config.ami.secret,
        ami_host=config.ami.host,
        agi_bind=config.fastagi.bind,
        agi_port=config.fastagi.port,
        handoff=config.shutdown.handoff,
        handoff_to=config.shutdown.handoff_to,
    )
