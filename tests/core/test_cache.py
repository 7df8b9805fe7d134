"""The per-worker state cache: a version read at most every TTL, a full load only when it moves."""

from __future__ import annotations

import logging
import threading

import pytest
from pausa_gate.cache import StateCache
from pausa_gate.state import GateState

from tests.support.state_cache import Store

from .factories import window

TTL = 1.0


@pytest.fixture
def cache(store, clock):
    return StateCache(store.read_version, store.load_state, ttl=TTL, clock=clock)


def test_first_get_loads(cache, store):
    got = cache.get()
    assert got == GateState(version=1)
    assert store.calls == (1, 1)
    assert cache.last_error is None


def test_no_reads_at_all_within_the_ttl(cache, store, clock):
    first = cache.get()
    for _ in range(100):
        clock.advance(TTL / 200)
        assert cache.get() is first
    assert clock.now - 1000.0 < TTL
    assert store.calls == (1, 1)


def test_within_the_ttl_a_change_is_not_seen_yet(cache, store, clock):
    cache.get()
    store.change(window())
    clock.advance(TTL * 0.99)
    assert cache.get().windows == ()
    assert store.calls == (1, 1)


def test_after_the_ttl_one_version_read_and_no_load(cache, store, clock):
    first = cache.get()
    clock.advance(TTL)  # exactly the TTL: revalidate
    assert cache.get() is first
    assert store.calls == (2, 1)
    clock.advance(TTL * 0.5)
    cache.get()
    assert store.calls == (2, 1)  # the TTL restarts from the last check
    clock.advance(TTL * 0.5)
    cache.get()
    assert store.calls == (3, 1)


def test_a_full_load_only_when_the_version_moves(cache, store, clock):
    cache.get()
    store.change(window())
    clock.advance(TTL)
    got = cache.get()
    assert got.version == 2
    assert got.windows == (window(),)
    assert store.calls == (2, 2)
    clock.advance(TTL)
    assert cache.get() is got
    assert store.calls == (3, 2)


def test_a_version_moving_backwards_also_reloads(cache, store, clock):
    """A restored database is a different state too: any change of version reloads."""
    cache.get()
    store.version = 0
    clock.advance(TTL)
    assert cache.get().version == 0
    assert store.calls == (2, 2)


def test_invalidate_forces_revalidation_before_the_ttl(cache, store, clock):
    cache.get()
    store.change(window())
    cache.invalidate()
    assert cache.get().version == 2
    assert store.calls == (2, 2)


def test_invalidate_without_a_change_costs_one_version_read(cache, store):
    first = cache.get()
    cache.invalidate()
    assert cache.get() is first
    assert store.calls == (2, 1)


def test_invalidate_before_the_first_get(cache, store):
    cache.invalidate()
    cache.get()
    assert store.calls == (1, 1)


@pytest.mark.parametrize("failing", ["fail_reads", "fail_loads"])
def test_a_failing_store_keeps_the_last_state_marked_stale(cache, store, clock, failing):
    store.change(window())
    known = cache.get()
    assert not known.stale
    store.change(window(id=2))  # so a load would be attempted
    setattr(store, failing, ConnectionError("database is down"))
    clock.advance(TTL)
    got = cache.get()
    assert got.stale
    assert got.windows == known.windows
    assert got.version == known.version
    assert cache.last_error == "ConnectionError: database is down"


def test_while_stale_it_retries_once_per_ttl_not_on_every_request(cache, store, clock):
    cache.get()
    store.fail_reads = OSError("down")
    clock.advance(TTL)
    cache.get()
    reads = store.version_reads
    for _ in range(10):
        cache.get()
    assert store.version_reads == reads
    clock.advance(TTL)
    cache.get()
    assert store.version_reads == reads + 1


def test_recovery_clears_stale_even_when_the_version_did_not_move(cache, store, clock):
    cache.get()
    store.fail_reads = OSError("down")
    clock.advance(TTL)
    assert cache.get().stale
    store.fail_reads = None
    clock.advance(TTL)
    got = cache.get()
    assert not got.stale
    assert got.version == 1
    assert cache.last_error is None
    assert store.loads == 2  # stale forces a full load, not just a version read


def test_recovery_after_a_failed_load_with_a_moved_version(cache, store, clock):
    cache.get()
    store.change(window())
    store.fail_loads = RuntimeError("boom")
    clock.advance(TTL)
    assert cache.get().stale
    store.fail_loads = None
    clock.advance(TTL)
    got = cache.get()
    assert (got.version, got.windows, got.stale) == (2, (window(),), False)


def test_a_store_down_from_the_start_gives_an_empty_stale_state(cache, store):
    store.fail_reads = ConnectionError("no database")
    got = cache.get()
    assert got == GateState(stale=True)
    assert cache.last_error == "ConnectionError: no database"


def test_the_failure_is_logged_once_per_outage(cache, store, clock, caplog):
    caplog.set_level(logging.WARNING, logger="pausa_gate.cache")
    cache.get()
    store.fail_reads = OSError("down")
    for _ in range(3):
        clock.advance(TTL)
        cache.get()
    assert len(caplog.records) == 1
    assert "keeping last known" in caplog.records[0].getMessage()
    store.fail_reads = None
    clock.advance(TTL)
    cache.get()
    store.fail_reads = OSError("down again")
    clock.advance(TTL)
    cache.get()
    assert len(caplog.records) == 2


def test_a_zero_ttl_revalidates_on_every_get(store, clock):
    cache = StateCache(store.read_version, store.load_state, ttl=0, clock=clock)
    for _ in range(3):
        cache.get()
    assert store.calls == (3, 1)


def test_defaults_to_a_one_second_ttl_on_the_monotonic_clock():
    store = Store()
    cache = StateCache(store.read_version, store.load_state)
    cache.get()
    cache.get()
    assert store.calls == (1, 1)


def test_threads_racing_on_a_cold_cache_load_once(cache, store):
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert all(result is results[0] for result in results)
    assert store.calls == (1, 1)
