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

import redis
from flask import Flask, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from .maintenance import document
from .maintenance.cache import DATABASE, Published, StateCache
from .maintenance.state import GateState
from .maintenance.windows import utcnow

log = logging.getLogger(__name__)

CHANNEL = "pausa:maintenance-state"
STATE_KEY = "pausa:gate-state"
# Keep the stored document only if it is newer than the one already there (several writers race).
_STORE_IF_NEWER = """
local held = redis.call('GET', KEYS[1])
if held then
  local ok, parsed = pcall(cjson.decode, held)
  if ok and type(parsed) == 'table' and tonumber(parsed['version'])
     and tonumber(parsed['version']) >= tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""
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
                if self._cache.source == DATABASE:  # Redis may have restarted empty: seed the key
                    self.store(self._cache.current())
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


def init_pubsub(app: Flask, cache: StateCache) -> None:
    """Wire the notifier when REDIS_URL is set: listen lazily in each worker process."""
    url = app.config.get("REDIS_URL")
    if not url:
        return
    notifier = StateNotifier(url, cache, timeout=app.config["REDIS_TIMEOUT"])
    app.extensions[NOTIFIER_KEY] = notifier
    cache.set_redis(fallback=notifier.read, on_database_state=notifier.store)
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
    from .gate import STATE_CACHE_KEY

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
