"""The gate holds when the database does not: PostgreSQL cut or hung through a TCP proxy, real Redis.

Every app here runs as production does: a background refresher per worker
(MAINTENANCE_STATE_REFRESH=background), a snapshot file, bounded database
waits. Fails (never skips) when PostgreSQL or Redis is down.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from urllib.parse import urlsplit

import pytest

from app.gate.inapp import STATE_CACHE_KEY
from tests.app.test_webhooks import stripe_event, stripe_headers
from tests.servers.test_production_stack import activate_in, end_in, second_instance, wait_until
from tests.support.apps import make_app
from tests.support.tcp_proxy import TcpProxy

BLOCKED_PATHS = ("/", "/account", "/api/v1/ping")
PRODUCTION_LIKE = {
    "MAINTENANCE_STATE_REFRESH": "background",
    "MAINTENANCE_STATE_TTL": 0.2,
    "DATABASE_CONNECT_TIMEOUT": 2,
    "DATABASE_STATEMENT_TIMEOUT": 1,
    "HEALTH_CHECK_TIMEOUT": 0.5,
}


@pytest.fixture
def proxy(postgres_url):
    target = urlsplit(postgres_url.replace("postgresql+psycopg", "postgresql"))
    proxy = TcpProxy(target.hostname, target.port or 5432)
    yield proxy
    proxy.close()


@pytest.fixture(autouse=True)
def fresh_redis_copy(redis_url):
    """Start without a document another test published (versions of other databases would win)."""
    import redis

    from app.gate.notifier import PENDING_KEY, REPLAY_LOCK_KEY, STATE_KEY

    client = redis.Redis.from_url(redis_url)
    client.delete(STATE_KEY, PENDING_KEY, REPLAY_LOCK_KEY)
    yield
    client.delete(STATE_KEY, PENDING_KEY, REPLAY_LOCK_KEY)
    client.close()


@pytest.fixture
def snapshot(tmp_path):
    return str(tmp_path / "instance" / "gate-state.json")


def worker(tmp_path, proxy, postgres_url, snapshot, first=None, **overrides):
    """One gunicorn worker's app: the first builds the database, later ones share it."""
    config = {**PRODUCTION_LIKE, "MAINTENANCE_STATE_FILE": snapshot, **overrides}
    if first is None:
        app = make_app(tmp_path, database_url=proxy.url_for(postgres_url), **config)
    else:
        app = second_instance(first, **config)
    app.test_client().get("/health/live")  # boots the refresher, as gunicorn's post_worker_init does
    return app


def statuses(app, paths=BLOCKED_PATHS) -> dict[str, int]:
    client = app.test_client()
    return {path: client.get(path).status_code for path in paths}


def recovered(app) -> bool:
    """Tell whether every path is served by the app again (the account page asks for a login)."""
    return statuses(app) == {"/": 200, "/account": 302, "/api/v1/ping": 200}


def within(seconds: float, call):
    """Run `call` in a thread; fail (instead of hanging the suite) if it takes longer than `seconds`."""
    outcome: dict = {}

    def run():
        started = time.perf_counter()
        outcome["value"] = call()
        outcome["took"] = time.perf_counter() - started

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds + 5)
    assert "took" in outcome, f"no answer within {seconds + 5} s: it hangs"
    assert outcome["took"] <= seconds, f"took {outcome['took']:.3f} s, over {seconds} s"
    return outcome["value"]


def test_a_worker_that_missed_the_activation_still_blocks_when_the_database_is_cut(
    tmp_path, proxy, postgres_url, snapshot
):
    """Activate, cut PostgreSQL at once: the other worker of the host blocks too, for the whole outage."""
    first = worker(tmp_path, proxy, postgres_url, snapshot)
    other = worker(tmp_path, proxy, postgres_url, snapshot, first=first, MAINTENANCE_STATE_TTL=1.0)
    assert statuses(other)["/"] == 200
    activate_in(first, message="Migrating the database", eta="1h")
    proxy.cut()  # before `other` revalidated (TTL 1 s)
    # Within the propagation budget the other worker learns it from the file the first one wrote...
    wait_until(lambda: statuses(other, ("/",)) == {"/": 503}, timeout=3.0, step=0.05)
    # ...and from then on lets nothing through, on either worker.
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        for app in (first, other):
            assert set(statuses(app).values()) == {503}
    page = other.test_client().get("/account").get_data(as_text=True)
    assert "Migrating the database" in page
    ready = other.test_client().get("/health/ready").json["checks"]["maintenance_state"]
    # Taken from the file (or read just before the cut): either way unconfirmed now, and enforced.
    assert ready["stale"] is True and ready["active"] is True


