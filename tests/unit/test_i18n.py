"""Catalogs: every marked string is translated into Chinese; lookups follow the request."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from webui import i18n

ROOT = Path(__file__).resolve().parents[2]


def extracted() -> set[str]:
    """Every msgid ``make messages`` extracts, with babel.cfg's own mapping."""
    with (ROOT / "babel.cfg").open() as fp:
        method_map, options = parse_mapping_cfg(fp)
    ids = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(
        str(ROOT),
        method_map,
        options_map=options,
        keywords={"_": None, "N_": None, "ngettext": (1, 2)},
    ):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


def catalog(locale: str) -> dict[str, str]:
    path = i18n.LOCALE_DIR / locale / "LC_MESSAGES" / "ccbox.po"
    with path.open("rb") as fp:
        # plural entries by their singular msgid, with the first form (zh_CN has one)
        return {
            m.id if isinstance(m.id, str) else m.id[0]: (
                m.string if isinstance(m.string, str) else m.string[0]
            )
            for m in read_po(fp)
            if m.id
        }


def test_every_marked_string_has_a_chinese_translation() -> None:
    ids = extracted()
    assert "Log in" in ids and "supervisor" in ids  # extraction itself works
    zh = catalog("zh_CN")
    missing = sorted(i for i in ids if not zh.get(i))
    assert missing == [], f"untranslated in zh_CN (run make messages): {missing}"


def test_no_stale_entries_in_catalogs() -> None:
    ids = extracted()
    for locale in i18n.LOCALES:
        stale = sorted(set(catalog(locale)) - ids)
        assert stale == [], f"{locale} has strings no code uses: {stale}"


def test_placeholders_survive_translation() -> None:
    import re

    # named fields (with their !r and :.1f) may move, as Chinese word order wants
    fields = re.compile(r"\{[^{}]*\}")
    zh = catalog("zh_CN")
    for msgid, msgstr in zh.items():
        assert sorted(fields.findall(msgid)) == sorted(fields.findall(msgstr)), msgid
        assert "{}" not in msgid, f"name the field: {msgid}"


def test_translations_compile_and_answer() -> None:
    assert i18n.translations("zh_CN").gettext("Log in") == "登录"
    assert i18n.translations("en").gettext("Log in") == "Log in"
    assert i18n._("Dashboard") == "Dashboard"  # outside a request: English


def test_negotiate_accept_language() -> None:
    assert i18n.negotiate("zh-CN,zh;q=0.9,en;q=0.8", "en") == "zh_CN"
    assert i18n.negotiate("en-US,en;q=0.9", "zh_CN") == "en"
    assert i18n.negotiate("fr-FR", "zh_CN") == "zh_CN"
    assert i18n.negotiate("", "en") == "en"
    assert i18n.negotiate("x," * 10000, "en") == "en"


def test_unknown_locale_is_refused() -> None:
    import pytest

    with pytest.raises(ValueError):
        i18n.translations("../../etc")
