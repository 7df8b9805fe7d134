"""Redis: every change is published as the whole gate-state document, kept under one key too.

A message carries the document itself, so every worker of every instance
enforces a change at once, even one whose database connection is failing;
the key lets a worker that cannot reach the database (or boots without a
snapshot) learn the newest state. Without Redis, each worker still
revalidates every MAINTENANCE_STATE_TTL seconds. Any Redis failure is logged
once and otherwise ignored, so Redis never becomes a dependency of the gate.
See docs/fail-safe.md.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

import redis
from flask import Flask, current_app, has_app_context
from pausa_gate import document
from pausa_gate.cache import DATABASE, Published, StateCache
from pausa_gate.state import GateState
from pausa_gate.windows import utcnow
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ..extensions import NOTIFIER_KEY, STATE_CACHE_KEY
from ..redis_connections import options_for

log = logging.getLogger(__name__)

CHANNEL = "pausa:maintenance-state"
STATE_KEY = "pausa:gate-state"
# Changes made while the database was down, oldest first, until they are written to it.
PENDING_KEY = "pausa:pending-changes"
PROVISIONAL_KEY = "pausa:provisional-window"
REPLAY_LOCK_KEY = "pausa:pending-changes:lock"
# Keep the stored document only if it is newer than the one already there (several writers race).
_UNLESS_HELD_IS_NEWER = """
local held = redis.call('GET', KEYS[1])
if held then
  local ok, parsed = pcall(cjson.decode, held)
  if ok and type(parsed) == 'table' and tonumber(parsed['version'])
     and tonumber(parsed['version']) >= tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1])
"""
_STORE_IF_NEWER = _UNLESS_HELD_IS_NEWER + "return 1"
# The same, and queue the change that led to the document, in one step.
_STORE_PENDING = _UNLESS_HELD_IS_NEWER + (
    "redis.call('RPUSH', KEYS[2], ARGV[3])\nredis.call('PUBLISH', ARGV[4], ARGV[1])\nreturn 1"
)

STATE_CHANGED = "pausa_state_changed"


class StateNotifier:
    """Publish state changes, and listen for them in a daemon thread per worker process."""

    def __init__(
        self, url: str, cache: StateCache, timeout: float = 0.5, tls: Mapping[str, Any] | None = None
    ):
        self._url = url
        self._cache = cache
        self._timeout = timeout
        # rediss:// settings (REDIS_SSL_CERT_REQS), given to every connection this notifier opens.
        self._tls = dict(tls or {})
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, **self._tls
        )
        self._listener_pid: int | None = None
        self._stop = threading.Event()
        self._failing = False
        self.subscribed = threading.Event()

    def publish(self, state: GateState) -> None:
        """Store the state's document if it is the newest, and send it to every worker; never raise."""
        text = document.dumps(state, utcnow())
        try:
            pipeline = self._client.pipeline(transaction=False)
            pipeline.eval(_STORE_IF_NEWER, 1, STATE_KEY, text, state.version)
            pipeline.publish(CHANNEL, text)
            pipeline.execute()
            self._recovered()
        except redis.RedisError as error:
            self._failed("publish", error)

    def store(self, state: GateState) -> None:
        """Keep the state's document under the key if it is the newest (a re-publication); never raise."""
        try:
            self._client.eval(_STORE_IF_NEWER, 1, STATE_KEY, document.dumps(state, utcnow()), state.version)
            self._recovered()
        except redis.RedisError as error:
            self._failed("store", error)

    def publish_pending(self, state: GateState, change: str) -> bool:
        """Store a state made while the database is down with the change behind it, and send it.

        Returns False when a newer state was stored meanwhile (nothing is changed then).
        Raises redis.RedisError: the operator must hear that nothing was recorded.
        """
        text = document.dumps(state, utcnow())
        # One script: stored, queued and sent together, or not at all.
        return bool(self._client.eval(_STORE_PENDING, 2, STATE_KEY, PENDING_KEY, text, state.version,
                                      change, CHANNEL))

    def provisional_window_id(self) -> int:
        """Number a window started while the database is down: -2, -3, … (never a database id)."""
        return -1 - int(self._client.incr(PROVISIONAL_KEY))

    def changes_waiting(self) -> bool:
        """Tell whether changes made while the database was down still wait; False when Redis fails."""
        try:
            return bool(self._client.llen(PENDING_KEY))
        except redis.RedisError:
            return False

    def pending_changes(self) -> list[bytes]:
        """Return the changes waiting for the database, oldest first."""
        return list(self._client.lrange(PENDING_KEY, 0, -1))

    def drop_change(self, change: bytes) -> None:
        """Forget one change once the database holds it."""
        self._client.lrem(PENDING_KEY, 1, change)

    def lock_replay(self, seconds: int = 60) -> bool:
        """Let one process at a time write the waiting changes."""
        return bool(self._client.set(REPLAY_LOCK_KEY, os.getpid(), nx=True, ex=seconds))

    def unlock_replay(self) -> None:
        self._client.delete(REPLAY_LOCK_KEY)

    def read(self) -> Published | None:
        """Return the newest published state, or None when there is none (raises when Redis fails)."""
        text = self._client.get(STATE_KEY)
        if text is None:
            return None
        try:
            return document.loads(text)
        except document.DocumentError as error:
            log.warning("ignoring the gate state stored in Redis: %s", error)
            return None

    def ensure_listening(self) -> None:
        """Start this process's listener once (after a fork the parent's thread is gone)."""
        if self._listener_pid == os.getpid():
            return
        self._listener_pid = os.getpid()
        self._client = redis.Redis.from_url(
            self._url, socket_timeout=self._timeout, socket_connect_timeout=self._timeout, **self._tls
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
                listener = redis.Redis.from_url(self._url, socket_connect_timeout=self._timeout, **self._tls)
                pubsub = listener.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANNEL)
                # Anything may have changed while we were not listening.
                self._cache.invalidate()
                if self._cache.source == DATABASE:  # Redis may have restarted empty: seed the key
                    self.store(self._cache.current())
                self.subscribed.set()
                self._recovered()
                backoff = 0.5
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._received(message.get("data"))
            except (redis.RedisError, OSError) as error:
                self.subscribed.clear()
                self._failed("subscribe", error)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(redis.RedisError, OSError):
                        pubsub.close()

    def _received(self, data: bytes | str | None) -> None:
        """Enforce a published document at once, then confirm it against the database."""
        # An older Pausa publishes only the version: the revalidation below covers it.
        with contextlib.suppress(document.DocumentError):
            self._cache.adopt(*document.loads(data or b""))
        self._cache.invalidate()

    def _failed(self, what: str, error: Exception) -> None:
        if not self._failing:
            log.warning("Redis %s failed, relying on TTL revalidation: %s", what, error)
        self._failing = True

    def _recovered(self) -> None:
        if self._failing:
            log.warning("Redis is back: state changes propagate at once again")
        self._failing = False


