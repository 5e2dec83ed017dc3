"""Config parsing: defaults, every kind of bad value, unknown keys, and the rendered sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance import config as config_mod
from appliance.config import ConfigError, parse


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(text, "test.conf")
    return info.value.problems


def test_empty_file_gives_documented_defaults() -> None:
    c = parse("")
    assert c.data_dir == Path("/var/lib/ccbox")
    assert c.database_url == "sqlite:////var/lib/ccbox/ccbox.sqlite"
    assert (c.ami.host, c.ami.port, c.ami.username, c.ami.secret) == (
        "127.0.0.1",
        5038,
        "ccbox",
        "",
    )
    assert (c.fastagi.bind, c.fastagi.port) == ("127.0.0.1", 4573)
    assert (c.web.bind, c.web.port, c.web.session_idle_minutes) == ("127.0.0.1", 8080, 480)
    assert c.web.secure_cookies is False
    assert c.recording_dir == Path("/var/lib/ccbox/recordings")
    assert (c.locale, c.log_level) == ("en", "info")


def test_derived_paths_follow_data_dir() -> None:
    c = parse("[ccbox]\ndata_dir = /srv/cc\n")
    assert c.database_url == "sqlite:////srv/cc/ccbox.sqlite"
    assert c.recording_dir == Path("/srv/cc/recordings")


def test_explicit_values() -> None:
    c = parse(
        "[ccbox]\nlocale = zh_CN\n[database]\nurl = postgresql+psycopg://u:p@db/cc\n"
        "[ami]\nhost = pbx.local\nport = 5039\nsecret = s3:cr=t\n"
        "[web]\nbind = 0.0.0.0\nsecure_cookies = yes\n[recording]\ndir = /rec\n"
    )
    assert c.locale == "zh_CN"
    assert c.database_url == "postgresql+psycopg://u:p@db/cc"
    assert (c.ami.host, c.ami.port, c.ami.secret) == ("pbx.local", 5039, "s3:cr=t")
    assert c.web.bind == "0.0.0.0" and c.web.secure_cookies is True
    assert c.recording_dir == Path("/rec")


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("[web]\nport = abc", "[web] port", "not a whole number"),
        ("[web]\nport = 0", "[web] port", "out of range"),
        ("[web]\nport = 65536", "[web] port", "out of range"),
        ("[web]\nport = -1", "[web] port", "out of range"),
        ("[ami]\nport = 5038.5", "[ami] port", "not a whole number"),
        ("[fastagi]\nport = ", "[fastagi] port", "not a whole number"),
        ("[web]\nbind = localhost", "[web] bind", "not an IP address"),
        ("[fastagi]\nbind = 1.2.3", "[fastagi] bind", "not an IP address"),
        ("[ami]\nhost = bad host!", "[ami] host", "not a host name"),
        ("[ami]\nhost = ", "[ami] host", "must not be empty"),
        ("[ami]\nusername = ", "[ami] username", "must not be empty"),
        ("[ccbox]\ndata_dir = relative/dir", "[ccbox] data_dir", "absolute path"),
        ("[ccbox]\nlocale = fr", "[ccbox] locale", "one of: en, zh_CN"),
        ("[ccbox]\nlog_level = loud", "[ccbox] log_level", "one of"),
        ("[database]\nurl = mysql://x/y", "[database] url", "only sqlite and postgresql"),
        ("[database]\nurl = not a url", "[database] url", "not a database URL"),
        ("[database]\nurl = sqlite://", "[database] url", "must be a file"),
        ("[web]\nsecure_cookies = maybe", "[web] secure_cookies", "yes or no"),
        ("[web]\nsession_idle_minutes = 1", "[web] session_idle_minutes", "out of range"),
        ("[recording]\ndir = rec", "[recording] dir", "absolute path"),
        ("[recording]\ndir = /srv/rec,b(x)", "[recording] dir", "letters, digits"),
        ("[recording]\ndir = /srv/${EVIL}", "[recording] dir", "letters, digits"),
        ("[recording]\ndir = /srv/my recordings", "[recording] dir", "letters, digits"),
        ("[ccbox]\ndata_dir = /var/lib/cc'box", "[ccbox] data_dir", "letters, digits"),
    ],
)
def test_each_bad_value_is_named_with_its_reason(text: str, key: str, reason: str) -> None:
    found = problems(text)
    assert len(found) == 1, found
    assert found[0].startswith(key), found
    assert reason in found[0]


def test_every_problem_is_reported_at_once() -> None:
    found = problems("[web]\nport = x\nbind = y\n[ami]\nport = 0\n")
    assert [p.split(" =")[0] for p in found] == ["[ami] port", "[web] bind", "[web] port"]


def test_unknown_section_and_key_are_errors() -> None:
    found = problems("[webb]\nport = 1\n[web]\nprot = 80\n")
    assert any(p.startswith("[webb]: unknown section") for p in found)
    assert any(p.startswith("[web] prot: unknown key") and "port" in p for p in found)


def test_unreadable_ini_is_one_clear_problem() -> None:
    found = problems("port = 8080\n")
    assert len(found) == 1 and "cannot be read as an INI file" in found[0]


def test_long_bad_value_is_shortened_in_the_message() -> None:
    found = problems("[web]\nport = " + "9" * 500 + "\n")
    assert len(found[0]) < 200


def test_load_missing_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        config_mod.load(tmp_path / "nope.conf")
    bad = tmp_path / "latin1.conf"
    bad.write_bytes(b"[ami]\nsecret = caf\xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        config_mod.load(bad)


def test_error_message_names_the_file() -> None:
    with pytest.raises(ConfigError) as info:
        parse("[web]\nport = x\n", "/etc/ccbox/ccbox.conf")
    assert str(info.value).startswith("/etc/ccbox/ccbox.conf: [web] port = 'x'")


def test_rendered_sample_parses_to_the_same_defaults(tmp_path: Path) -> None:
    text = config_mod.render(tmp_path, web_port=9090)
    c = parse(text)
    assert c.data_dir == tmp_path and c.web.port == 9090
    assert c.database_url == f"sqlite:///{tmp_path / 'ccbox.sqlite'}"
    default = parse("")
    assert (c.ami, c.fastagi, c.locale) == (default.ami, default.fastagi, default.locale)


def test_rendered_sample_mentions_every_key() -> None:
    text = config_mod.render(Path("/var/lib/ccbox"))
    for section, keys in config_mod.SCHEMA.items():
        assert f"[{section}]" in text
        for key in keys:
            assert f"{key} =" in text, key


def test_reports_timezone_defaults_to_the_box_zone_and_is_checked(tmp_path: Path) -> None:
    """[reports] timezone: an IANA name, else the name /etc/localtime points to; a path or a
    made-up name is refused with its reason."""
    from appliance.reports.clock import box_zone_name

    link = tmp_path / "localtime"
    link.symlink_to("/usr/share/zoneinfo/Asia/Shanghai")
    assert box_zone_name(link) == "Asia/Shanghai"
    assert box_zone_name(tmp_path / "missing") in ("UTC", box_zone_name())
    assert parse("").reports.timezone == box_zone_name()
    c = parse("[reports]\ntimezone = America/New_York\nshort_abandon_s = 8\n")
    assert (c.reports.timezone, c.reports.short_abandon_s) == ("America/New_York", 8)
    bad = problems("[reports]\ntimezone = ../../etc/passwd\nshort_abandon_s = 601\n")
    assert any("[reports] timezone" in p and "time zone" in p for p in bad)
    assert any("[reports] short_abandon_s" in p for p in bad)
    assert any("[reports] timezone" in p for p in problems("[reports]\ntimezone = Mars/Base\n"))
