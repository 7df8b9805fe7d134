"""A tiny registry of hooks run on the transitions of maintenance windows.

Later features (emails, admin alerts, outbound webhooks) plug in here:

    from app import hooks

    @hooks.on("window.started")
    def tell_the_status_page(window, **details):
        ...

Events: window.scheduled, window.started, window.updated, window.ended,
window.cancelled, window.reminder, window.overdue and window.ceiling_exceeded; and mail.circuit_open
(with window None) when the mail circuit breaker opens. Services emit
them after their transaction has committed, so a hook never sees a change that
was rolled back; a worker transition is emitted exactly once, by the worker
that performed it. A hook that raises is logged and skipped: it never breaks
the transition nor the hooks after it. A hook that must not lose its work
(an email queue, say) should write its own rows in its own transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("pausa.hooks")

EVENTS = (
    "window.scheduled",
    "window.started",
    "window.updated",
    "window.ended",
    "window.cancelled",
    "window.reminder",  # once per scheduled window, NOTICE_REMINDER_MINUTES before its start
    "window.overdue",
    "window.ceiling_exceeded",
    "mail.circuit_open",  # window=None; details: name, opened_at, retry_at, error
)

Hook = Callable[..., Any]
_hooks: dict[str, list[Hook]] = {event: [] for event in EVENTS}


def _check(event: str) -> None:
    if event not in _hooks:
        raise ValueError(f"unknown hook event {event!r}; events are: {', '.join(EVENTS)}")


def on(event: str, func: Hook | None = None) -> Any:
    """Register `func(window, **details)` for `event`; usable as a decorator."""
    _check(event)

    def register(hook: Hook) -> Hook:
        if hook not in _hooks[event]:
            _hooks[event].append(hook)
        return hook

    return register(func) if func is not None else register


def off(event: str, func: Hook) -> None:
    """Unregister a hook (does nothing if it was not registered)."""
    _check(event)
    if func in _hooks[event]:
        _hooks[event].remove(func)


def handlers(event: str) -> list[Hook]:
    """The hooks registered for `event`, in the order they run."""
    _check(event)
    return list(_hooks[event])


def emit(event: str, window: Any, **details: Any) -> int:
    """Run every hook of `event`; return how many succeeded. Errors are logged, never raised."""
    _check(event)
    succeeded = 0
    for hook in list(_hooks[event]):
        try:
            hook(window, **details)
        except Exception:  # a broken hook must never break a transition
            log.exception(
                "hook %s for %s (window %s) failed",
                getattr(hook, "__qualname__", hook), event, getattr(window, "id", None),
            )
        else:
            succeeded += 1
    return succeeded


def log_alert(window: Any, **details: Any) -> None:
    """The default admin alert: a warning in the log (app/services/alerts.py adds email and Slack)."""
    what = details.get("alert", "alert")
    extra = ", ".join(f"{name}={value}" for name, value in details.items() if name != "alert")
    log.warning("maintenance alert: window %s %s%s", getattr(window, "id", None), what,
                f" ({extra})" if extra else "")


on("window.overdue", log_alert)
on("window.ceiling_exceeded", log_alert)
