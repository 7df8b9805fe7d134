"""The audit history page, its CSV export and its tamper evidence, on a generated history."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from pausa_gate.state import Actor
from sqlalchemy import func, select, text

from app.extensions import db
from app.models import AuditEntry
from app.services import audit
from tests.support.apps import AuthActions, make_app
from tests.support.history import bulk_audit

START = datetime(2026, 1, 1, tzinfo=UTC)
OLDER = re.compile(r'<a href="(/admin/audit\?[^"]+)">Older entries</a>')
NEWEST = re.compile(r'<a href="(/admin/audit[^"]*)">Newest entries</a>')


def rows_on(html: str) -> list[int]:
    return [int(number) for number in re.findall(r'<tr id="entry-(\d+)">', html)]


def tamper(statement: str, **params) -> None:
    """Change audit rows behind the application's back, as an owner who disabled the trigger."""
    postgres = db.session.get_bind().dialect.name == "postgresql"
    if postgres:
        db.session.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_append_only"))
    db.session.execute(text(statement), params)
    if postgres:
        db.session.execute(text("ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_append_only"))
    db.session.commit()


@pytest.mark.parametrize("count", [50, 51])
def test_page_boundaries(app, client, auth, count):
    with app.app_context():
        bulk_audit(count, START, action="test.edge")
        ids = list(db.session.scalars(
            select(AuditEntry.id).where(AuditEntry.action == "test.edge").order_by(AuditEntry.id.desc())
        ))
    auth.login("admin")
    first = client.get("/admin/audit?action=test.edge").get_data(as_text=True)
    assert rows_on(first) == ids[:50]
    assert not NEWEST.search(first), "the first page links to no newer page"
    older = OLDER.search(first)
    if count == 50:
        assert older is None, "exactly one page: no link to an empty page"
        return
    last = client.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert rows_on(last) == ids[50:] == [ids[-1]]
    assert OLDER.search(last) is None
    assert NEWEST.search(last), "a later page links back to the newest entries"
    assert "action=test.edge" in NEWEST.search(last).group(1)


def test_filters_combine_and_htmx_gets_the_partial(app, client, auth):
    with app.app_context():
        bulk_audit(40, START, step=timedelta(hours=1), action="test.a", actor="cli:one")
        bulk_audit(40, START, step=timedelta(hours=1), action="test.b", actor="cli:two")
    auth.login("admin")
    html = client.get("/admin/audit?actor=cli:two&since=2026-01-01T10:00Z&until=2026-01-01T20:00Z").get_data(
        as_text=True
    )
    assert len(rows_on(html)) == 10
    assert "test.<wbr>a" not in html
    page = client.get("/admin/audit?action=test.a", headers={"HX-Request": "true"})
    assert page.status_code == 200
    assert "HX-Request" in page.headers["Vary"]
    body = page.get_data(as_text=True)
    # The filters come back with the results: their values are the filters in force.
    assert body.lstrip().startswith('<div id="audit-history"') and "<html" not in body
    assert 'id="audit-filters"' in body and 'value="test.a"' in body
    assert len(rows_on(body)) == 40
    full = client.get("/admin/audit").get_data(as_text=True)
    assert 'data-hx-push-url="true"' in full and 'id="audit-history"' in full and 'id="audit-results"' in full


def entry_ids(app, *pairs: tuple[str, str]) -> list[int]:
    """Record an entry per (action, actor) and return their ids in the same order."""
    with app.app_context():
        entries = [audit.record(action, Actor(actor)) for action, actor in pairs]
        db.session.commit()
        return [entry.id for entry in entries]


