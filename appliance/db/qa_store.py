"""QA: scoring forms and the evaluations of recordings made with them (see recorder/qa_form.py
for what a form holds and how a score is computed)."""

from __future__ import annotations

from appliance.db.components import _Component


class QAStore(_Component):
    pass