def test_a_worker_restarted_during_the_cut_enforces_the_last_state(tmp_path, proxy, postgres_url, snapshot):
    first = worker(tmp_path, proxy, postgres_url, snapshot)
    activate_in(first, message="Restoring a backup", eta="1h")
    proxy.cut()
    restarted = worker(tmp_path, proxy, postgres_url, snapshot, first=first)  # a fresh process, no memory
    client = restarted.test_client()
    for path in BLOCKED_PATHS:
        response = client.get(path)
        assert response.status_code == 503, path
        assert response.headers["X-Maintenance"] == "active"
    assert "Restoring a backup" in client.get("/").get_data(as_text=True)
    assert client.get("/health/live").status_code == 200

    proxy.restore()
    end_in(first)
    wait_until(lambda: recovered(restarted), timeout=5.0, step=0.1)


@pytest.mark.parametrize("mode", ["closed", "open"])
def test_the_fail_mode_decides_when_nothing_is_known(tmp_path, proxy, postgres_url, snapshot, mode):
    first = worker(tmp_path, proxy, postgres_url, snapshot)
    proxy.cut()
    blank = worker(
        tmp_path, proxy, postgres_url, str(tmp_path / "elsewhere" / "none.json"), first=first,
        MAINTENANCE_FAIL_MODE=mode, MAINTENANCE_BOOT_WAIT=0.5,
    )
    client = blank.test_client()
    assert client.get("/health/live").status_code == 200
    home = client.get("/")
    ping = client.get("/api/v1/ping")
    if mode == "closed":
        assert home.status_code == 503 and ping.status_code == 503
        assert "temporarily unavailable" in home.get_data(as_text=True)
        assert int(home.headers["Retry-After"]) > 0
        assert ping.json["error"] == "maintenance"
        assert "temporarily unavailable" in ping.json["message"]
        assert 'name="email"' not in home.get_data(as_text=True)  # nothing to subscribe to
        state = client.get("/health/ready").json["checks"]["maintenance_state"]
        assert state["source"] == "none" and state["unknown"] is True and state["fail_mode"] == "closed"
    else:
        assert home.status_code == 200 and ping.status_code == 200


def test_redis_carries_the_state_to_a_worker_with_no_snapshot(tmp_path, proxy, postgres_url, redis_url, snapshot):
    first = worker(tmp_path, proxy, postgres_url, snapshot, REDIS_URL=redis_url)
    activate_in(first, message="Published through Redis", eta="1h")
    proxy.cut()
    other_host = worker(
        tmp_path, proxy, postgres_url, str(tmp_path / "other-host" / "gate-state.json"), first=first,
        REDIS_URL=redis_url,
    )
    assert set(statuses(other_host).values()) == {503}
    assert "Published through Redis" in other_host.test_client().get("/").get_data(as_text=True)
    state = other_host.test_client().get("/health/ready").json["checks"]["maintenance_state"]
    assert state["source"] == "redis"


def test_a_published_change_is_enforced_without_the_database(tmp_path, proxy, postgres_url, redis_url, snapshot):
    """The message carries the document: a worker whose database link is down still gets the change."""
    first = worker(tmp_path, proxy, postgres_url, snapshot, REDIS_URL=redis_url)
    target = urlsplit(postgres_url.replace("postgresql+psycopg", "postgresql"))
    other_proxy = TcpProxy(target.hostname, target.port or 5432)
    try:
        other = make_app(
            tmp_path / "other", database_url=other_proxy.url_for(postgres_url),
            **{**PRODUCTION_LIKE, "MAINTENANCE_STATE_TTL": 60.0},
            REDIS_URL=redis_url, MAINTENANCE_STATE_FILE=str(tmp_path / "other" / "gate-state.json"),
        )
        other.test_client().get("/health/live")
        from app.gate.notifier import NOTIFIER_KEY

        assert other.extensions[NOTIFIER_KEY].subscribed.wait(5)
        other_proxy.cut()  # this instance alone lost its database
        activate_in(first, message="Carried by the message", eta="1h")
        wait_until(lambda: statuses(other, ("/",)) == {"/": 503}, timeout=1.0)
    finally:
        other_proxy.close()