def test_action_and_actor_filters_match_from_the_start_in_any_case(app, client, auth, runner):
    activated, ended, percent, digits = entry_ids(
        app,
        ("maintenance.activated", "cli:deploy"),
        ("maintenance.ended", "CLI:nightly"),
        ("test.100%_done", "100%_sure"),
        ("test.1000-done", "1000-sure"),
    )
    auth.login("admin")

    def listed(query: str) -> list[int]:
        response = client.get(f"/admin/audit?{query}")
        assert response.status_code == 200, query
        return rows_on(response.get_data(as_text=True))

    assert listed("action=maintenance") == [ended, activated]
    assert listed("action=MAINTENANCE.act") == [activated]
    assert listed("actor=cli") == [ended, activated]
    assert listed("actor=CLI:Dep&action=maintenance") == [activated]
    # % and _ are the characters themselves, not wildcards.
    assert listed("actor=100%25_") == [percent]
    assert listed("action=test.100%25") == [percent]
    assert listed("actor=%25") == [] and listed("action=_") == []
    assert listed("actor=1000") == [digits]
    # The CSV export and `flask audit export` filter the same way.
    csv_rows = list(csv.DictReader(io.StringIO(client.get("/admin/audit/export.csv?actor=cli").get_data(as_text=True))))
    assert [int(row["id"]) for row in csv_rows] == [activated, ended]
    result = runner.invoke(args=["audit", "export", "--action", "maintenance"])
    assert result.exit_code == 0
    assert [int(row["id"]) for row in csv.DictReader(io.StringIO(result.output))] == [activated, ended]
    # The hint under the filters says so.
    html = client.get("/admin/audit").get_data(as_text=True)
    assert "Action and actor match from the start, in any case" in html


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_bad_date_is_one_message_beside_its_field(client, auth, htmx):
    auth.login("admin")
    headers = {"HX-Request": "true"} if htmx else {}
    response = client.get("/admin/audit?actor=cli&since=yesterday-ish", headers=headers)
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert body.count("Use an ISO-8601 date") == 1
    field = re.search(r'<input id="since"[^>]*>', body).group(0)
    assert 'aria-invalid="true"' in field and 'value="yesterday-ish"' in field
    described = re.search(r'aria-describedby="([^"]*)"', field).group(1).split()
    assert re.search(rf'<p class="error" id="{described[0]}">Use an ISO-8601 date', body)
    assert 'value="cli"' in re.search(r'<input id="actor"[^>]*>', body).group(0)
    assert 'aria-invalid' not in re.search(r'<input id="until"[^>]*>', body).group(0)
    # No table that would claim "No entries match": nothing was looked up.
    assert "No entries match" not in body and "<table" not in body
    if htmx:
        # htmx swaps the form alone: the results and the address bar stay as they were.
        assert body.lstrip().startswith('<form id="audit-filters"') and "<html" not in body
        assert response.headers["HX-Retarget"] == "#audit-filters"
        assert response.headers["HX-Reswap"] == "outerHTML"
        assert response.headers["HX-Push-Url"] == "false"
    else:
        assert "<html" in body


def test_before_and_after_shown_as_a_diff(client, auth, activate):
    activate(message="Old words", reason="deployment")
    auth.login("admin")
    token = auth.csrf()
    client.post("/admin/maintenance/update", data={"message": "New words", "csrf_token": token})
    html = client.get("/admin/audit?action=maintenance.updated").get_data(as_text=True)
    assert re.search(r"message</span>:\s*<del>Old words</del> <span[^>]*>→</span> <ins>New words</ins>", html)
    assert "{&#34;before&#34;" not in html and '{"before"' not in html


def test_diff_of_an_activation_lists_the_new_values(app, client, auth, activate):
    activate(message="Deploying v9", reason="deployment")
    auth.login("admin")
    html = client.get("/admin/audit?action=maintenance.activated").get_data(as_text=True)
    assert re.search(r'message</span>:\s*<ins>Deploying v9</ins>', html)


NASTY = '=HYPERLINK("http://evil/"), "quoted", comma\nnew line'


def test_csv_export_is_streamed_filtered_and_formula_safe(app, client, auth, runner):
    with app.app_context():
        audit.record("test.csv", Actor("=cmd|' /C calc'!A0", "203.0.113.9", "@ua"), "+target",
                     {"message": NASTY})
        audit.record("test.other", Actor("cli:x"), "-t")
        db.session.commit()
    auth.login("admin")
    response = client.get("/admin/audit/export.csv?action=test.csv")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 1
    row = rows[0]
    assert row["actor"] == "'=cmd|' /C calc'!A0"
    assert row["user_agent"] == "'@ua"
    assert row["target"] == "'+target"
    assert json.loads(row["details"]) == {"message": NASTY}  # commas, quotes and newline survive
    # The CLI writes the very same CSV for the same filter.
    result = runner.invoke(args=["audit", "export", "--action", "test.csv"])
    assert result.exit_code == 0
    assert result.output.replace("\r\n", "\n") == body.replace("\r\n", "\n")
    assert runner.invoke(args=["audit", "export", "--since", "soon"]).exit_code == 2
    assert client.get("/admin/audit/export.csv?until=nope").status_code == 400


def test_csv_export_needs_an_admin(client, auth):
    assert client.get("/admin/audit/export.csv").status_code in (302, 401)
    auth.login("developer")
    assert client.get("/admin/audit/export.csv").status_code == 403