def init_notifier(app: Flask, cache: StateCache, on_database_back: Callable[[], object]) -> None:
    """Wire the notifier when REDIS_URL is set: listen lazily in each worker process.

    `on_database_back` writes the changes made while the database was down
    (app/services/offline.py); it runs in the refresher, once the database answers again.
    """
    url = app.config.get("REDIS_URL")
    if not url:
        return
    tls = options_for(app.config, url)
    notifier = StateNotifier(url, cache, timeout=app.config["REDIS_TIMEOUT"], tls=tls)
    app.extensions[NOTIFIER_KEY] = notifier

    def write_pending_changes() -> None:
        # Still down (the database or Redis): the next refresh tries again.
        with contextlib.suppress(OperationalError, redis.RedisError):
            on_database_back()

    cache.set_redis(
        fallback=notifier.read, on_database_state=notifier.store, on_database_back=write_pending_changes,
        changes_waiting=notifier.changes_waiting,
    )
    # First in line, before the gate: a worker that only ever answers blocked requests
    # must still subscribe (gunicorn's post_worker_init starts it even earlier).
    app.before_request_funcs.setdefault(None, []).insert(0, notifier.ensure_listening)


def mark_state_changed(session: Session) -> None:
    """Note, inside the transaction, that the state version moved (published on commit)."""
    session.info[STATE_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    """Once a state change is committed, enforce it here at once and send it to every other worker."""
    if not session.info.pop(STATE_CHANGED, False) or not has_app_context():
        return
    cache: StateCache | None = current_app.extensions.get(STATE_CACHE_KEY)
    if cache is None:
        return
    cache.invalidate()
    state = cache.refresh()  # the database has just answered: read the new state right away
    notifier: StateNotifier | None = current_app.extensions.get(NOTIFIER_KEY)
    if notifier is not None and cache.source == DATABASE:
        notifier.publish(state)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(STATE_CHANGED, None)
