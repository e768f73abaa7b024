"""Free text typed into the Calls dashboard's textboxes reaches ClickHouse literally (its own module: it needs
a fresh embedded store, and one process opens one chDB path at a time)."""

from __future__ import annotations

from datetime import timedelta

from llmsight.dashboards.panels import CALLS_DASHBOARD

from .conftest import Seeded
from .seed import Call, healthy_calls
from .test_dashboards import DOCUMENTS, View, run, scene_for

HOSTILE_TEXT = ["back\\slash", "ends with a backslash\\", "it's", "\\' OR 1=1 --", "say \"hi\"", "100%", "é ✓"]


def test_calls_filters_match_typed_text_literally(empty_store: Seeded) -> None:
    """A user id typed into the Calls dashboard's textbox, backslashes and quotes included, matches exactly
    the calls with that id: ClickHouse reads a backslash in a string literal as an escape, so the value must
    reach it in a form that has none (sqlstring escapes quotes only)."""
    template = healthy_calls(empty_store.now, count=1)[0]
    calls = []
    for index, user in enumerate(HOSTILE_TEXT + ["plain"]):
        call = Call(**{**template.__dict__, "attributes": {}})
        call.user_id, call.span_id, call.ts = user, 7_000_000 + index, empty_store.now - timedelta(minutes=5 + index)
        calls.append(call)
    empty_store.add(calls)
    document = DOCUMENTS[CALLS_DASHBOARD]
    panel = next(p for p in document["panels"] if p["title"] == "Calls")
    for user in HOSTILE_TEXT:
        view = View(empty_store.now - timedelta(hours=1), empty_store.now, {"user": user})
        rows = run(empty_store, panel["targets"][0]["rawSql"], scene_for(empty_store, document, view)).dicts()
        assert [row["user_id"] for row in rows] == [user], user
