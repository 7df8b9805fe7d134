"""Queue depths: one counter per queue (`@queue`), read by /health/ready, /metrics and the backlog alerts."""

from __future__ import annotations

from collections.abc import Callable

from . import clock, notifications, webhooks

# Queue name -> a function counting the items waiting in it (later features add theirs).
QUEUES: dict[str, Callable[[], int]] = {}


def queue(name: str) -> Callable[[Callable[[], int]], Callable[[], int]]:
    """Register a queue-depth counter, reported by /health/ready and /metrics."""

    def register(counter: Callable[[], int]) -> Callable[[], int]:
        QUEUES[name] = counter
        return counter

    return register


@queue("expired_windows_pending")
def _expired_windows_pending() -> int:
    return clock.count_expired_windows()


@queue("deliveries_queued")
def _deliveries_queued() -> int:
    return notifications.queue_depth()


@queue("deliveries_uncertain")
def _deliveries_uncertain() -> int:
    return notifications.uncertain_count()


@queue("mail_circuit_open")
def _mail_circuit_open() -> int:
    """1 while the mail circuit breaker is open (no calls to SendGrid), else 0; a gauge for /metrics."""
    return int(notifications.circuit_state()["state"] == "open")


@queue("webhook_inbox_pending")
def _webhook_inbox_pending() -> int:
    return webhooks.pending_count()


@queue("webhook_dead_letters")
def _webhook_dead_letters() -> int:
    return webhooks.dead_count()


@queue("outbound_webhooks_queued")
def _outbound_webhooks_queued() -> int:
    return webhooks.outbound_queued_count()


def queue_depths() -> dict[str, int]:
    """Count every registered queue (raises when the database is unreachable)."""
    return {name: counter() for name, counter in QUEUES.items()}
