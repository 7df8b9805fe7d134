"""The gate state outlives its stores: snapshot on boot, Redis's copy, fail modes, no store on the request path."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from hypothesis import given
from pausa_gate import cookies, document
from pausa_gate.cache import DATABASE, NONE, REDIS, SNAPSHOT, SnapshotFile, StateCache
from pausa_gate.decision import decide
from pausa_gate.state import ANONYMOUS, GateState, unknown_state

from app.maintenance import offline
from tests.support.state_cache import Store

from .factories import NOW, PROPERTY, facts, gate_states, seconds, state, upcoming, window
from .test_cache import TTL


def later(how_many: float = 1.0):
    return NOW + seconds(how_many)


def make_cache(store, clock, **options) -> StateCache:
    return StateCache(store.read_version, store.load_state, ttl=TTL, clock=clock, wall_clock=lambda: NOW, **options)


# The document.


@PROPERTY
@given(gate_states)
def test_a_document_round_trips_every_state(original):
    restored, published_at = document.loads(document.dumps(original, NOW))
    assert published_at == NOW
    assert restored.version == original.version
    assert restored.windows == original.windows
    assert restored.bypass_links == original.bypass_links


@pytest.mark.parametrize(
    "text",
    [
        "", "null", "[]", "{}", '{"format": 3, "version": 1, "windows": [], "bypass_links": []}',
        '{"format": true, "version": 1, "windows": [], "bypass_links": []}',
        '{"format": 2, "version": 1, "windows": [], "bypass_links": [1]}',
        '{"format": 2, "version": 1, "windows": [], "bypass_links": [{"id": 1, "window_id": 1, '
        '"expires_at": "2026-03-14T12:00:00+00:00", "cookie_digest": "short"}]}',
        '{"format": 1, "version": -1, "windows": [], "bypass_links": []}',
        '{"format": 1, "version": true, "windows": [], "bypass_links": []}',
        '{"format": 1, "version": 1, "windows": [{"id": 1}], "bypass_links": []}',
        '{"format": 1, "version": 1, "windows": [], "bypass_links": ["x"]}',
    ],
)
def test_a_malformed_document_is_refused(text):
    with pytest.raises(document.DocumentError):
        document.loads(text)


def test_an_older_pausas_document_is_read_and_its_links_let_nobody_through():
    text = '{"format": 1, "version": 4, "windows": [], "bypass_links": [3], "pending": false}'
    restored, _ = document.loads(text)
    assert restored.version == 4
    assert cookies.bypass_window_id("3.anything", restored, NOW) is None


def test_a_windows_messages_per_language_travel_in_the_same_format():
    original = state(window(messages=(("pt-BR", "Voltamos logo."),)))
    data = document.to_document(original)
    assert data["format"] == 2  # an older reader still reads it, and shows the default message
    assert data["windows"][0]["messages"] == {"pt-BR": "Voltamos logo."}
    assert data["windows"][0]["message"] == "Deploying v2, back soon."
    restored = document.from_document(data)
    assert restored.windows[0].message_in("pt_BR") == "Voltamos logo."
    assert restored.windows[0].message_in("en") == "Deploying v2, back soon."


def test_a_document_written_before_messages_per_language_reads_with_none():
    data = document.to_document(state(window()))
    del data["windows"][0]["messages"]
    restored = document.from_document(data)
    assert restored.windows[0].messages == ()
    assert restored.windows[0].message_in("pt_BR") == "Deploying v2, back soon."


@pytest.mark.parametrize("messages", [["pt-BR"], {"pt-BR": 3}, "Voltamos"])
def test_a_document_refuses_messages_that_are_not_text_per_language(messages):
    data = document.to_document(state(window()))
    data["windows"][0]["messages"] = messages
    with pytest.raises(document.DocumentError):
        document.from_document(data)


def test_a_document_refuses_a_time_without_an_offset():
    data = document.to_document(state(window()))
    data["windows"][0]["starts_at"] = "2026-03-14T11:50:00"
    with pytest.raises(document.DocumentError):
        document.from_document(data)


def test_the_document_carries_no_secret_or_personal_field():
    data = document.to_document(state(window(message="Deploying"), version=7))
    assert set(data) == {"format", "version", "published_at", "windows", "bypass_links", "pending"}
    assert "created_by" not in data["windows"][0] and "started_by" not in data["windows"][0]


# The snapshot file.


def test_the_snapshot_is_read_on_boot_before_any_store(tmp_path, store, clock):
    snapshot = SnapshotFile(tmp_path / "gate-state.json")
    snapshot.write(state(window(), version=9), NOW)
    store.fail_reads = ConnectionError("database is down")
    cache = make_cache(store, clock, snapshot=snapshot)
    assert cache.source == SNAPSHOT
    got = cache.get()
    assert got.windows == (window(),) and got.version == 9 and got.stale
    assert cache.describe(later(30))["age_seconds"] == pytest.approx(30, abs=1)


def test_a_state_loaded_from_the_database_is_saved_for_the_next_boot(tmp_path, store, clock):
    path = tmp_path / "gate-state.json"
    store.change(window())
    make_cache(store, clock, snapshot=SnapshotFile(path)).get()
    saved, _ = document.loads(path.read_text())
    assert saved.windows == (window(),) and saved.version == store.version


@pytest.mark.parametrize("content", ["", "{not json", '{"format": 99}', "\x00\x01"])
def test_a_damaged_snapshot_is_ignored_with_a_warning(tmp_path, store, clock, caplog, content):
    path = tmp_path / "gate-state.json"
    path.write_text(content)
    caplog.set_level(logging.WARNING, logger="pausa_gate.cache")
    cache = make_cache(store, clock, snapshot=SnapshotFile(path))
    assert cache.source == NONE
    assert "ignoring the gate-state snapshot" in caplog.text


def test_the_snapshot_is_replaced_whole(tmp_path, store, clock):
    path = tmp_path / "gate-state.json"
    cache = make_cache(store, clock, snapshot=SnapshotFile(path))
    for n in range(5):
        store.change(window(id=n + 1))
        clock.advance(TTL)
        cache.get()
    assert [p.name for p in tmp_path.iterdir()] == ["gate-state.json"]  # no temporary file left behind
    assert document.loads(path.read_text())[0].windows == (window(id=5),)


# A store failure never drops maintenance.


def test_a_worker_that_missed_a_change_takes_it_from_the_file_another_worker_wrote(tmp_path, clock):
    """Two workers of one host: the first sees the activation, the database dies before the second does."""
    shared = tmp_path / "gate-state.json"
    database = Store()
    first = make_cache(database, clock, snapshot=SnapshotFile(shared))
    second = make_cache(database, clock, snapshot=SnapshotFile(shared))
    assert first.get().windows == () and second.get().windows == ()
    database.change(window())
    first.invalidate()
    assert first.get().windows == (window(),)  # the worker that made the change
    database.fail_reads = ConnectionError("cut")
    clock.advance(TTL)
    got = second.get()
    assert got.windows == (window(),), "the second worker must enforce the window it never read"
    assert second.source == SNAPSHOT and got.stale


def test_an_older_copy_never_replaces_a_newer_state(tmp_path, store, clock):
    path = tmp_path / "gate-state.json"
    SnapshotFile(path).write(state(version=1), NOW)  # an old "no maintenance" file
    store.change(window())
    cache = make_cache(store, clock, snapshot=SnapshotFile(path))
    cache.get()
    SnapshotFile(path).write(state(version=1), NOW)
    store.fail_reads = ConnectionError("cut")
    clock.advance(TTL)
    got = cache.get()
    assert got.windows == (window(),) and got.stale


def test_redis_copy_is_taken_when_newer_and_the_database_fails(store, clock):
    published = (state(window(), version=5), NOW)
    cache = make_cache(store, clock, fallback=lambda: published)
    store.fail_reads = ConnectionError("cut")
    got = cache.get()
    assert got.windows == (window(),) and got.version == 5
    assert cache.source == REDIS and got.stale


def test_a_failing_redis_copy_keeps_the_last_state(store, clock):
    def broken():
        raise TimeoutError("redis is gone too")

    store.change(window())
    cache = make_cache(store, clock, fallback=broken)
    cache.get()
    store.fail_reads = ConnectionError("cut")
    clock.advance(TTL)
    assert cache.get().windows == (window(),)


def test_the_database_is_the_authority_when_it_answers(store, clock):
    """A published copy may be newer, but once the database answers its state wins (a restore)."""
    cache = make_cache(store, clock)
    assert cache.adopt(state(window(), version=50), NOW)
    assert cache.current().windows == (window(),)
    got = cache.get()
    assert got.windows == () and cache.source == DATABASE


def test_adopt_takes_only_newer_versions(store, clock):
    cache = make_cache(store, clock)
    cache.get()
    assert not cache.adopt(state(window(), version=store.version), NOW)
    assert cache.adopt(state(window(), version=store.version + 1), NOW)
    assert cache.current().windows == (window(),)


# The fail mode, when nothing at all is known.


def test_fail_closed_blocks_everything_but_the_allowlist(store, clock):
    store.fail_reads = ConnectionError("no database, no snapshot, no redis")
    cache = make_cache(store, clock, fail_closed=True)
    got = cache.get()
    assert got.unknown and got.stale
    assert decide(facts("/"), ANONYMOUS, "203.0.113.9", got, NOW).blocked
    assert decide(facts("/account", "POST"), ANONYMOUS, "203.0.113.9", got, NOW).blocked
    assert not decide(facts("/health/live"), ANONYMOUS, "203.0.113.9", got, NOW).blocked
    assert cache.describe(NOW)["source"] == NONE and cache.describe(NOW)["fail_mode"] == "closed"


def test_fail_open_lets_everything_through(store, clock):
    store.fail_reads = ConnectionError("no database")
    cache = make_cache(store, clock, fail_closed=False)
    got = cache.get()
    assert got == GateState(stale=True)
    assert not decide(facts("/"), ANONYMOUS, None, got, NOW).blocked


def test_fail_closed_ends_as_soon_as_a_store_answers(store, clock):
    store.fail_reads = ConnectionError("down")
    cache = make_cache(store, clock, fail_closed=True)
    assert cache.get().unknown
    store.fail_reads = None
    clock.advance(TTL)
    got = cache.get()
    assert not got.unknown and got.windows == ()


def test_the_stand_in_window_is_never_a_real_one():
    assert unknown_state().windows[0].id == -1
    assert all(w.id >= 1 for w in (window(), upcoming()))


# The background refresher: a request never touches a store.


def test_with_the_refresher_running_get_never_reads_a_store(store):
    cache = StateCache(store.read_version, store.load_state, ttl=0.05)
    cache.start(wait=2)
    try:
        assert cache.background
        reads = store.version_reads
        store.fail_reads = None
        for _ in range(1000):
            cache.get()
        # Only the refresher reads (about one read per TTL), never a thousand.
        assert store.version_reads - reads < 100
    finally:
        cache.stop()


def test_the_refresher_follows_changes_and_wakes_on_invalidate(store):
    cache = StateCache(store.read_version, store.load_state, ttl=60)
    cache.start(wait=2)
    try:
        store.change(window())
        cache.invalidate()
        deadline = time.monotonic() + 2
        while cache.get().windows != (window(),) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert cache.get().windows == (window(),)
    finally:
        cache.stop()


def test_a_hanging_store_never_holds_a_request(store):
    """The refresher may wait on a hung database; the request path answers at once meanwhile."""
    release = threading.Event()
    store.change(window())

    def hanging_read() -> int:
        release.wait(10)
        return store.version

    cache = StateCache(hanging_read, store.load_state, ttl=0.01)
    cache.adopt(state(window(), version=store.version), NOW, source=DATABASE)
    cache.start()
    try:
        started = time.perf_counter()
        for _ in range(100):
            assert cache.get().windows == (window(),)
        assert time.perf_counter() - started < 0.5
    finally:
        release.set()
        cache.stop()


def test_a_change_written_by_another_worker_arrives_while_the_database_hangs(tmp_path, store):
    """The refresher waits on a hung database; the file watcher and published documents still get through."""
    shared = SnapshotFile(tmp_path / "gate-state.json")
    release = threading.Event()

    def hanging_read() -> int:
        release.wait(10)
        return store.version

    cache = StateCache(hanging_read, store.load_state, ttl=0.05, snapshot=SnapshotFile(shared.path))
    cache.start()
    try:
        time.sleep(0.1)  # the refresher is now stuck in the database
        SnapshotFile(shared.path).write(state(window(), version=7), NOW)  # another worker's change
        deadline = time.monotonic() + 2
        while cache.current().windows != (window(),) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert cache.current().windows == (window(),) and cache.source == SNAPSHOT
        started = time.perf_counter()
        assert cache.adopt(state(window(id=2), version=8), NOW)  # a pub/sub message is not held up either
        assert time.perf_counter() - started < 0.5
    finally:
        release.set()
        cache.stop()


# Changes made while the database is down.


def test_a_pending_state_is_not_undone_by_the_older_database(store, clock):
    """Until the database holds the changes made without it, its older state must not replace them."""
    cache = make_cache(store, clock)
    cache.get()
    base = cache.current()
    crashed = offline.provisional_window(-2, {"message": "Crashed"}, NOW)
    pending = offline.activated(base, crashed, NOW)
    assert pending.pending and pending.version == base.version + 1
    assert cache.adopt(pending, NOW)
    clock.advance(TTL)
    assert cache.get().windows == (crashed,)  # the database still says version 1, no window
    store.version = pending.version + 1  # the changes were written, and the version moved past
    clock.advance(TTL)
    got = cache.get()
    assert not got.pending and cache.source == "database"


def test_offline_rules_refuse_what_the_database_would_refuse():
    empty = state(version=3)
    with pytest.raises(offline.OfflineConflict):
        offline.ended(empty, NOW)
    started = offline.activated(empty, offline.provisional_window(-2, {"message": "x"}, NOW), NOW)
    with pytest.raises(offline.OfflineConflict):
        offline.activated(started, offline.provisional_window(-3, {"message": "y"}, NOW), NOW)
    done, ended_window = offline.ended(started, NOW + seconds(5))
    assert ended_window.id == -2 and done.windows == () and done.version == 5 and done.pending
    assert not decide(facts("/"), ANONYMOUS, None, done, NOW + seconds(6)).blocked
    assert decide(facts("/"), ANONYMOUS, None, started, NOW + seconds(1)).blocked


def test_a_state_published_during_a_database_read_is_not_undone_by_it(store, clock):
    """The read began before the change committed; the newer published state must stay (no flap)."""
    store.change(window())  # version 2: a window, in the database
    cache = make_cache(store, clock)
    cache.get()
    ended = state(version=3)  # another worker ended it and published version 3

    def load_racing_the_change() -> GateState:
        old = GateState(version=2, windows=(window(),))  # read before the change committed
        cache.adopt(ended, NOW)
        return old

    cache._load_state = load_racing_the_change
    cache.invalidate()
    store.version = 1  # any version that differs forces a load
    cache.get()
    assert cache.current().version == 3 and cache.current().windows == ()


def test_a_forked_worker_reads_the_file_before_its_first_request(tmp_path, store):
    """After a fork the state in memory is the parent's, read at its boot: the file is newer."""
    path = tmp_path / "gate-state.json"
    SnapshotFile(path).write(state(version=10), NOW)
    cache = StateCache(store.read_version, store.load_state, ttl=60, snapshot=SnapshotFile(path))
    SnapshotFile(path).write(state(window(), version=11), NOW)  # written since the parent booted
    store.fail_reads = ConnectionError("cut")
    cache.start()
    try:
        assert cache.current().windows == (window(),)  # at once, not after the refresher's first pass
    finally:
        cache.stop()


