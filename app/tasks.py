"""The worker's periodic tasks: each one calls a service (one transaction) and reports what it did.

Later features register theirs here (emails, webhook deliveries).
"""

from __future__ import annotations

from pathlib import Path

from flask import current_app

from .services import alerts as alerts_service
from .services import backlog as backlog_service
from .services import backup as backup_service
from .services import clock as clock_service
from .services import notifications as notification_service
from .services import recurrences as recurrence_service
from .services import retention as retention_service
from .services import subscriptions as subscription_service
from .services import webhooks as webhook_service
from .worker import TaskContext, prune_heartbeats, task


@task("finish-expired-windows", every=5.0)
def finish_expired_windows(ctx: TaskContext) -> None:
    """Record the automatic end of windows whose hard end (`ends_at`) has passed."""
    for window in clock_service.finish_expired_windows():
        ctx.echo(f"window {window.id} ended automatically at {window.ends_at.isoformat()}")


@task("prune-worker-heartbeats", every=3600.0)
def prune_worker_heartbeats() -> None:
    """Forget workers that have been silent for a week (every restart gets a new name)."""
    prune_heartbeats()


# Registered after finish-expired-windows, so a window that starts right where another
# ends ([a, b) then [b, c)) is recorded in the same pass.
@task("start-due-windows", every=5.0)
def start_due_windows(ctx: TaskContext) -> None:
    """Record the start of scheduled windows whose start has passed (the gate already enforces them)."""
    for window in clock_service.start_due_windows():
        ctx.echo(f"window {window.id} started as scheduled at {window.starts_at.isoformat()}")


@task("alert-long-windows", every=30.0)
def alert_long_windows(ctx: TaskContext) -> None:
    """Alert once when a window's ETA passes, and once when it outlasts MAINTENANCE_MAX_HOURS."""
    for window in clock_service.alert_overdue_windows():
        ctx.echo(f"window {window.id} is overdue (ETA {window.eta.isoformat()})")
    max_hours = float(current_app.config["MAINTENANCE_MAX_HOURS"])
    for window in clock_service.alert_ceiling_windows(max_hours):
        ctx.echo(f"window {window.id} has been active for more than {max_hours:g} h")


@task("send-admin-alerts", every=10.0)
def send_admin_alerts(ctx: TaskContext) -> None:
    """Send each admin alert once by email and/or Slack; failures back off (app/services/alerts.py)."""
    for alert in alerts_service.send_pending_alerts():
        ctx.echo(f"admin alert {alert.cause} sent")


@task("erase-old-subscribers", every=3600.0)
def erase_old_subscribers(ctx: TaskContext) -> None:
    """Erase subscribers' addresses after SUBSCRIBER_RETENTION_DAYS (never one still being mailed)."""
    count = subscription_service.erase_expired_subscribers()
    if count:
        ctx.echo(f"erased {count} subscriber address(es) past retention")
    unconfirmed = subscription_service.erase_unconfirmed_standing()
    if unconfirmed:
        ctx.echo(f"forgot {unconfirmed} address(es) that never confirmed their subscription")


@task("send-deliveries", every=5.0)
def send_deliveries(ctx: TaskContext) -> None:
    """Send the due "we're back" emails in batches, with backoff and a circuit breaker."""
    report = notification_service.send_due_deliveries(should_stop=ctx.should_stop)
    if report.calls or report.skipped or report.uncertain:
        ctx.echo(
            f"deliveries: {report.sent} sent, {report.retried} to retry, {report.failed} failed, "
            f"{report.skipped} skipped, {report.uncertain} uncertain in {report.calls} call(s); "
            f"circuit {report.circuit}"
        )


