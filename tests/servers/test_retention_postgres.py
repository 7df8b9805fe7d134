"""Retention on a real PostgreSQL: the same deletion, in bounded batches, audit trail untouched.

Fails (never skips) when PostgreSQL is down, like tests/servers/test_alerts_postgres.py.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEntry
from app.services import audit as audit_service
from app.services import retention as retention_service
from tests.app.test_retention import (
    NOTIFICATION_TABLES,
    WEBHOOK_TABLES,
    add_processed_events,
    gone_counts,
    kept,
    labels,
    retention_entries,
    seed,
)
from tests.support.apps import private_postgres_app


@pytest.fixture
def pg_app(postgres_url):
    with private_postgres_app(postgres_url, "retention") as app:
        yield app


def test_old_finished_rows_go_the_rest_stays_and_one_entry_reports_it(pg_app):
    seeded = seed(pg_app)
    with pg_app.app_context():
        report = retention_service.prune(batch_size=2)
    everything = (*WEBHOOK_TABLES, *NOTIFICATION_TABLES)
    assert labels(pg_app) == kept(seeded, *everything)
    assert report.counts == gone_counts(seeded, *everything)
    [entry] = retention_entries(pg_app)
    assert entry.details["deleted"] == gone_counts(seeded, *everything)
    with pg_app.app_context():
        assert audit_service.verify_chain().ok


def test_dry_run_changes_nothing(pg_app):
    seeded = seed(pg_app)
    with pg_app.app_context():
        report = retention_service.prune(dry_run=True)
    assert report.counts == gone_counts(seeded, *WEBHOOK_TABLES, *NOTIFICATION_TABLES)
    assert labels(pg_app) == seeded and retention_entries(pg_app) == []


def test_batches_and_capped_runs_finish_the_backlog(pg_app):
    add_processed_events(pg_app, 7)
    with pg_app.app_context():
        first = retention_service.prune(batch_size=3, max_batches=1)
        assert first.counts["webhook_events"] == 3 and first.more
        rest = retention_service.prune_all(batch_size=3, max_batches=1)
        assert rest.counts["webhook_events"] == 4 and not rest.more
        assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == 3
    assert labels(pg_app)["webhook_events"] == set()
