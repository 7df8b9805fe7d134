"""The worker's periodic tasks: each one calls a service (one transaction) and reports what it did.

Later features register theirs here (scheduled-window transitions, emails, webhook deliveries).
"""

from __future__ import annotations

from .services import maintenance as maintenance_service
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