def test_a_failing_replay_does_not_stop_the_refresher(store):
    def broken_replay():
        raise ValueError("a bad queued change")

    cache = StateCache(store.read_version, store.load_state, ttl=0.05)
    cache.set_redis(fallback=lambda: None, on_database_state=lambda state: None,
                    on_database_back=broken_replay, changes_waiting=lambda: True)
    cache.start(wait=2)
    try:
        store.change(window())
        deadline = time.monotonic() + 2
        while cache.current().windows != (window(),) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert cache.current().windows == (window(),)
    finally:
        cache.stop()


def test_a_pending_state_waits_for_its_changes_not_only_for_a_version(store, clock):
    """An unrelated change can move the database's version while the waiting changes are not written."""
    waiting = {"changes": True}
    cache = make_cache(store, clock)
    cache.set_redis(fallback=lambda: None, on_database_state=lambda state: None,
                    changes_waiting=lambda: waiting["changes"])
    cache.get()
    crashed = offline.provisional_window(-2, {"message": "Crashed"}, NOW)
    pending = offline.activated(cache.current(), crashed, NOW)
    cache.adopt(pending, NOW)
    for version in (pending.version, pending.version + 3):  # equal, then past it: still waiting
        store.version = version
        clock.advance(TTL)
        assert cache.get().windows == (crashed,), version
    waiting["changes"] = False  # written, and the version moved past
    clock.advance(TTL)
    assert cache.get().windows == () and not cache.current().pending
