"""``[metrics]``: the Prometheus endpoint's own address and its bearer token, checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance import config as config_mod


def metrics(text: str) -> config_mod.MetricsConfig:
    return config_mod.parse(f"[metrics]\n{text}\n").metrics


def test_off_by_default_and_in_the_rendered_file() -> None:
    assert config_mod.parse("").metrics == config_mod.MetricsConfig(None, "")
    rendered = config_mod.parse(config_mod.render(Path("/var/lib/ccbox")))
    assert rendered.metrics == config_mod.MetricsConfig(None, "")


def test_an_address_and_a_token() -> None:
    token = "0123456789abcdef0123456789abcdef"
    assert metrics(f"listen = 127.0.0.1:9108\ntoken = {token}") == config_mod.MetricsConfig(
        ("127.0.0.1", 9108), token
    )
    assert metrics("listen = [::1]:9108").listen == ("::1", 9108)
    assert metrics("listen = 0.0.0.0:9108").listen == ("0.0.0.0", 9108)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("listen = 9108", "expected address:port"),
        ("listen = ::1:9108", "expected address:port"),  # IPv6 in brackets only
        ("listen = localhost:9108", "not an IP address"),
        ("listen = 127.0.0.1:70000", "out of range"),
        ("listen = 127.0.0.1:", "expected address:port"),
        ("token = tooshort", "16 to 256"),
        ("token = has spaces in it, and a comma", "16 to 256"),
        ("token = " + "a" * 257, "16 to 256"),
    ],
)
def test_bad_values_are_named(line: str, problem: str) -> None:
    with pytest.raises(config_mod.ConfigError) as err:
        metrics(line)
    [message] = err.value.problems
    assert message.startswith("[metrics] ") and problem in message, message