def test_page_shows_whether_the_chain_verifies_and_where_it_breaks(app, client, auth):
    auth.login("admin")
    page = client.get("/admin/audit").get_data(as_text=True)
    assert 'data-hx-get="/admin/audit/verify"' in page
    ok = client.get("/admin/audit/verify", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Hash chain verified" in ok
    with app.app_context():
        target = db.session.scalar(select(func.min(AuditEntry.id)).where(AuditEntry.action == "auth.login"))
        tamper("UPDATE audit_entries SET actor = 'mallory' WHERE id = :id", id=target)
    broken = client.get("/admin/audit/verify?force=1", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert f"Hash chain broken at entry {target}" in broken
    assert "contents were changed" in broken
    # Without JavaScript the same check is a page of its own.
    assert "<html" in client.get("/admin/audit/verify").get_data(as_text=True)


def test_between_full_walks_new_and_last_entries_are_still_checked(app, client, auth):
    auth.login("admin")
    assert "Hash chain verified" in client.get("/admin/audit/verify").get_data(as_text=True)
    with app.app_context():
        # A forged entry appended with raw SQL does not chain to the one before it.
        db.session.execute(AuditEntry.__table__.insert(), [{
            "created_at": START, "actor": "mallory", "action": "test.forged",
            "prev_hash": "f" * 64, "hash": "e" * 64,
        }])
        db.session.commit()
        forged = db.session.scalar(select(func.max(AuditEntry.id)))
    html = client.get("/admin/audit/verify").get_data(as_text=True)
    assert f"Hash chain broken at entry {forged}" in html
    assert "removed or the order changed" in html
    with app.app_context():
        tamper("DELETE FROM audit_entries WHERE id = :id", id=forged)
    assert "Hash chain verified" in client.get("/admin/audit/verify").get_data(as_text=True)
    with app.app_context():
        last = db.session.scalar(select(func.max(AuditEntry.id)))
        tamper("UPDATE audit_entries SET actor = 'mallory' WHERE id = :id", id=last)
    # The entry the cached walk ended on changed: the next view walks everything again.
    assert f"Hash chain broken at entry {last}" in client.get("/admin/audit/verify").get_data(as_text=True)


# --- 100,000 rows ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_app(tmp_path_factory):
    return make_app(tmp_path_factory.mktemp("big"))


@pytest.fixture
def big(big_app):
    """An app with 100,000 generated entries (built once per module on SQLite; a shared server
    database (TEST_DATABASE_URL) is reset by every other test, so there it is refilled)."""
    with big_app.app_context():
        if db.session.scalar(select(func.count()).select_from(AuditEntry)) < 100_000:
            bulk_audit(100_000, START)
        top = db.session.scalar(select(func.max(AuditEntry.id)))
    return big_app, top


def test_pages_stay_fast_at_100k_rows(big):
    app, top = big
    client = app.test_client()
    AuthActions(client).login("admin")
    with app.app_context():
        top = db.session.scalar(select(func.max(AuditEntry.id)))
    urls = [
        "/admin/audit",
        f"/admin/audit?before={top - 90_000}",
        "/admin/audit?action=auth.login",
        "/admin/audit?action=auth.login&before=600",
        "/admin/audit?actor=system&since=2026-01-20&until=2026-02-10",
        "/admin/audit?since=2026-01-10&until=2026-01-12",
        "/admin/audit?until=2026-01-01T03:00Z",
        "/admin/audit?since=2025-01-01",
    ]
    for url in urls:
        started = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, url
        assert elapsed < 1.0, f"{url} took {elapsed:.2f}s"
    newest = rows_on(client.get("/admin/audit").get_data(as_text=True))
    assert newest == list(range(top, top - 50, -1))
    # The oldest page: the seeded rows and the first generated ones, and no link further back.
    last = client.get("/admin/audit?before=51").get_data(as_text=True)
    assert rows_on(last) == list(range(50, 0, -1)) and not OLDER.search(last)


def test_filtered_queries_use_the_indexes(big):
    app, _top = big
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            plan = db.session.execute(text(
                "EXPLAIN QUERY PLAN SELECT * FROM audit_entries WHERE action = 'auth.login' AND id < 900 "
                "ORDER BY id DESC LIMIT 51"
            )).all()
            assert "ix_audit_entries_action_id" in str(plan)
            plan = db.session.execute(text(
                "EXPLAIN QUERY PLAN SELECT * FROM audit_entries WHERE actor = 'system' ORDER BY id DESC LIMIT 51"
            )).all()
            assert "ix_audit_entries_actor_id" in str(plan)


def test_chain_of_100k_rows_verifies_then_names_the_tampered_row(big):
    app, top = big
    with app.app_context():
        top = db.session.scalar(select(func.max(AuditEntry.id)))
        report = audit.verify_chain()
        assert report.ok and report.checked == top
        tamper("UPDATE audit_entries SET target = 'window:x' WHERE id = :id", id=top - 1000)
        report = audit.verify_chain()
        assert report.broken_id == top - 1000 and report.checked == top - 1001
