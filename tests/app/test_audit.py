"""The audit trail: append-only, chained, and readable from the dashboard."""

from __future__ import annotations

import re

import pytest
from pausa_gate.state import Actor

from app.extensions import db
from app.models import AuditEntry
from app.services import audit
from app.services.audit import AuditImmutableError


def test_entries_chain_together(app):
    with app.app_context():
        for number in range(3):
            audit.record("test.event", Actor("t"), details={"n": number})
        db.session.commit()
        entries = db.session.query(AuditEntry).order_by(AuditEntry.id).all()
        for before, after in zip(entries, entries[1:], strict=False):
            assert after.prev_hash == before.hash
        assert audit.verify_chain().ok
        assert audit.verify_chain().checked == len(entries)


@pytest.mark.parametrize("change", ["update", "delete"])
def test_the_application_cannot_change_audit_rows(app, change):
    with app.app_context():
        entry = audit.record("test.event", Actor("t"))
        db.session.commit()
        if change == "update":
            entry.actor = "someone else"
        else:
            db.session.delete(entry)
        with pytest.raises(AuditImmutableError):
            db.session.commit()
        db.session.rollback()
        assert db.session.get(AuditEntry, entry.id).actor == "t"


def test_history_filters_and_pages(app, client, auth):
    with app.app_context():
        for number in range(120):
            audit.record("test.tick" if number % 2 else "test.tock", Actor(f"actor-{number % 3}"))
        db.session.commit()
    auth.login("admin")
    page = client.get("/admin/audit?action=test.tick")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.count("<code>test.<wbr>tick</code>") == 50
    assert "test.<wbr>tock" not in html.split("<tbody>")[1]
    older = re.search(r'<a href="(/admin/audit\?[^"]+)">Older entries</a>', html)
    assert older, "a link to the next page"
    next_url = older.group(1).replace("&amp;", "&")
    assert "action=test.tick" in next_url and "before=" in next_url
    second = client.get(next_url).get_data(as_text=True)
    assert second.count("<code>test.<wbr>tick</code>") == 10
    assert "Older entries" not in second
    by_actor = client.get("/admin/audit?actor=actor-1").get_data(as_text=True)
    assert by_actor.count(">actor-1</td>") == 40


def test_history_date_filters(app, client, auth):
    auth.login("admin")
    assert client.get("/admin/audit?since=2000-01-01&until=2000-01-02").status_code == 200
    bad = client.get("/admin/audit?since=last-tuesday")
    assert bad.status_code == 400
    assert "Use an ISO-8601 date" in bad.get_data(as_text=True)
