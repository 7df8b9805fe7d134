"""The worker's periodic tasks: each one calls a service (one transaction) and reports what it did.

Later features register theirs here (emails, webhook deliveries).
"""

from __future__ import annotations

from flask import current_app

from .services import maintenance as maintenance_service
from .services import scheduling as scheduling_service
from .worker import TaskContext, prune_heartbeats, task


@task("finish-expired-windows", every=5.0)
def finish_expired_windows(ctx: TaskContext) -> None:
    """Record the automatic end of windows whose hard end (`ends_at`) has passed."""
    for window in maintenance_service.finish_expired_windows():
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
    for window in scheduling_service.start_due_windows():
        ctx.echo(f"window {window.id} started as scheduled at {window.starts_at.isoformat()}")


@task("alert-long-windows", every=30.0)
def alert_long_windows(ctx: TaskContext) -> None:
    """Alert once when a window's ETA passes, and once when it outlasts MAINTENANCE_MAX_HOURS."""
    for window in scheduling_service.alert_overdue_windows():
        ctx.echo(f"window {window.id} is overdue (ETA {window.eta.isoformat()})")
    max_hours = float(current_app.config["MAINTENANCE_MAX_HOURS"])
    for window in scheduling_service.alert_ceiling_windows(max_hours):
        ctx.echo(f"window {window.id} has been active for more than {max_hours:g} h")


@task("send-admin-alerts", every=10.0)
def send_admin_alerts(ctx: TaskContext) -> None:
    """Send each admin alert once by email and/or Slack; failures back off (app/services/alerts.py)."""
    from .services import alerts as alerts_service

    for alert in alerts_service.send_pending_alerts():
        ctx.echo(f"admin alert {alert.cause} sent")


@task("erase-old-subscribers", every=3600.0)
def erase_old_subscribers(ctx: TaskContext) -> None:
    """Erase subscribers' addresses after SUBSCRIBER_RETENTION_DAYS (never one still being mailed)."""
    from .services import subscriptions as subscription_service

    count = subscription_service.erase_expired_subscribers()
    if count:
        ctx.echo(f"erased {count} subscriber address(es) past retention")


@task("send-deliveries", every=5.0)
def send_deliveries(ctx: TaskContext) -> None:
    """Send the due "we're back" emails in batches, with backoff and a circuit breaker."""
    from .services import notifications as notification_service

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
    from .services import webhooks as webhook_service

    while not ctx.should_stop():
        report = webhook_service.process_inbox()
        if report.handled:
            ctx.echo(f"webhooks: {report.processed} processed, {report.retried} to retry, {report.dead} dead")
        if report.held or report.busy or report.handled < int(current_app.config["WEBHOOK_BATCH_SIZE"]):
            break


@task("send-outbound-webhooks", every=5.0)
def send_outbound_webhooks(ctx: TaskContext) -> None:
    """POST the queued window transitions to OUTBOUND_WEBHOOK_URLS, signed (Standard Webhooks)."""
    from .services import webhooks as webhook_service

    report = webhook_service.deliver_outbound(should_stop=ctx.should_stop)
    if report.sent or report.retried or report.failed:
        ctx.echo(f"outbound webhooks: {report.sent} sent, {report.retried} to retry, {report.failed} failed")
