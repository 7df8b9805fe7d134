"""A per-worker holder of the gate state that outlives its stores (see docs/fail-safe.md).

The state comes from the database when it answers; otherwise from the
document another worker published to Redis; on boot, from the local snapshot
file. A store failure never replaces a known state with "no maintenance":
the last known state is kept (marked stale). Only when nothing at all is
known does the fail mode decide (closed: a stand-in full window; open: no
window).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from . import document
from .state import GateState, unknown_state
from .windows import utcnow

log = logging.getLogger(__name__)

DATABASE = "database"
REDIS = "redis"
SNAPSHOT = "snapshot"
NONE = "none"
SOURCES = (DATABASE, REDIS, SNAPSHOT, NONE)

# Why a revalidation ran, and what it found (counted by the server's /metrics).
TTL = "ttl"
NOTIFIED = "notified"
CONFIRMED = "confirmed"  # the database confirmed the version held
RELOADED = "reloaded"  # the version moved (or the state came from elsewhere): read again
HELD = "held"  # changes made while the database was down wait to be written: the state is kept
FAILED = "failed"  # no database: the last known state is kept, marked stale

Published = tuple[GateState, datetime | None]


class SnapshotFile:
    """The last state this host knew, on its own disk: read on boot, rewritten when the version moves."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._seen: tuple[int, int] | None = None

    def read_if_changed(self) -> Published | None:
        """Read the file only when it changed since the last look (one stat otherwise)."""
        try:
            status = self.path.stat()
        except OSError:
            return None
        seen = (status.st_mtime_ns, status.st_size)
        if seen == self._seen:
            return None
        self._seen = seen
        return self.read()

    def read(self) -> Published | None:
        """Return the saved state and when it was saved, or None when there is no usable file."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as error:
            log.warning("cannot read the gate-state snapshot %s: %s", self.path, error)
            return None
        try:
            return document.loads(text)
        except document.DocumentError as error:
            log.warning("ignoring the gate-state snapshot %s: %s", self.path, error)
            return None

    def write(self, state: GateState, saved_at: datetime) -> None:
        """Replace the file atomically (a crash leaves the old or the new file, never half of one)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=".gate-state-", dir=self.path.parent)
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(document.dumps(state, saved_at))
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, self.path)
        except OSError as error:
            log.warning("cannot write the gate-state snapshot %s: %s", self.path, error)
            with contextlib.suppress(OSError, UnboundLocalError):
                os.unlink(temporary)


