"""Retention (issue 15): finished rows past their days go, everything else stays; audited once.

Each seeded row carries a label, "gone…" or "kept…", in a text column of its own table, so a test
reads which rows survived. The same deletion on PostgreSQL: tests/servers/test_retention_postgres.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    AdminAlert,
    AuditEntry,
    Delivery,
    MaintenanceWindow,
    Notice,
    OutboundWebhook,
    StandingSubscriber,
    Subscriber,
    WebhookEvent,
    WebhookRejection,
    utcnow,
)
from app.services import audit as audit_service
from app.services import retention as retention_service
from tests.support.apps import make_app

WEBHOOK_TABLES = ("webhook_events", "outbound_webhooks", "webhook_rejections")
NOTIFICATION_TABLES = ("deliveries", "notices", "admin_alerts")
# Where each table's label lives.
LABELS = {
    "webhook_events": WebhookEvent.event_id,
    "outbound_webhooks": OutboundWebhook.message_id,
    "webhook_rejections": WebhookRejection.reason,
    "deliveries": Delivery.kind,
    "notices": Notice.kind,
    "admin_alerts": AdminAlert.cause,
}


def seed(app) -> dict[str, set[str]]:
    """Store, for every table, old finished rows ("gone…") and rows that must stay ("kept…")."""
    now = utcnow()
    old, recent = now - timedelta(days=200), now - timedelta(days=1)
    with app.app_context():
        ended = MaintenanceWindow(status="ended", created_by="t", starts_at=old, ended_at=old)
        planned = MaintenanceWindow(status="scheduled", created_by="t", starts_at=now + timedelta(days=3))
        db.session.add_all([ended, planned])
        db.session.flush()
        subscriber = Subscriber(window_id=ended.id, email_hash="h")
        standing = StandingSubscriber(email_hash="s", status="confirmed")
        db.session.add_all([subscriber, standing])
        db.session.flush()

        def event(label, status, at):
            return WebhookEvent(provider="stripe", event_id=label, payload="{}", status=status,
                                received_at=at, processed_at=at if status == "processed" else None)

        def outbound(label, status, at, window_id=None):
            return OutboundWebhook(message_id=label, url="https://example.com/h", event_type="x",
                                   payload="{}", status=status, created_at=at, window_id=window_id)

        def delivery(label, status, at):
            return Delivery(window_id=ended.id, subscriber_id=subscriber.id, kind=label, status=status,
                            created_at=at)

        def notice(label, status, at, window_id=ended.id):
            return Notice(standing_subscriber_id=standing.id, window_id=window_id, kind=label,
                          status=status, created_at=at)

        def alert(label, at, sent=True, attempts=1):
            return AdminAlert(cause=label, kind="k", summary="s", created_at=at,
                              sent_at=at if sent else None, attempts=attempts)

        db.session.add_all([
            event("gone-processed", "processed", old), event("kept-recent", "processed", recent),
            event("kept-dead-letter", "dead", old), event("kept-pending", "pending", old),
            outbound("gone-sent", "sent", old), outbound("gone-failed", "failed", old),
            outbound("gone-cancelled", "cancelled", old, ended.id), outbound("kept-recent", "sent", recent),
            outbound("kept-queued", "queued", old), outbound("kept-planned-window", "sent", old, planned.id),
            WebhookRejection(provider="stripe", reason="gone-old", minute=old, count=3),
            WebhookRejection(provider="stripe", reason="kept-recent", minute=recent, count=1),
            delivery("gone-sent", "sent", old), delivery("gone-skipped", "skipped", old),
            delivery("gone-failed", "failed", old), delivery("gone-uncertain", "uncertain", old),
            delivery("kept-recent", "sent", recent), delivery("kept-queued", "queued", old),
            delivery("kept-sending", "sending", old),
            notice("gone-sent", "sent", old), notice("kept-recent", "sent", recent),
            notice("kept-queued", "queued", old), notice("kept-planned-window", "sent", old, planned.id),
            alert("gone-sent", old), alert("gone-abandoned", old, sent=False, attempts=99),
            alert("kept-recent", recent), alert("kept-retrying", old, sent=False, attempts=2),
        ])
        db.session.commit()
    return labels(app)


def labels(app) -> dict[str, set[str]]:
    with app.app_context():
        return {table: set(db.session.scalars(select(column))) for table, column in LABELS.items()}


def kept(seeded: dict[str, set[str]], *pruned: str) -> dict[str, set[str]]:
    """What should survive when the tables in `pruned` are pruned."""
    return {table: {label for label in rows if table not in pruned or label.startswith("kept")}
            for table, rows in seeded.items()}


def gone_counts(seeded: dict[str, set[str]], *pruned: str) -> dict[str, int]:
    return {table: sum(label.startswith("gone") for label in seeded[table]) for table in pruned}


def retention_entries(app) -> list[AuditEntry]:
    with app.app_context():
        rows = list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == "retention.pruned")))
        db.session.expunge_all()
        return rows


def prune(app, **options):
    with app.app_context():
        return retention_service.prune(**options)


def test_old_finished_rows_go_and_the_rest_stays(app):
    seeded = seed(app)
    report = prune(app)
    everything = (*WEBHOOK_TABLES, *NOTIFICATION_TABLES)
    assert labels(app) == kept(seeded, *everything)
    assert report.counts == gone_counts(seeded, *everything) and not report.more


def test_one_audit_entry_with_the_counts_and_the_trail_is_never_pruned(app):
    seeded = seed(app)
    with app.app_context():
        entries_before = db.session.scalar(select(func.count()).select_from(AuditEntry))
    prune(app)
    [entry] = retention_entries(app)
    assert entry.actor == "system"
    assert entry.details["deleted"] == gone_counts(seeded, *WEBHOOK_TABLES, *NOTIFICATION_TABLES)
    assert entry.details["retention_days"]["webhook_events"] == 30
    assert entry.details["retention_days"]["admin_alerts"] == 90
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == entries_before + 1
        assert audit_service.verify_chain().ok


def test_a_run_with_nothing_to_delete_writes_no_audit_entry(app):
    seed(app)
    prune(app)
    second = prune(app)
    assert second.total == 0
    assert len(retention_entries(app)) == 1


@pytest.mark.parametrize(("setting", "pruned"), [
    ("RETENTION_WEBHOOKS_DAYS", NOTIFICATION_TABLES),
    ("RETENTION_NOTIFICATIONS_DAYS", WEBHOOK_TABLES),
])
def test_zero_days_keeps_those_rows_forever(tmp_path, setting, pruned):
    app = make_app(tmp_path, **{setting: 0})
    seeded = seed(app)
    report = prune(app)
    assert labels(app) == kept(seeded, *pruned)
    assert set(report.counts) == set(pruned)


@pytest.mark.parametrize(("days", "survives"), [(300, True), (100, False)])
def test_the_days_come_from_the_setting(tmp_path, days, survives):
    app = make_app(tmp_path, RETENTION_WEBHOOKS_DAYS=days)
    seed(app)
    prune(app)
    assert ("gone-processed" in labels(app)["webhook_events"]) is survives


def test_dry_run_counts_and_changes_nothing(app):
    seeded = seed(app)
    report = prune(app, dry_run=True)
    assert report.counts == gone_counts(seeded, *WEBHOOK_TABLES, *NOTIFICATION_TABLES)
    assert labels(app) == seeded
    assert retention_entries(app) == []


def add_processed_events(app, count: int) -> None:
    at = utcnow() - timedelta(days=60)
    with app.app_context():
        db.session.add_all([
            WebhookEvent(provider="standard", event_id=f"gone-{n}", payload="{}", status="processed",
                         received_at=at, processed_at=at)
            for n in range(count)
        ])
        db.session.commit()


def test_batches_delete_everything_in_bounded_statements(app, sql_counter):
    add_processed_events(app, 5)
    report = prune(app, batch_size=2)
    assert report.counts["webhook_events"] == 5 and not report.more
    deletes = [s for s in sql_counter.statements if s.startswith("DELETE FROM webhook_events")]
    assert len(deletes) == 3  # 2 + 2 + 1
    assert all("LIMIT" in statement for statement in deletes)
    assert labels(app)["webhook_events"] == set()
    assert len(retention_entries(app)) == 1


def test_a_capped_run_says_there_is_more_and_prune_all_finishes(app):
    add_processed_events(app, 5)
    first = prune(app, batch_size=2, max_batches=1)
    assert first.counts["webhook_events"] == 2 and first.more
    assert len(labels(app)["webhook_events"]) == 3
    with app.app_context():
        rest = retention_service.prune_all(batch_size=2, max_batches=1)
    assert rest.counts["webhook_events"] == 3 and not rest.more
    assert labels(app)["webhook_events"] == set()
    assert len(retention_entries(app)) == 3  # one per transaction, each with what it deleted


def test_cli_dry_run_prints_counts_and_changes_nothing(app, runner):
    seeded = seed(app)
    result = runner.invoke(args=["retention", "prune", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "webhook_events: 1 would be deleted (older than 30 days)" in result.output
    assert "deliveries: 4 would be deleted (older than 90 days)" in result.output
    assert labels(app) == seeded and retention_entries(app) == []


def test_cli_prune_deletes_prints_counts_and_audits_the_operator(app, runner):
    seeded = seed(app)
    result = runner.invoke(args=["retention", "prune"])
    assert result.exit_code == 0, result.output
    total = sum(gone_counts(seeded, *WEBHOOK_TABLES, *NOTIFICATION_TABLES).values())
    assert f"Total: {total} rows deleted." in result.output
    assert "outbound_webhooks: 3 deleted (older than 30 days)" in result.output
    [entry] = retention_entries(app)
    assert entry.actor == "cli:tester"


def test_cli_says_what_is_kept_forever(tmp_path):
    app = make_app(tmp_path, RETENTION_NOTIFICATIONS_DAYS=0)
    output = app.test_cli_runner().invoke(args=["retention", "prune"]).output
    assert "admin_alerts: kept forever (retention 0)" in output


def test_the_worker_prunes(app, runner):
    seeded = seed(app)
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "retention: deleted" in result.output
    # Other tasks of the pass may finish the queued rows first; the old finished ones are gone.
    left = labels(app)
    assert all(not label.startswith("gone") for rows in left.values() for label in rows)
    assert all("kept-recent" in left[table] for table in seeded)
