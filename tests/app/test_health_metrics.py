"""/health/ready, /metrics (one process and several) and the dashboard's health panel."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, update

from app.extensions import METRICS_KEY, db
from app.metrics import child_exit
from app.models import MaintenanceState, MaintenanceWindow, WorkerHeartbeat, utcnow
from tests.support.apps import make_app

ROOT = Path(__file__).resolve().parents[2]
HX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/admin"}


def expire_active_window(app) -> None:
    """Move the active window's hard end into the past, as if its time had run out."""
    with app.app_context():
        db.session.execute(
            update(MaintenanceWindow)
            .where(MaintenanceWindow.status == "active")
            .values(ends_at=utcnow() - timedelta(seconds=5))
        )
        # Every real change moves the state version; so must this shortcut, or the cache keeps its copy.
        db.session.execute(update(MaintenanceState).values(version=MaintenanceState.version + 1))
        db.session.commit()


def samples(body: str) -> dict[tuple[str, tuple], float]:
    """Parse the exposition text (it must parse) into {(sample name, labels): value}."""
    parsed = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            parsed[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return parsed


# -- /health/ready ---------------------------------------------------------------------------


def test_ready_reports_every_check_and_stays_200_without_a_worker(client):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert body["status"] == "degraded"  # no worker yet: not critical
    checks = body["checks"]
    assert checks["database"]["ok"] is True and checks["database"]["critical"] is True
    assert isinstance(checks["database"]["latency_ms"], float)
    assert "redis" not in checks  # REDIS_URL is not configured
    assert checks["worker"]["ok"] is False and checks["worker"]["age_seconds"] is None
    assert checks["worker"]["critical"] is False
    assert checks["queues"] == {"ok": True, "critical": False, "depths": {
        "expired_windows_pending": 0, "deliveries_queued": 0, "deliveries_uncertain": 0, "mail_circuit_open": 0,
        "webhook_inbox_pending": 0, "webhook_dead_letters": 0, "outbound_webhooks_queued": 0,
    }}
    assert checks["mail_circuit"] == {"ok": True, "critical": False, "state": "closed", "failures": 0,
                                      "retry_at": None}
    state = checks["maintenance_state"]
    assert (state["ok"], state["stale"], state["version"], state["active"]) == (True, False, 1, False)


def test_worker_heartbeat_age_fresh_then_stale(app, client, runner):
    assert runner.invoke(args=["worker", "--once"]).exit_code == 0
    # --once marks its heartbeat stopped; a running worker's row has no stopped_at.
    with app.app_context():
        db.session.execute(update(WorkerHeartbeat).values(stopped_at=None))
        db.session.commit()
    body = client.get("/health/ready").json
    assert body["status"] == "ok"
    worker = body["checks"]["worker"]
    assert worker["ok"] is True and worker["age_seconds"] < 5 and worker["workers"] == 1
    assert worker["stale_after_seconds"] == 60

    with app.app_context():
        db.session.execute(update(WorkerHeartbeat).values(beat_at=utcnow() - timedelta(seconds=120)))
        db.session.commit()
    response = client.get("/health/ready")
    assert response.status_code == 200  # a silent worker is reported, never takes the web down
    worker = response.json["checks"]["worker"]
    assert worker["ok"] is False and 119 <= worker["age_seconds"] < 130 and worker["workers"] == 0
    assert response.json["status"] == "degraded"

    app.config["WORKER_STALE_SECONDS"] = 300
    assert client.get("/health/ready").json["checks"]["worker"]["ok"] is True


def test_stopped_worker_is_not_ok(client, runner):
    assert runner.invoke(args=["worker", "--once"]).exit_code == 0
    worker = client.get("/health/ready").json["checks"]["worker"]
    assert worker["ok"] is False and worker["stopped"] is True


def test_queue_depth_counts_expired_windows_until_the_worker_records_them(app, client, runner, activate):
    activate(message="short", ends_at="1h")
    expire_active_window(app)
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json["checks"]["queues"]["depths"]["expired_windows_pending"] == 1
    assert runner.invoke(args=["worker", "--once"]).exit_code == 0
    assert client.get("/health/ready").json["checks"]["queues"]["depths"]["expired_windows_pending"] == 0


def test_ready_is_200_during_maintenance(client, activate):
    activate()
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json["checks"]["maintenance_state"]["active"] is True


def test_redis_is_checked_only_when_configured_and_never_critical(app, client, redis_url):
    app.config["REDIS_URL"] = redis_url
    redis = client.get("/health/ready").json["checks"]["redis"]
    assert redis["ok"] is True and redis["critical"] is False and redis["latency_ms"] >= 0

    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json["status"] == "degraded"
    redis = response.json["checks"]["redis"]
    assert redis["ok"] is False and "ConnectionError" in redis["error"]


def test_database_down_is_503_and_skips_the_checks_that_need_it(tmp_path):
    app = make_app(tmp_path)
    client = app.test_client()
    assert client.get("/health/ready").status_code == 200
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
        db._app_engines[app][None] = create_engine("sqlite:////nonexistent/dir/pausa.db")
    response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.json
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is False
    assert "OperationalError" in body["checks"]["database"]["error"]
    assert body["checks"]["worker"]["error"] == "database unavailable"
    assert body["checks"]["queues"]["depths"] == {}
    assert body["checks"]["maintenance_state"]["stale"] is True
    metrics = samples(client.get("/metrics").get_data(as_text=True))  # a scrape still answers
    assert metrics[("pausa_maintenance_state_stale", ())] == 1


# -- /metrics ---------------------------------------------------------------------------------


def test_metrics_count_requests_and_gate_decisions(client, activate):
    assert client.get("/").status_code == 200
    assert client.get("/").status_code == 200
    assert client.get("/no-such-page").status_code == 404
    activate(message="Deploying")
    assert client.get("/").status_code == 503
    assert client.get("/api/v1/items").status_code == 503

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    assert response.headers["Cache-Control"] == "no-store"
    metrics = samples(response.get_data(as_text=True))
    assert metrics[("pausa_http_requests_total", (("status", "200"),))] == 2
    assert metrics[("pausa_http_requests_total", (("status", "404"),))] == 1
    assert metrics[("pausa_http_requests_total", (("status", "503"),))] == 2
    assert metrics[("pausa_gate_decisions_total", (("outcome", "allow"),))] == 3
    assert metrics[("pausa_gate_decisions_total", (("outcome", "block"),))] == 2
    assert metrics[("pausa_gate_decisions_total", (("outcome", "banner"),))] == 0
    assert metrics[("pausa_maintenance_active", ())] == 1
    assert metrics[("pausa_maintenance_state_version", ())] == 2
    assert metrics[("pausa_maintenance_state_stale", ())] == 0
    assert metrics[("pausa_queue_depth", (("queue", "expired_windows_pending"),))] == 0

    again = samples(client.get("/metrics").get_data(as_text=True))
    assert again[("pausa_http_requests_total", (("status", "200"),))] == 3  # the first scrape counted


def test_metrics_count_every_blocked_request_whichever_layer_answers(client, activate):
    """Repeated anonymous blocks and status polls may be answered by the WSGI fast path."""
    activate(message="Deploying")
    for _ in range(5):
        assert client.get("/").status_code == 503
        assert client.get("/maintenance/status", headers={"HX-Request": "true"}).status_code == 200
    metrics = samples(client.get("/metrics").get_data(as_text=True))
    assert metrics[("pausa_http_requests_total", (("status", "503"),))] == 5
    assert metrics[("pausa_http_requests_total", (("status", "200"),))] == 5
    assert metrics[("pausa_gate_decisions_total", (("outcome", "block"),))] == 5
    assert metrics[("pausa_gate_decisions_total", (("outcome", "allow"),))] == 5


def test_count_fast_counts_what_the_wsgi_fast_path_answers(app, client):
    metrics = app.extensions[METRICS_KEY]
    metrics.count_fast(503)
    metrics.count_fast(503)
    metrics.count_fast(200)
    scraped = samples(client.get("/metrics").get_data(as_text=True))
    assert scraped[("pausa_http_requests_total", (("status", "503"),))] == 2
    assert scraped[("pausa_gate_decisions_total", (("outcome", "block"),))] == 2
    assert scraped[("pausa_gate_decisions_total", (("outcome", "allow"),))] == 1


def test_metrics_after_the_window_ends_by_the_clock(app, client, activate):
    activate(ends_at="1h")
    expire_active_window(app)
    metrics = samples(client.get("/metrics").get_data(as_text=True))
    assert metrics[("pausa_maintenance_active", ())] == 0
    assert metrics[("pausa_queue_depth", (("queue", "expired_windows_pending"),))] == 1


def test_metrics_token_is_required_when_configured(app, client):
    app.config["METRICS_TOKEN"] = "s3cret-metrics"
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    allowed = client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"})
    assert allowed.status_code == 200
    assert "pausa_http_requests_total" in allowed.get_data(as_text=True)


def test_metrics_are_served_during_maintenance(client, activate):
    activate()
    assert client.get("/metrics").status_code == 200


WORKER_SCRIPT = textwrap.dedent(
    """
    import sys
    from app import create_app

    database, directory, requests, scrape = sys.argv[1:5]
    app = create_app({"SQLALCHEMY_DATABASE_URI": database, "PROMETHEUS_MULTIPROC_DIR": directory})
    client = app.test_client()
    for _ in range(int(requests)):
        assert client.get("/health/live").status_code == 200
    client.get("/no-such-page")
    if scrape == "scrape":
        sys.stdout.write(client.get("/metrics").get_data(as_text=True))
    """
)


def test_multiprocess_scrape_sums_every_worker(tmp_path, monkeypatch):
    """Two processes share PROMETHEUS_MULTIPROC_DIR, as gunicorn workers do; a scrape sums them."""
    database = f"sqlite:///{tmp_path / 'pausa.db'}"
    make_app(tmp_path, database_url=database)
    directory = tmp_path / "prometheus"
    directory.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in ("TEST_DATABASE_URL", "REDIS_URL")}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(directory)

    def run(requests: int, scrape: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", WORKER_SCRIPT, database, str(directory), str(requests), scrape],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True,
        )

    first = subprocess.Popen(
        [sys.executable, "-c", WORKER_SCRIPT, database, str(directory), "3", "no"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert first.wait(timeout=60) == 0, first.stderr.read()
    assert list(directory.glob(f"*_{first.pid}.db"))  # it wrote its counters to the shared directory
    # The gunicorn master's child_exit hook, as gunicorn.conf.py wires it.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    child_exit(None, SimpleNamespace(pid=first.pid))

    scraped = run(4, "scrape").stdout
    metrics = samples(scraped)
    assert metrics[("pausa_http_requests_total", (("status", "200"),))] == 3 + 4
    assert metrics[("pausa_http_requests_total", (("status", "404"),))] == 2
    assert metrics[("pausa_gate_decisions_total", (("outcome", "allow"),))] == 3 + 4 + 2
    assert metrics[("pausa_maintenance_active", ())] == 0
    assert metrics[("pausa_maintenance_state_version", ())] == 1


# -- the dashboard's health panel ---------------------------------------------------------------


@pytest.fixture
def admin(client, auth):
    auth.login("admin")


def test_dashboard_includes_a_self_rearming_health_panel(client, admin):
    html = client.get("/admin").get_data(as_text=True)
    assert 'id="health-panel"' in html
    assert 'data-hx-get="/admin/health-panel" data-hx-trigger="every 15s" data-hx-swap="outerHTML"' in html
    assert "Database" in html and "no heartbeat" in html


def test_health_panel_partial(app, client, admin, runner, activate):
    activate(ends_at="1h")
    expire_active_window(app)
    runner.invoke(args=["worker", "--once"])
    response = client.get("/admin/health-panel", headers=HX)
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="health-panel"')
    assert 'data-hx-trigger="every 15s"' in html and 'data-hx-swap="outerHTML"' in html
    assert " ms" in html and "not configured" in html
    assert "stopped" in html  # --once left a stopped heartbeat
    assert "expired windows pending: 0" in html
    assert "version 4" in html
    assert "<html" not in html
    full = client.get("/admin/health-panel")
    assert full.status_code == 200 and "<html" in full.get_data(as_text=True)


def test_health_panel_needs_an_admin(client, auth):
    anonymous = client.get("/admin/health-panel", headers=HX)
    assert anonymous.status_code == 401
    assert anonymous.headers["HX-Redirect"].startswith("/auth/login")
    auth.login("developer")
    assert client.get("/admin/health-panel", headers=HX).status_code == 403