def test_a_hung_database_holds_no_request_that_does_not_need_it(tmp_path, proxy, postgres_url, snapshot):
    """PostgreSQL accepts and never answers: the gate, health and status answer at once; the rest is bounded."""
    app = worker(tmp_path, proxy, postgres_url, snapshot)
    activate_in(app, message="Hung but holding", eta="1h")
    client = app.test_client()
    assert client.get("/").status_code == 503
    proxy.hang()
    time.sleep(0.5)  # the refresher is now stuck on the hung database
    worst = 0.0
    for _ in range(20):
        started = time.perf_counter()
        assert within(1.0, lambda: client.get("/health/live").status_code) == 200
        worst = max(worst, time.perf_counter() - started)
    # Bounds well under the 1 s statement timeout: an answer in time cannot have waited on the database.
    assert worst < 0.5, f"/health/live took {worst * 1000:.0f} ms"
    for path in BLOCKED_PATHS:
        assert within(0.5, lambda path=path: client.get(path).status_code) == 503
    assert within(0.5, lambda: client.get("/maintenance/status.json").json["active"]) is True
    # What needs the database gives up within its bound, with a clear 503 (Stripe will retry).
    body = stripe_event("evt_hung_database")
    webhook = within(6.0, lambda: client.post("/webhooks/stripe", data=body, headers=stripe_headers(body)))
    assert webhook.status_code == 503
    ready = within(3.0, lambda: client.get("/health/ready"))
    assert ready.status_code == 503 and ready.json["checks"]["database"]["ok"] is False

    proxy.restore()
    wait_until(lambda: client.get("/health/ready").status_code == 200, timeout=10.0, step=0.2)
    end_in(app)
    wait_until(lambda: recovered(app), timeout=5.0, step=0.1)
    assert app.extensions[STATE_CACHE_KEY].source == "database"


