"""Redis pub/sub: one message makes every worker of every instance revalidate its state at once.

Without Redis, each worker still revalidates every MAINTENANCE_STATE_TTL
seconds; Redis only makes enforcement faster. Any Redis failure is logged
once and otherwise ignored, so Redis never becomes a dependency of the gate.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading

import redis
from flask import Flask, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from .maintenance.cache import StateCache

log = logging.getLogger(__name__)

CHANNEL = "pausa:maintenance-state"
NOTIFIER_KEY = "pausa.notifier"
STATE_CHANGED = "pausa_state_changed"


class StateNotifier:
    """Publish state changes, and listen for them in a daemon thread per worker process."""

    def __init__(self, url: str, cache: StateCache, timeout: float = 0.5):
        self._url = url
        self._cache = cache
        self._timeout = timeout
        self._client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._listener_pid: int | None = None
        self._stop = threading.Event()
        self._failing = False
        self.subscribed = threading.Event()

    def publish(self, version: int | str = "") -> None:
        """Tell every worker that the state moved; never raise."""
        try:
            self._client.publish(CHANNEL, str(version))
            self._recovered()
        except redis.RedisError as error:
            self._failed("publish", error)

    def ensure_listening(self) -> None:
        """Start this process's listener once (after a fork the parent's thread is gone)."""
        if self._listener_pid == os.getpid():
            return
        self._listener_pid = os.getpid()
        self._client = redis.Redis.from_url(
            self._url, socket_timeout=self._timeout, socket_connect_timeout=self._timeout
        )
        self._stop.clear()
        thread = threading.Thread(target=self._listen, name="pausa-state-listener", daemon=True)
        thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _listen(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            pubsub = None
            try:
                # No read timeout on the subscription: it waits for messages by design.
                listener = redis.Redis.from_url(self._url, socket_connect_timeout=self._timeout)
                pubsub = listener.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANNEL)
                self.subscribed.set()
                # Anything may have changed while we were not listening.
                self._cache.invalidate()
                self._recovered()
                backoff = 0.5
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._cache.invalidate()
            except (redis.RedisError, OSError) as error:
                self.subscribed.clear()
                self._failed("subscribe", error)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(redis.RedisError, OSError):
                        pubsub.close()

    def _failed(self, what: str, error: Exception) -> None:
        if not self._failing:
            log.warning("Redis %s failed, relying on TTL revalidation: %s", what, error)
        self._failing = True

    def _recovered(self) -> None:
        if self._failing:
            log.warning("Redis is back: state changes propagate at once again")
        self._failing = False


def init_pubsub(app: Flask, cache: StateCache) -> None:
    """Wire the notifier when REDIS_URL is set: listen lazily in each worker process."""
    url = app.config.get("REDIS_URL")
    if not url:
        return
    notifier = StateNotifier(url, cache, timeout=app.config["REDIS_TIMEOUT"])
    app.extensions[NOTIFIER_KEY] = notifier
    # First in line, before the gate: a worker that only ever answers blocked requests
    # must still subscribe (gunicorn's post_worker_init starts it even earlier).
    app.before_request_funcs.setdefault(None, []).insert(0, notifier.ensure_listening)


def mark_state_changed(session: Session) -> None:
    """Note, inside the transaction, that the state version moved (published on commit)."""
    session.info[STATE_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    """Once a state change is committed, revalidate here and tell every other worker."""
    if not session.info.pop(STATE_CHANGED, False) or not has_app_context():
        return
    from .gate import STATE_CACHE_KEY

    cache: StateCache | None = current_app.extensions.get(STATE_CACHE_KEY)
    if cache is not None:
        cache.invalidate()
    notifier: StateNotifier | None = current_app.extensions.get(NOTIFIER_KEY)
    if notifier is not None:
        notifier.publish()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(STATE_CHANGED, None)