class StateCache:
    """Hold the last known GateState; reload it only when the stored version moves.

    `read_version` is one primary-key read; `load_state` builds the full
    snapshot and runs only when the version changed (or the kept state did not
    come from the database). Revalidation runs in a background thread every
    TTL seconds once `start()` is called, so a request never waits for a store;
    without it (tests, one-off commands), `get` revalidates inline at most once
    per TTL. `fallback` reads the document published to Redis when the
    database fails; `on_database_state` is told of every state loaded from the
    database (to re-publish it).

    For metrics, `hits` counts lookups answered from memory (a plain integer: the
    request path pays one increment) and `on_refresh`, when set, is told of every
    revalidation: why it ran (ttl or notified) and what it found.
    """

    def __init__(
        self,
        read_version: Callable[[], int],
        load_state: Callable[[], GateState],
        ttl: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        fallback: Callable[[], Published | None] | None = None,
        snapshot: SnapshotFile | None = None,
        on_database_state: Callable[[GateState], None] | None = None,
        fail_closed: bool = False,
        wall_clock: Callable[[], datetime] = utcnow,
    ):
        self._read_version = read_version
        self._load_state = load_state
        self._ttl = ttl
        self._clock = clock
        self._fallback = fallback
        self._snapshot = snapshot
        self._on_database_state = on_database_state
        self._on_database_back: Callable[[], object] | None = None
        self._changes_waiting: Callable[[], bool] = lambda: False
        self.fail_closed = fail_closed
        self._wall_clock = wall_clock
        self._lock = threading.Lock()  # guards the state itself, held only to change it
        self._refresh_lock = threading.Lock()  # one refresh at a time, held across its I/O
        self._state: GateState | None = None
        self.source = NONE
        self.confirmed_at: datetime | None = None
        self._checked_at = float("-inf")
        self._adoptions = 0  # counts published states taken, to spot one taken during a database read
        self.last_error: str | None = None
        self._thread: threading.Thread | None = None
        self._thread_pid: int | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._attempted = threading.Event()
        self.hits = 0
        self.on_refresh: Callable[[str, str], None] | None = None
        self._notified = False
        if snapshot is not None:
            saved = snapshot.read()
            if saved is not None:
                state, saved_at = saved
                self._state = replace(state, stale=True)
                self.source = SNAPSHOT
                self.confirmed_at = saved_at

    def set_redis(
        self,
        fallback: Callable[[], Published | None],
        on_database_state: Callable[[GateState], None],
        on_database_back: Callable[[], object] | None = None,
        changes_waiting: Callable[[], bool] | None = None,
    ) -> None:
        """Read Redis's copy when the database fails; re-publish what the database says; write
        the changes made while it was down (`on_database_back`) once it answers, for as long as
        some wait (`changes_waiting`, False when Redis cannot tell)."""
        self._fallback = fallback
        self._on_database_state = on_database_state
        self._on_database_back = on_database_back
        if changes_waiting is not None:
            self._changes_waiting = changes_waiting

    # The request path: never touches a store while the refresher runs.

    def get(self) -> GateState:
        """Return the state to enforce; revalidate inline only when no refresher runs."""
        if not self.background:
            state = self._state
            if state is None or self._clock() - self._checked_at >= self._ttl:
                with self._refresh_lock:
                    if self._state is None or self._clock() - self._checked_at >= self._ttl:
                        self._revalidate()
                        return self.current()
        self.hits += 1
        return self.current()

    def current(self) -> GateState:
        """Return what is known now, or the fail mode's stand-in when nothing is."""
        state = self._state
        if state is not None:
            return state
        return unknown_state() if self.fail_closed else GateState(stale=True)

    def peek(self) -> GateState | None:
        """Return a known state the fast path may answer from, without ever touching a store."""
        state = self._state
        if state is None:
            return None
        if self.background or (not state.stale and self._clock() - self._checked_at < self._ttl):
            self.hits += 1
            return state
        return None

    def invalidate(self) -> None:
        """Revalidate as soon as possible (a local change or a pub/sub message)."""
        self._checked_at = float("-inf")
        self._notified = True
        self._wake.set()

    # Revalidation.

    def refresh(self) -> GateState:
        """Revalidate once: the database first, then Redis's document; keep the last state otherwise.

        Refreshes run one at a time; the state itself is locked only to change it, so a
        refresh waiting on a hung database never holds up a published document or the file.
        """
        with self._refresh_lock:
            return self._revalidate()

    def _revalidate(self) -> GateState:
        """One refresh; the caller holds the refresh lock."""
        if self._state is None:  # nothing known yet: Redis answers faster than a database that may hang
            published = self._read_fallback()
            if published is not None:
                self.adopt(*published)
        self.watch_snapshot()
        if self._state is not None:
            self._attempted.set()  # a booting worker may serve now; the database may take seconds
        adoptions = self._adoptions
        trigger = NOTIFIED if self._notified else TTL
        self._notified = False
        try:
            version = self._read_version()
            held = self._state
            if held is not None and held.pending and (version <= held.version or self._changes_waiting()):
                # Changes made while the database was down wait in Redis: until they are written
                # (and the version moved past them), the database's state must not undo them.
                outcome = HELD
            elif held is None or self.source != DATABASE or held.stale or version != held.version:
                self._from_database(self._load_state(), adoptions)
                outcome = RELOADED
            else:
                self.confirmed_at = self._wall_clock()
                outcome = CONFIRMED
        except Exception as error:  # any store failure keeps the last known state
            self._database_failed(error)
            outcome = FAILED
        else:
            if self.last_error is not None:
                log.info("maintenance state: the database answers again")
            self.last_error = None
        self._checked_at = self._clock()
        self._attempted.set()
        self._report(trigger, outcome)
        return self.current()

    def _report(self, trigger: str, outcome: str) -> None:
        if self.on_refresh is None:
            return
        try:
            self.on_refresh(trigger, outcome)
        except Exception:  # counting must never break the gate
            log.exception("maintenance state: the refresh observer failed")

    def watch_snapshot(self) -> None:
        """Take a newer state another worker of this host wrote (one stat when nothing changed)."""
        if self._snapshot is not None:
            written = self._snapshot.read_if_changed()
            if written is not None:
                self.adopt(*written, source=SNAPSHOT)

    def adopt(self, state: GateState, published_at: datetime | None, source: str = REDIS) -> bool:
        """Take a published document when it is newer than what is held (or nothing is held)."""
        with self._lock:
            held = self._state
            if held is not None and state.version <= held.version:
                return False
            self._state = replace(state, stale=False)
            self.source = source
            self.confirmed_at = published_at or self._wall_clock()
            self._adoptions += 1
        if source != SNAPSHOT:
            self._save(self._state)
        return True

    def _from_database(self, state: GateState, adoptions: int) -> None:
        with self._lock:
            held = self._state
            if held is not None and held.version > state.version and self._adoptions != adoptions:
                # A newer published state arrived while the database was read (before the change
                # committed): keep it, the next refresh confirms it. Going back would flap.
                return
            moved = self._state is None or self._state.version != state.version or self.source != DATABASE
            self._state = replace(state, stale=False)
            self.source = DATABASE
            self.confirmed_at = self._wall_clock()
        if moved:
            self._save(self._state)
            if self._on_database_state is not None:
                try:
                    self._on_database_state(self._state)
                except Exception as error:  # re-publishing is a courtesy, never a failure
                    log.warning("could not re-publish the maintenance state: %s", error)

    def _database_failed(self, error: Exception) -> None:
        if self.last_error is None:
            log.warning("maintenance state: the database is unavailable, keeping last known: %s", error)
        self.last_error = f"{type(error).__name__}: {error}"
        # Another worker may have seen a change this one missed: Redis's copy, else this host's file
        # (the worker that made the change wrote it; read whole, not only when it changed, in case a
        # racing database read replaced what the watcher took from it). Only a newer version is taken.
        for source, published in ((REDIS, self._read_fallback), (SNAPSHOT, self._read_snapshot)):
            found = published()
            if found is not None and self.adopt(*found, source=source):
                log.warning("maintenance state: took version %d from %s", found[0].version, source)
        with self._lock:
            if self._state is not None:
                self._state = replace(self._state, stale=True)

    def _read_snapshot(self) -> Published | None:
        return self._snapshot.read() if self._snapshot is not None else None

    def _read_fallback(self) -> Published | None:
        if self._fallback is None:
            return None
        try:
            return self._fallback()
        except Exception as error:
            log.debug("Redis's copy of the maintenance state is unavailable: %s", error)
            return None

    def _save(self, state: GateState) -> None:
        if self._snapshot is not None:
            self._snapshot.write(replace(state, stale=False), self.confirmed_at or self._wall_clock())

    # The background refresher, one per process.

    @property
    def background(self) -> bool:
        """Tell whether this process's refresher thread runs."""
        return self._thread is not None and self._thread_pid == os.getpid() and self._thread.is_alive()

    def start(self, wait: float = 0.0) -> None:
        """Start this process's refresher (after a fork the parent's is gone); wait for its first try."""
        if self.background:
            return
        # A forked worker inherits the state its parent read at boot, maybe hours ago: take what
        # this host's file says now, before the first request.
        self.watch_snapshot()
        with self._lock:
            if self.background:
                return
            self._thread_pid = os.getpid()
            self._stop.clear()
            self._attempted.clear()
            self._thread = threading.Thread(target=self._run, name="pausa-state-refresher", daemon=True)
            self._thread.start()
            if self._snapshot is not None:
                # Its own thread: the refresher may wait seconds on a hung database meanwhile.
                watcher = threading.Thread(target=self._watch, name="pausa-state-file-watcher", daemon=True)
                watcher.start()
        if wait > 0:
            self._attempted.wait(wait)

    def stop(self) -> None:
        """Stop the refresher (tests, shutdown)."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            state = self._state
            if self._on_database_back is not None and (
                (state is not None and state.pending) or self._changes_waiting()
            ):
                try:
                    self._on_database_back()  # a no-op while the database is still down
                except Exception:  # a bad change must not stop the refresher below
                    log.exception("writing the changes made while the database was down failed")
            try:
                self.refresh()
            except Exception:  # the refresher must never die: the gate would freeze on a stale state
                log.exception("maintenance state refresh failed")
            self._wake.wait(max(self._ttl, 0.05))
            self._wake.clear()

    def _watch(self) -> None:
        while not self._stop.wait(max(self._ttl, 0.05)):
            try:
                self.watch_snapshot()
            except Exception:  # like the refresher, the watcher must never die
                log.exception("maintenance state snapshot check failed")

    def describe(self, now: datetime | None = None) -> dict[str, Any]:
        """Say where the enforced state comes from and how old it is (health, dashboard)."""
        now = now or self._wall_clock()
        state = self.current()
        age = (now - self.confirmed_at).total_seconds() if self.confirmed_at else None
        return {
            "source": self.source,
            "version": state.version,
            "age_seconds": round(age, 1) if age is not None else None,
            "confirmed_at": self.confirmed_at.isoformat() if self.confirmed_at else None,
            "stale": state.stale,
            "unknown": state.unknown,
            "pending": state.pending,
            "fail_mode": "closed" if self.fail_closed else "open",
            "refresher": self.background,
            "error": self.last_error,
        }
