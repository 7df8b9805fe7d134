"""A per-worker cache of the gate state, revalidated by version at most every TTL seconds."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from .state import GateState

log = logging.getLogger(__name__)


class StateCache:
    """Hold the last known GateState; reload it only when the stored version moves.

    `read_version` is one primary-key read; `load_state` builds the full
    snapshot and runs only when the version changed (or the kept state is
    stale). `invalidate` makes the next `get` read the version at once
    instead of waiting for the TTL; it does not force a full load. When the
    store fails, the last known state is kept (marked stale) so the gate
    never starts blocking or allowing by accident.
    """

    def __init__(
        self,
        read_version: Callable[[], int],
        load_state: Callable[[], GateState],
        ttl: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._read_version = read_version
        self._load_state = load_state
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._state: GateState | None = None
        self._checked_at = float("-inf")
        self.last_error: str | None = None

    def get(self) -> GateState:
        """Return the state, revalidating it when the TTL has run out."""
        state = self._state
        if state is not None and self._clock() - self._checked_at < self._ttl:
            return state
        with self._lock:
            if self._state is not None and self._clock() - self._checked_at < self._ttl:
                return self._state
            return self._revalidate()

    def peek(self) -> GateState | None:
        """Return the state only while it is fresh, without ever touching the store."""
        state = self._state
        if state is not None and not state.stale and self._clock() - self._checked_at < self._ttl:
            return state
        return None

    def invalidate(self) -> None:
        """Force the next `get` to revalidate (a local change or a pub/sub message)."""
        self._checked_at = float("-inf")

    def _revalidate(self) -> GateState:
        try:
            version = self._read_version()
            if self._state is None or version != self._state.version or self._state.stale:
                self._state = self._load_state()
        except Exception as error:  # any store failure keeps the last known state
            if self.last_error is None:
                log.warning("maintenance state unavailable, keeping last known: %s", error)
            self.last_error = f"{type(error).__name__}: {error}"
            self._state = replace(self._state or GateState(), stale=True)
        else:
            self.last_error = None
        self._checked_at = self._clock()
        return self._state