def test_changes_are_refused_with_one_clear_line_while_the_database_is_down(
    tmp_path, proxy, postgres_url, snapshot
):
    """The database is the record: no change (and no audit entry) can be made without it; the gate holds."""
    app = worker(tmp_path, proxy, postgres_url, snapshot)
    activate_in(app, message="Held during the outage", eta="1h")
    runner = app.test_cli_runner()
    token = runner.invoke(args=["tokens", "create", "deploy", "--scope", "admin"]).output.splitlines()[0].strip()
    proxy.cut()
    for args in (["maintenance", "off"], ["maintenance", "update", "--eta", "2h"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 1, result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error: the database is unavailable")
        assert "nothing was changed" in lines[0]
        assert "Traceback" not in result.output
    api = app.test_client().delete("/api/admin/maintenance", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 503 and api.json["error"] == "unavailable"
    assert set(statuses(app).values()) == {503}  # still enforced
    proxy.restore()
    wait_until(lambda: runner.invoke(args=["maintenance", "status"]).exit_code == 0, timeout=10.0, step=0.2)
    assert "Maintenance is ON" in runner.invoke(args=["maintenance", "status"]).output


def test_with_redis_an_operator_turns_maintenance_on_and_off_while_the_database_is_down(
    tmp_path, proxy, postgres_url, redis_url, snapshot
):
    """Redis holds the change and every worker enforces it; the database records it, late, when it returns."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import AuditEntry, MaintenanceWindow

    web = worker(tmp_path, proxy, postgres_url, snapshot, REDIS_URL=redis_url)
    from app.gate.notifier import NOTIFIER_KEY

    assert web.extensions[NOTIFIER_KEY].subscribed.wait(5)
    shell = second_instance(web, REDIS_URL=redis_url)  # `heroku run flask …`: another process
    runner = shell.test_cli_runner()
    proxy.cut()

    on = runner.invoke(args=["maintenance", "on", "--message", "The database crashed", "--eta", "30m"])
    assert on.exit_code == 0, on.output
    assert "Maintenance is ON" in on.output and "enforced from Redis" in on.output
    wait_until(lambda: statuses(web, ("/",)) == {"/": 503}, timeout=1.0)
    assert "The database crashed" in web.test_client().get("/").get_data(as_text=True)
    again = runner.invoke(args=["maintenance", "on", "--message", "twice"])
    assert again.exit_code == 1 and "already active" in again.output
    status = runner.invoke(args=["maintenance", "status"])
    assert status.exit_code == 0 and "Maintenance is ON" in status.output and "unavailable" in status.output
    assert web.test_client().get("/health/ready").json["checks"]["maintenance_state"]["pending"] is True

    # The database comes back: the change is written, and the gate never lets a request through meanwhile.
    proxy.restore()

    def recorded() -> MaintenanceWindow | None:
        assert statuses(web) == dict.fromkeys(BLOCKED_PATHS, 503)
        with web.app_context():
            found = db.session.scalar(select(MaintenanceWindow).where(MaintenanceWindow.status == "active"))
            db.session.remove()
            return found

    wait_until(lambda: recorded() is not None, timeout=10.0, step=0.1)
    wait_until(lambda: web.extensions[STATE_CACHE_KEY].source == "database", timeout=5.0, step=0.05)
    window = recorded()
    assert window.message == "The database crashed" and window.started_by == "cli:tester"
    with web.app_context():
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "maintenance.activated"))
        assert entry.details["recorded_late"] is True
        made_at = entry.details["made_at"]
        assert abs((window.started_at - datetime.fromisoformat(made_at)).total_seconds()) < 1
    assert set(statuses(web).values()) == {503}
    assert web.test_client().get("/health/ready").json["checks"]["maintenance_state"]["pending"] is False

    # And off, the same way.
    proxy.cut()
    off = runner.invoke(args=["maintenance", "off"])
    assert off.exit_code == 0, off.output
    wait_until(lambda: recovered(web), timeout=1.0)
    proxy.restore()

    def status_of_the_window() -> str:
        with web.app_context():
            found = db.session.get(MaintenanceWindow, window.id).status
            db.session.remove()
            return found

    wait_until(lambda: status_of_the_window() == "completed", timeout=10.0, step=0.1)
    with web.app_context():
        ended = db.session.get(MaintenanceWindow, window.id)
        assert ended.ended_by == "cli:tester"
        late_end = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "maintenance.ended"))
        assert late_end.details["recorded_late"] is True
    time.sleep(0.5)
    assert recovered(web)


def test_without_redis_turning_maintenance_on_is_refused_in_one_line(tmp_path, proxy, postgres_url, snapshot):
    app = worker(tmp_path, proxy, postgres_url, snapshot)
    proxy.cut()
    result = app.test_cli_runner().invoke(args=["maintenance", "on", "--message", "no store"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "no REDIS_URL" in lines[0] and "nothing was changed" in lines[0]
    assert statuses(app, ("/",)) == {"/": 200}


def test_a_signed_in_user_blocked_during_a_hang_gets_the_page_at_once(tmp_path, proxy, postgres_url, snapshot):
    """Roles live in the database: while it hangs, a signed-in user is decided as anyone, without waiting."""
    from tests.support.apps import AuthActions

    app = worker(tmp_path, proxy, postgres_url, snapshot)
    signed_in = app.test_client()
    AuthActions(signed_in).login("user")
    activate_in(app, message="Held for everyone", eta="1h")
    assert signed_in.get("/").status_code == 503
    proxy.hang()
    wait_until(lambda: app.extensions[STATE_CACHE_KEY].current().stale, timeout=6.0, step=0.1)
    response = within(0.5, lambda: signed_in.get("/"))
    assert response.status_code == 503 and response.headers["X-Maintenance"] == "active"
    assert "Held for everyone" in response.get_data(as_text=True)
    proxy.restore()


def test_a_pending_change_survives_an_unrelated_change_until_it_is_written(
    tmp_path, proxy, postgres_url, redis_url, snapshot
):
    """Another change committed before the replay must not let the database's older state undo it."""
    import redis

    from app.gate.notifier import PENDING_KEY, REPLAY_LOCK_KEY
    from app.services import state as state_service

    web = worker(tmp_path, proxy, postgres_url, snapshot, REDIS_URL=redis_url)
    shell = second_instance(web, REDIS_URL=redis_url)
    client = redis.Redis.from_url(redis_url)
    proxy.cut()
    assert shell.test_cli_runner().invoke(args=["maintenance", "on", "--message", "Pending"]).exit_code == 0
    wait_until(lambda: statuses(web, ("/",)) == {"/": 503}, timeout=1.0)
    client.set(REPLAY_LOCK_KEY, "someone else", ex=60)  # the replay has not happened yet
    proxy.restore()
    with shell.app_context():
        state_service.supersede_version(0)  # e.g. a bypass link made meanwhile
        state_service.supersede_version(0)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        assert statuses(web, ("/",)) == {"/": 503}, "the pending activation was undone"
    client.delete(REPLAY_LOCK_KEY)  # now the replay runs
    wait_until(lambda: client.llen(PENDING_KEY) == 0, timeout=5.0, step=0.1)
    wait_until(lambda: web.extensions[STATE_CACHE_KEY].source == "database", timeout=5.0, step=0.1)
    assert statuses(web, ("/",)) == {"/": 503}
    client.close()


def test_an_offline_change_with_no_known_state_is_refused(tmp_path, proxy, postgres_url, redis_url, snapshot):
    """Built on nothing, the change would carry a version every worker ignores: refuse it instead."""
    import redis

    from app.gate.notifier import NOTIFIER_KEY, STATE_KEY

    web = worker(tmp_path, proxy, postgres_url, snapshot, REDIS_URL=redis_url)
    assert web.extensions[NOTIFIER_KEY].subscribed.wait(5)  # (subscribing stores the state again)
    redis.Redis.from_url(redis_url).delete(STATE_KEY)  # e.g. deleted after a restore
    shell = second_instance(web, REDIS_URL=redis_url)  # a one-off dyno: no snapshot
    proxy.cut()
    result = shell.test_cli_runner().invoke(args=["maintenance", "on", "--message", "on nothing"])
    assert result.exit_code == 1, result.output
    assert "no copy of the current state answers" in result.output and "nothing was changed" in result.output
    assert statuses(web, ("/",)) == {"/": 200}
