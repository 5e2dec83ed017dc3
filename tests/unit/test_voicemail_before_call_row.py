"""A voicemail left while its call's row still waits in the write backlog (a slow or full
database: appliance/db/write_backlog.py) is kept; the soak found callers dropped there: the
insert named a calls row not written yet, the foreign key refused it (reported as
"voicemail already exists") and the caller's route crashed."""

from __future__ import annotations

from pathlib import Path

from appliance.cli import resolved
from tests.support.inline_db import inline_db


def test_a_message_for_a_call_whose_row_is_not_written_yet_is_kept(tmp_path: Path) -> None:
    with inline_db(tmp_path / "vm.sqlite") as db:
        resolved(db.voicemail.add_mailbox("801", "Service", "department", "service"))
        row = resolved(db.voicemail.add("801", "801/m.wav", 3000, "13800138000", "Bob", 4242))
        assert row.call_id is None
        [kept] = resolved(db.voicemail.messages("801"))
        assert (kept.id, kept.caller_number, kept.path) == (row.id, "13800138000", "801/m.wav")
