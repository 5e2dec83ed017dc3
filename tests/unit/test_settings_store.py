"""The settings store on both databases: the wallboard's defaults, a saved and reread
document, every bad field refused with a message and nothing stored, a hand-broken stored
document read as the defaults for its bad fields."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from appliance.cli import resolved
from appliance.db import model
from appliance.db.settings_store import (
    InvalidSettings,
    WallboardSettings,
    parse_wallboard,
)


def good(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "waiting_warning": "2",
        "waiting_alarm": "5",
        "longest_wait_warning_s": "20",
        "longest_wait_alarm_s": "45",
        "service_level_warning": "85",
        "service_level_alarm": "70",
        "color_normal": "#00AA00",
        "color_warning": "#ffaa00",
        "color_alarm": "#ff0000",
    }
    values.update(changes)
    return values


def refused(db: Any, raw: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidSettings) as info:
        resolved(db.settings.set_wallboard(raw, "admin"))
    return {p.field: p.message for p in info.value.problems}


def test_defaults_when_never_set(db: Any) -> None:
    assert resolved(db.settings.get("wallboard")) is None
    assert resolved(db.settings.wallboard()) == WallboardSettings()


def test_saved_and_read_back(db: Any) -> None:
    saved = resolved(db.settings.set_wallboard(good(), "admin"))
    assert saved.waiting_alarm == 5 and saved.color_normal == "#00aa00"  # lower-cased
    assert resolved(db.settings.wallboard()) == saved
    resolved(db.settings.set_wallboard(good(waiting_alarm=9), "other"))  # an update
    assert resolved(db.settings.wallboard()).waiting_alarm == 9

    def row(conn: Any) -> Any:
        return conn.execute(sa.select(model.settings)).one()

    stored = resolved(db.run(row))
    assert stored.key == "wallboard" and stored.updated_by == "other"
    assert json.loads(stored.value)["waiting_alarm"] == 9


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("waiting_warning", "0", "from 1 to 999"),
        ("waiting_alarm", "1000", "from 1 to 999"),
        ("longest_wait_alarm_s", "-5", "from 1 to 3600"),
        ("longest_wait_warning_s", "3.5", "whole number"),
        ("service_level_warning", "101", "from 0 to 100"),
        ("service_level_alarm", "ten", "whole number"),
        ("waiting_warning", True, "whole number"),
        ("color_alarm", "red", "#rrggbb"),
        ("color_normal", "#12345", "#rrggbb"),
        ("color_warning", "#12345g", "#rrggbb"),
        ("color_warning", "#123456;background:url(x)", "#rrggbb"),
        ("color_normal", 0x123456, "#rrggbb"),
    ],
)
def test_bad_values_refused_with_a_message(db: Any, field: str, value: Any, words: str) -> None:
    resolved(db.settings.set_wallboard(good(), "admin"))
    problems = refused(db, good(**{field: value}))
    assert list(problems) == [field]
    assert words in problems[field]
    assert resolved(db.settings.wallboard()) == parse_wallboard(good())  # nothing stored


def test_levels_in_the_wrong_order_and_missing_fields(db: Any) -> None:
    problems = refused(
        db,
        good(waiting_alarm="1", longest_wait_alarm_s="10", service_level_alarm="90"),
    )
    assert set(problems) == {"waiting_alarm", "longest_wait_alarm_s", "service_level_alarm"}
    assert all("past the warning level" in m for m in problems.values())
    raw = good()
    del raw["color_alarm"]
    assert "missing" in refused(db, raw)["color_alarm"]
    assert resolved(db.settings.get("wallboard")) is None


def test_a_broken_stored_document_reads_as_defaults_for_its_bad_fields(db: Any) -> None:
    doc = {**parse_wallboard(good()).as_dict(), "color_alarm": "javascript:x", "junk": 1}

    def write(conn: Any) -> None:
        conn.execute(
            model.settings.insert().values(
                key="wallboard", value=json.dumps(doc), updated_by="", updated_at=sa.func.now()
            )
        )

    resolved(db.run(write))
    read = resolved(db.settings.wallboard())
    assert read.color_alarm == WallboardSettings().color_alarm
    assert read.waiting_alarm == 5  # the good fields are kept

    def not_json(conn: Any) -> None:
        conn.execute(model.settings.update().values(value="{not json"))

    resolved(db.run(not_json))
    assert resolved(db.settings.wallboard()) == WallboardSettings()