@task("process-webhooks", every=2.0)
def process_webhooks(ctx: TaskContext) -> None:
    """Process the webhook inbox in arrival order; held while the window pauses webhook processing."""
    while not ctx.should_stop():
        report = webhook_service.process_inbox()
        if report.handled:
            ctx.echo(f"webhooks: {report.processed} processed, {report.retried} to retry, {report.dead} dead")
        if report.held or report.busy or report.handled < int(current_app.config["WEBHOOK_BATCH_SIZE"]):
            break


@task("send-outbound-webhooks", every=5.0)
def send_outbound_webhooks(ctx: TaskContext) -> None:
    """POST the queued window transitions to OUTBOUND_WEBHOOK_URLS, signed (Standard Webhooks)."""
    report = webhook_service.deliver_outbound(should_stop=ctx.should_stop)
    if report.sent or report.retried or report.failed:
        ctx.echo(f"outbound webhooks: {report.sent} sent, {report.retried} to retry, {report.failed} failed")


@task("send-notices", every=5.0)
def send_notices(ctx: TaskContext) -> None:
    """Queue due announcements and reminders, then send confirmation emails and notices."""
    for window in subscription_service.queue_due_announcements():
        ctx.echo(f"window {window.id}: announcement queued")
    for window in subscription_service.queue_due_reminders():
        ctx.echo(f"window {window.id}: reminder queued")
    confirmations = notification_service.send_confirmations()
    report = notification_service.send_due_notices(should_stop=ctx.should_stop)
    if confirmations.calls or report.calls or report.skipped or report.uncertain:
        ctx.echo(
            f"notices: {confirmations.sent} confirmation(s); {report.sent} sent, {report.retried} to retry, "
            f"{report.failed} failed, {report.skipped} skipped, {report.uncertain} uncertain "
            f"in {report.calls + confirmations.calls} call(s); circuit {report.circuit}"
        )


@task("plan-recurring-windows", every=300.0)
def plan_recurring_windows(ctx: TaskContext) -> None:
    """Schedule the next occurrences of every active recurrence (docs/recurrences.md)."""
    for window in recurrence_service.plan_ahead():
        starts_at = window.starts_at.isoformat()
        ctx.echo(f"window {window.id} planned for recurrence {window.recurrence_id} at {starts_at}")


@task("prune-old-records", every=3600.0)
def prune_old_records(ctx: TaskContext) -> None:
    """Delete finished rows past their retention, in short transactions (docs/retention.md)."""
    report = retention_service.prune_all(should_stop=ctx.should_stop)
    if report.total:
        counts = ", ".join(f"{count} {name}" for name, count in report.counts.items() if count)
        ctx.echo(f"retention: deleted {counts}")


@task("alert-backlogs", every=30.0)
def alert_backlogs(ctx: TaskContext) -> None:
    """Alert once per crossing of BACKLOG_WARN_EMAILS / BACKLOG_WARN_WEBHOOKS (docs/observability.md)."""
    for cause in backlog_service.alert_backlogs():
        ctx.echo(f"admin alert {cause} raised")


@task("take-scheduled-backup", every=300.0)
def take_scheduled_backup(ctx: TaskContext) -> None:
    """Keep an archive in BACKUP_DIR at most BACKUP_EVERY_HOURS old, and only the newest BACKUP_KEEP."""
    directory = current_app.config["BACKUP_DIR"]
    if not directory:
        return
    every_hours = float(current_app.config["BACKUP_EVERY_HOURS"])
    keep = int(current_app.config["BACKUP_KEEP"])
    if every_hours <= 0 or keep < 1:
        raise ValueError("BACKUP_EVERY_HOURS must be above 0 and BACKUP_KEEP at least 1 (docs/backup.md)")
    report = backup_service.scheduled_backup(Path(directory), every_hours, keep)
    if report.created is not None:
        ctx.echo(f"backup written to {report.created.path}: {report.created.rows} rows "
                 f"in {report.created.seconds:.1f} s")
    for path in report.deleted:
        ctx.echo(f"old backup {path.name} deleted (BACKUP_KEEP={keep})")
