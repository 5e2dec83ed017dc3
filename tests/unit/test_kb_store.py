"""The knowledge base's store on both databases: the review workflow and who may do what,
versions and diffs, the category tree, views, votes and the desk's suggestions."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.cli import resolved
from appliance.db.connector import DBConnector
from appliance.kb.review import ReviewError
from appliance.kb.store import KBError, KBStore, flow_node_key
from appliance.uploads import UploadStore


def _history(kb: KBStore, article_id: int) -> list[tuple[str, str, str, str, int]]:
    return [
        (h.actor, h.action, h.from_state, h.to_state, h.version)
        for h in resolved(kb.history(article_id))
    ]


def test_review_workflow_refusals_and_the_live_version(db: DBConnector) -> None:
    kb = KBStore(db)
    cat = resolved(kb.add_category("Billing"))
    a = resolved(kb.create("ann", cat, "Refund policy", "<p>Refunds take 7 days.</p>", "en"))
    art = resolved(kb.get(a))
    assert art is not None
    assert (art.state, art.version, art.live_version, art.live) == ("draft", 1, None, False)

    # an agent writes and submits, but never publishes; a QA login does not write at all
    with pytest.raises(ReviewError, match="Only supervisors and admins review"):
        resolved(kb.approve("ann", "agent", a))
    with pytest.raises(ReviewError, match="Only agents, supervisors and admins write"):
        resolved(kb.create("q", cat, "x", "x", "en", role="qa"))
    with pytest.raises(ReviewError, match="Only agents, supervisors and admins write"):
        resolved(kb.update("q", "qa", a, "x", "x"))
    with pytest.raises(ReviewError, match="Only an article in review"):
        resolved(kb.approve("sue", "supervisor", a))  # a draft is not approved unseen
    resolved(kb.submit("ann", "agent", a))
    with pytest.raises(ReviewError, match="Only a draft"):
        resolved(kb.submit("ann", "agent", a))
    for action in (kb.approve, kb.reject):
        with pytest.raises(ReviewError, match="Only supervisors and admins review"):
            resolved(action("ann", "agent", a, "fine"))
    with pytest.raises(ReviewError, match="archive"):
        resolved(kb.archive("ann", "agent", a))
    with pytest.raises(KBError, match="Say why"):
        resolved(kb.reject("sue", "supervisor", a, "  "))
    # nothing approved yet: agents' search finds nothing, editors' finds the draft
    assert resolved(kb.search("refund")) == []
    assert [h.article_id for h in resolved(kb.search("refund", published_only=False))] == [a]

    resolved(kb.reject("sue", "supervisor", a, "Say how many working days."))
    assert resolved(kb.get(a)).state == "draft"  # type: ignore[union-attr]
    assert [c.body for c in resolved(kb.comments(a))] == ["Say how many working days."]
    resolved(kb.update("ann", "agent", a, "Refund policy", "<p>Refunds take 7 working days.</p>"))
    resolved(kb.submit("ann", "agent", a))
    resolved(kb.approve("sue", "supervisor", a))
    art = resolved(kb.get(a))
    assert art is not None
    assert (art.state, art.version, art.live_version, art.reviewer) == ("published", 2, 2, "sue")
    assert art.published_at is not None and art.live
    assert [h.article_id for h in resolved(kb.search("working days"))] == [a]

    # a published article edited: a new draft version, the published one stays live
    v3 = resolved(
        kb.update("ann", "agent", a, "Refund policy (new)", "<p>Refunds take 3 days now.</p>")
    )
    assert v3 == 3
    reader = resolved(kb.get(a))
    editor = resolved(kb.get(a, latest=True))
    assert reader is not None and editor is not None
    assert (reader.state, reader.live_version, reader.shown_version) == ("draft", 2, 2)
    assert reader.title == "Refund policy" and "7 working days" in reader.text
    assert editor.title == "Refund policy (new)" and editor.shown_version == 3
    assert [h.article_id for h in resolved(kb.search("working days"))] == [a]
    assert resolved(kb.search("now")) == []
    resolved(kb.submit("ann", "agent", a))
    resolved(kb.approve("adam", "admin", a, "ok"))
    assert resolved(kb.search("working")) == []
    assert [h.title for h in resolved(kb.search("now"))] == ["Refund policy (new)"]

    # archived: hidden from agents, not editable, restored by a reviewer only
    resolved(kb.archive("sue", "supervisor", a, "outdated"))
    assert resolved(kb.search("now")) == []
    with pytest.raises(ReviewError, match="restored before"):
        resolved(kb.update("ann", "agent", a, "x", "y"))
    with pytest.raises(ReviewError, match="archive"):
        resolved(kb.restore("ann", "agent", a))
    resolved(kb.restore("sue", "supervisor", a))
    assert resolved(kb.get(a)).state == "published"  # type: ignore[union-attr]
    assert [h.article_id for h in resolved(kb.search("now"))] == [a]

    assert _history(kb, a) == [
        ("ann", "created", "", "draft", 1),
        ("ann", "submit", "draft", "review", 1),
        ("sue", "reject", "review", "draft", 1),
        ("ann", "saved", "draft", "draft", 2),
        ("ann", "submit", "draft", "review", 2),
        ("sue", "approve", "review", "published", 2),
        ("ann", "saved", "published", "draft", 3),
        ("ann", "submit", "draft", "review", 3),
        ("adam", "approve", "review", "published", 3),
        ("sue", "archive", "published", "archived", 3),
        ("sue", "restore", "archived", "published", 3),
    ]


def test_versions_diff_and_hostile_input(db: DBConnector) -> None:
    kb = KBStore(db)
    cat = resolved(kb.add_category("网络"))
    a = resolved(
        kb.create(
            "ann",
            cat,
            "  Wi-Fi   密码  ",
            '<p onclick="x()">第一行</p><script>alert(1)</script><p>second</p>',
            "zh",
            tags="Wi-Fi, 密码, wi-fi",
        )
    )
    art = resolved(kb.get(a))
    assert art is not None
    assert art.title == "Wi-Fi 密码" and art.tags == ("wi-fi", "密码")
    assert art.html == "<p>第一行</p><p>second</p>" and art.text == "第一行\nsecond"
    resolved(kb.update("bob", "supervisor", a, "Wi-Fi 密码", "<p>第一行</p><p>third</p>"))
    assert [(v.number, v.author) for v in resolved(kb.versions(a))] == [(2, "bob"), (1, "ann")]
    diff = [(d.kind, d.text) for d in resolved(kb.diff(a, 1, 2))]
    assert ("-", "second") in diff and ("+", "third") in diff and (" ", "第一行") in diff
    assert [(d.kind, d.text) for d in resolved(kb.diff(a, 2, 1))][-2:] == [
        ("-", "third"),
        ("+", "second"),
    ]
    with pytest.raises(KBError, match="No version 9"):
        resolved(kb.diff(a, 1, 9))
    for bad in (
        lambda: kb.create("ann", cat, "", "x", "en"),
        lambda: kb.create("ann", cat, "t" * 201, "x", "en"),
        lambda: kb.create("ann", cat, "t", "x", "fr"),
        lambda: kb.create("ann", cat, "t", "x" * (256 * 1024 + 1), "en"),
        lambda: kb.create("ann", cat, "t", "x", "en", tags=[str(i) for i in range(21)]),
        lambda: kb.create("ann", 999, "t", "x", "en"),
        lambda: kb.comment("ann", a, ""),
        lambda: kb.submit("ann", "agent", 999),
    ):
        with pytest.raises(KBError):
            resolved(bad())
    hostile = "<img src=x onerror=alert(1)>'; DROP TABLE kb_articles;--"
    resolved(kb.comment(hostile, a, hostile))
    assert resolved(kb.comments(a))[0].body == hostile  # stored as given, escaped where shown
    assert resolved(kb.search(hostile, published_only=False)) == []


def test_category_tree_any_depth_and_moves(db: DBConnector) -> None:
    kb = KBStore(db)
    top = resolved(kb.add_category("Products"))
    mid = resolved(kb.add_category("Phones", top))
    low = resolved(kb.add_category("Model X", mid, position=2))
    deepest = resolved(kb.add_category("Batteries", low))
    cats = {c.id: c for c in resolved(kb.categories())}
    assert (cats[deepest].parent_id, cats[low].parent_id, cats[top].parent_id) == (low, mid, None)
    with pytest.raises(KBError, match="already there"):
        resolved(kb.add_category("Phones", top))
    resolved(kb.add_category("Phones"))  # the same name elsewhere is fine
    with pytest.raises(KBError, match="under itself"):
        resolved(kb.move(mid, deepest))
    with pytest.raises(KBError, match="under itself"):
        resolved(kb.move(mid, mid))
    resolved(kb.move(low, top, position=1))
    assert {c.id: c.parent_id for c in resolved(kb.categories())}[low] == top
    resolved(kb.create("ann", deepest, "Charging", "<p>x</p>", "en"))
    with pytest.raises(KBError, match="has articles"):
        resolved(kb.delete_category(deepest))
    with pytest.raises(KBError, match="categories below"):
        resolved(kb.delete_category(top))
    resolved(kb.rename_category(mid, "Handsets"))
    resolved(kb.delete_category(mid))
    assert mid not in {c.id for c in resolved(kb.categories())}


def test_views_votes_and_suggestions_from_queue_ivr_and_ticket_type(db: DBConnector) -> None:
    kb = KBStore(db)
    cat = resolved(kb.add_category("Desk"))
    ids = []
    for title in ("Billing hours", "Reset a password", "Broken router", "Draft only"):
        ids.append(resolved(kb.create("ann", cat, title, f"<p>{title}</p>", "en")))
    billing, password, router, draft = ids
    for article in (billing, password, router):
        resolved(kb.submit("ann", "agent", article))
        resolved(kb.approve("sue", "supervisor", article))
    node = flow_node_key("main", "menu-2")
    resolved(kb.set_links("sue", "supervisor", billing, [("queue", "3"), ("flow_node", node)]))
    resolved(kb.set_links("sue", "supervisor", password, [("queue", "3")]))
    resolved(kb.set_links("sue", "supervisor", router, [("ticket_type", "fault")]))
    resolved(kb.set_links("sue", "supervisor", draft, [("queue", "3")]))
    with pytest.raises(KBError, match="Unknown link kind"):
        resolved(kb.set_links("sue", "supervisor", router, [("planet", "x")]))
    assert resolved(kb.links(billing)) == [("flow_node", "main:menu-2"), ("queue", "3")]

    def suggested(**kw: object) -> list[int]:
        return [s.id for s in resolved(kb.suggest(**kw))]  # type: ignore[arg-type]

    # the article matching queue and IVR node first; a draft is never suggested
    assert suggested(queue_id=3, flow_nodes=[node]) == [billing, password]
    assert suggested(ticket_type="fault") == [router]
    assert suggested(queue_id=3, ticket_type="fault", limit=5) == [billing, password, router]
    assert suggested() == [] and suggested(queue_id=99) == []
    # among equals, the more helpful first
    assert resolved(kb.vote(password, "ann", True)) == (1, 0)
    assert resolved(kb.vote(password, "bob", True)) == (2, 0)
    assert resolved(kb.vote(password, "bob", False)) == (1, 1)  # a second vote replaces
    assert resolved(kb.vote(billing, "ann", False)) == (0, 1)
    assert suggested(queue_id=3) == [password, billing]
    resolved(kb.view(router))
    resolved(kb.view(router))
    art = resolved(kb.get(router))
    assert art is not None and art.views == 2
    with pytest.raises(KBError):
        resolved(kb.vote(999, "ann", True))


def test_attachments_keep_what_the_upload_store_found(db: DBConnector, tmp_path: Path) -> None:
    kb = KBStore(db)
    cat = resolved(kb.add_category("Files"))
    article = resolved(kb.create("ann", cat, "Diagram", "<p>x</p>", "en"))
    uploads = UploadStore(tmp_path)
    png = uploads.put(b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "../../a diagram.png")
    wav = uploads.put(b"RIFF\x24\0\0\0WAVEfmt " + b"\0" * 64, "hold.wav")
    image = resolved(kb.add_attachment("ann", png, article))
    audio = resolved(kb.add_attachment("ann", wav))
    got = resolved(kb.attachment(image))
    assert got is not None
    assert (got.kind, got.mime, got.sha256, got.article_id) == (
        "image",
        png.mime,
        png.sha256,
        article,
    )
    assert "/" not in got.filename
    assert [a.id for a in resolved(kb.attachments(article))] == [image]
    assert resolved(kb.attachment(audio)).kind == "audio"  # type: ignore[union-attr]
    assert resolved(kb.attachment(999)) is None
