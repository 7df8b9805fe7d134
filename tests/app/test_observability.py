"""Observability: latency by route group, the state cache, process figures, backlog thresholds,
the Prometheus rules and Grafana dashboard, and Sentry error tracking."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, func, select, update

from app.extensions import db
from app.models import AdminAlert, AuditEntry, WebhookEvent, WorkerHeartbeat
from app.services import backlog as backlog_service
from app.worker import load_tasks
from tests.app.test_health_metrics import samples
from tests.support.apps import make_app

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "deploy" / "observability"


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return samples(response.get_data(as_text=True))


def latency_count(metrics: dict, group: str) -> float:
    return metrics.get(("pausa_http_request_duration_seconds_count", (("group", group),)), 0)


# -- latency by route group -------------------------------------------------------------------------


def test_latency_is_counted_by_route_group_never_by_path(client, activate):
    for path in ("/health/live", "/health/ready", "/auth/login", "/admin", "/no-such-page", "/nothing/else"):
        client.get(path)
    client.get("/api/admin/maintenance")
    activate(message="Deploying")
    for _ in range(3):  # the first is Flask's gate; the next may be the fast path's
        assert client.get("/", headers={"Accept": "text/html"}).status_code == 503
    metrics = scrape(client)
    assert latency_count(metrics, "health") == 2
    assert latency_count(metrics, "admin") == 2
    assert latency_count(metrics, "api") == 1
    assert latency_count(metrics, "other") == 2  # two unknown paths, one label value
    assert latency_count(metrics, "gate_block") + latency_count(metrics, "fast_path") == 3
    groups = {dict(labels).get("group") for (name, labels) in metrics if name.startswith("pausa_http_request_dur")}
    assert "/no-such-page" not in groups and len(groups) <= 15
    buckets = {dict(labels)["le"] for (name, labels) in metrics
               if name == "pausa_http_request_duration_seconds_bucket"}
    assert {"0.001", "2.5", "+Inf"} <= buckets
    # every observation took less than 2.5 s and more than nothing
    assert metrics[("pausa_http_request_duration_seconds_sum", (("group", "health"),))] > 0


def test_fast_path_answers_have_their_own_latency_group(tmp_path):
    app = make_app(tmp_path, MAINTENANCE_STATE_TTL=3600)  # a fresh state: the fast path may answer
    client = app.test_client()
    assert app.test_cli_runner().invoke(args=["maintenance", "on", "--message", "Deploying"]).exit_code == 0
    for _ in range(6):
        client.get("/maintenance/status", headers={"HX-Request": "true"})
    metrics = scrape(client)
    assert latency_count(metrics, "fast_path") >= 4  # after Flask rendered the partial once


# -- the state cache -------------------------------------------------------------------------------


def refreshes(metrics: dict, trigger: str, outcome: str) -> float:
    return metrics[("pausa_state_cache_refreshes_total", (("outcome", outcome), ("trigger", trigger)))]


def test_state_cache_hits_and_refreshes(tmp_path):
    app = make_app(tmp_path, MAINTENANCE_STATE_TTL=3600)  # inline revalidation, at most once an hour
    client = app.test_client()
    first = scrape(client)
    assert refreshes(first, "ttl", "reloaded") == 1  # the first lookup loads the state
    for _ in range(5):
        client.get("/health/live")
    metrics = scrape(client)
    assert metrics[("pausa_state_cache_hits_total", ())] >= 5
    assert refreshes(metrics, "ttl", "reloaded") == 1
    assert metrics[("pausa_state_source", (("source", "database"),))] == 1
    assert metrics[("pausa_state_source", (("source", "redis"),))] == 0
    assert 0 <= metrics[("pausa_maintenance_state_age_seconds", ())] < 60

    # A change made in this process invalidates the cache: a notified refresh.
    assert app.test_cli_runner().invoke(args=["maintenance", "on", "--message", "x"]).exit_code == 0
    metrics = scrape(client)
    assert refreshes(metrics, "notified", "reloaded") == 1
    assert metrics[("pausa_maintenance_active", ())] == 1


def test_state_source_and_failed_refreshes_while_the_database_is_down(tmp_path):
    app = make_app(tmp_path)
    client = app.test_client()
    assert scrape(client)[("pausa_state_source", (("source", "database"),))] == 1
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
        db._app_engines[app][None] = create_engine("sqlite:////nonexistent/dir/pausa.db")
    metrics = scrape(client)
    assert refreshes(metrics, "ttl", "failed") >= 1
    assert metrics[("pausa_maintenance_state_stale", ())] == 1
    assert metrics[("pausa_state_source", (("source", "database"),))] == 1  # the last state it knew


# -- process figures -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["pausa_process_resident_memory_bytes", "pausa_process_cpu_seconds",
                                  "pausa_process_open_fds"])
def test_process_figures_of_a_single_process_carry_its_pid(client, name):
    metrics = scrape(client)
    assert metrics[(name, (("pid", str(os.getpid())),))] > 0


# -- backlog thresholds ---------------------------------------------------------------------------


def add_events(app, count: int, status: str = "pending") -> None:
    with app.app_context():
        for number in range(count):
            db.session.add(WebhookEvent(provider="stripe", event_id=f"evt_{status}_{number}", payload="{}",
                                        status=status))
        db.session.commit()


def clear_events(app) -> None:
    with app.app_context():
        db.session.execute(delete(WebhookEvent))
        db.session.commit()


@pytest.mark.parametrize(("setting", "queue", "status"), [
    ("BACKLOG_WARN_WEBHOOKS", "webhook_inbox_pending", "pending"),
    ("DEAD_LETTER_WARN", "webhook_dead_letters", "dead"),
])
def test_a_crossed_threshold_makes_ready_degraded_and_names_it(app, client, runner, setting, queue, status):
    assert runner.invoke(args=["worker", "--once"]).exit_code == 0
    with app.app_context():
        db.session.execute(update(WorkerHeartbeat).values(stopped_at=None))
        db.session.commit()
    app.config[setting] = 3
    add_events(app, 2, status)
    body = client.get("/health/ready").json
    assert body["status"] == "ok"
    assert body["checks"]["backlog"] == {"ok": True, "critical": False, "crossed": {}}
    add_events_more(app, status)
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json["status"] == "degraded"
    assert response.json["checks"]["backlog"]["crossed"] == {
        queue: {"depth": 3, "threshold": 3, "setting": setting}
    }
    with app.app_context():  # a load balancer polling must not write
        assert db.session.scalar(select(func.count()).select_from(AdminAlert)) == 0
    app.config[setting] = 0  # off
    assert client.get("/health/ready").json["status"] == "ok"


def add_events_more(app, status: str) -> None:
    with app.app_context():
        db.session.add(WebhookEvent(provider="stripe", event_id=f"evt_{status}_extra", payload="{}", status=status))
        db.session.commit()


def backlog_alerts(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AdminAlert.cause).where(AdminAlert.kind == "backlog")
                                       .order_by(AdminAlert.id)))


def test_one_alert_per_crossing_raised_by_the_worker_task(app):
    assert "alert-backlogs" in load_tasks().names()
    app.config["BACKLOG_WARN_WEBHOOKS"] = 2
    add_events(app, 2)
    with app.app_context():
        assert backlog_service.alert_backlogs() == ["backlog:webhook_inbox_pending:1"]
        assert backlog_service.alert_backlogs() == []  # still over: the same crossing
    add_events_more(app, "pending")
    with app.app_context():
        assert backlog_service.alert_backlogs() == []
    assert backlog_alerts(app) == ["backlog:webhook_inbox_pending:1"]
    with app.app_context():
        summary = db.session.scalar(select(AdminAlert.summary))
        assert "BACKLOG_WARN_WEBHOOKS=2" in summary and "webhook_inbox_pending" in summary

    clear_events(app)  # back under: the episode closes, audited
    with app.app_context():
        assert backlog_service.alert_backlogs() == []
        cleared = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "backlog.cleared")).all()
        assert [entry.details["cause"] for entry in cleared] == ["backlog:webhook_inbox_pending:1"]
        assert backlog_service.alert_backlogs() == []  # no second "cleared"
        assert db.session.scalar(select(func.count()).where(AuditEntry.action == "backlog.cleared")) == 1

    add_events(app, 2)  # crossed again: a new alert
    with app.app_context():
        assert backlog_service.alert_backlogs() == ["backlog:webhook_inbox_pending:2"]
    assert backlog_alerts(app) == ["backlog:webhook_inbox_pending:1", "backlog:webhook_inbox_pending:2"]


def test_dead_letters_degrade_readiness_but_alert_one_by_one_not_as_a_backlog(app):
    add_events(app, 3, "dead")
    with app.app_context():
        assert backlog_service.alert_backlogs() == []
    assert backlog_alerts(app) == []


# -- Prometheus rules and the Grafana dashboard ----------------------------------------------------

# Names PromQL itself provides, not Pausa.
PROMQL_WORDS = {
    "up", "absent", "max", "min", "sum", "by", "on", "unless", "and", "or", "rate", "histogram_quantile",
    "le", "group", "queue", "status", "outcome", "trigger", "source", "provider", "reason", "pid", "instance",
    "job", "humanize", "humanize1024", "humanizeDuration", "value", "labels", "e6",
}
CHECKED_LABELS = ("queue", "group", "outcome", "trigger", "source")


def rule_expressions() -> list[str]:
    """Every rule's expression (one line each; promtool checks the YAML as a whole)."""
    text = (OBSERVABILITY / "prometheus-rules.yml").read_text()
    return [match.strip() for match in re.findall(r"^\s+expr: (.+)$", text, flags=re.MULTILINE)]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((OBSERVABILITY / "grafana-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[tuple[str, tuple], float]:
    """What /metrics of a running app exports after some traffic (a worker beat, a refused webhook, a block)."""
    app = make_app(tmp_path_factory.mktemp("exported"))
    client = app.test_client()
    runner = app.test_cli_runner()
    assert runner.invoke(args=["worker", "--once"]).exit_code == 0
    for path in ("/", "/health/live", "/no-such-page"):
        client.get(path)
    assert client.post("/webhooks/stripe", data=b"{}").status_code == 400  # refused: counted
    assert runner.invoke(args=["maintenance", "on", "--message", "Deploying"]).exit_code == 0
    client.get("/")
    return scrape(client)


@pytest.mark.parametrize("source", ["rules", "dashboard"])
def test_every_metric_named_in_the_rules_and_dashboard_is_exported(exported, source):
    expressions = rule_expressions() if source == "rules" else dashboard_expressions()
    assert len(expressions) >= 10
    names = {name for name, _ in exported}
    for expression in expressions:
        for word in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", re.sub(r'"[^"]*"', '""', expression)):
            if word in PROMQL_WORDS or not word.startswith("pausa_"):
                continue
            assert word in names, f"{word} (in {expression!r}) is not exported by /metrics"
        for metric, matchers in re.findall(r"(pausa_\w+)\{([^}]*)\}", expression):
            for label, values in re.findall(r'(\w+)=~?"([^"]*)"', matchers):
                if label not in CHECKED_LABELS:
                    continue
                known = {dict(labels).get(label) for name, labels in exported if name == metric}
                for value in values.split("|"):
                    assert value in known, f'{metric}{{{label}="{value}"}} is never exported'


def test_promtool_accepts_the_rules():
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run scripts/install-system-packages.sh (Debian's prometheus)"
    done = subprocess.run([promtool, "check", "rules", str(OBSERVABILITY / "prometheus-rules.yml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: " in done.stdout + done.stderr


def test_the_dashboard_is_a_grafana_dashboard_with_the_panels_operators_need():
    dashboard = json.loads((OBSERVABILITY / "grafana-dashboard.json").read_text())
    assert dashboard["title"] and dashboard["uid"] and dashboard["schemaVersion"] >= 30
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["type"] in ("timeseries", "stat") and panel["targets"]
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
        assert all(target["refId"] for target in panel["targets"])
    every = " ".join(dashboard_expressions())
    for needed in ("pausa_http_requests_total", "histogram_quantile(0.5", "histogram_quantile(0.95",
                   "histogram_quantile(0.99", "pausa_gate_decisions_total", "pausa_maintenance_active",
                   "pausa_queue_depth", "pausa_worker_heartbeat_age_seconds", "pausa_state_cache_hits_total",
                   "pausa_process_resident_memory_bytes", "pausa_process_cpu_seconds"):
        assert needed in every


# -- Sentry ----------------------------------------------------------------------------------------


class FakeSentry(BaseHTTPRequestHandler):
    envelopes: list[bytes] = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        FakeSentry.envelopes.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


SENTRY_SCRIPT = textwrap.dedent(
    """
    import sentry_sdk
    from app import create_app

    app = create_app(instance_path=__import__("sys").argv[1])

    @app.get("/boom")
    def boom():
        raise RuntimeError("boom from the observability test")

    response = app.test_client().get("/boom")
    assert response.status_code == 500, response.status_code
    sentry_sdk.flush(timeout=5)
    print("sentry on" if sentry_sdk.get_client().is_active() else "sentry off")
    """
)


@pytest.fixture
def fake_sentry():
    FakeSentry.envelopes = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeSentry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("enabled", [True, False])
def test_an_unhandled_error_reaches_sentry_only_when_a_dsn_is_set(tmp_path, fake_sentry, enabled):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TEST_", "SENTRY_"))}
    env.update(
        PAUSA_ENV="staging", DATABASE_URL=f"sqlite:///{tmp_path / 'pausa.db'}", SECRET_KEY="s",
        MAINTENANCE_STATE_FILE=str(tmp_path / "gate-state.json"), PROMETHEUS_MULTIPROC_DIR="", REDIS_URL="",
        RATELIMIT_STORAGE_URI="memory://", SENTRY_RELEASE="pausa@test",
        SENTRY_DSN=f"http://public@127.0.0.1:{fake_sentry}/1" if enabled else "",
    )
    make_app(tmp_path, database_url=env["DATABASE_URL"])
    done = subprocess.run([sys.executable, "-c", SENTRY_SCRIPT, str(tmp_path / "instance")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    if not enabled:
        assert done.stdout.strip() == "sentry off"
        assert FakeSentry.envelopes == []
        return
    assert done.stdout.strip() == "sentry on"
    events = []
    for envelope in FakeSentry.envelopes:
        lines = envelope.split(b"\n")
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == "event":
                events.append(json.loads(payload))
    assert len(events) == 1
    event = events[0]
    values = event["exception"]["values"]
    assert values[-1]["type"] == "RuntimeError" and "boom from the observability test" in values[-1]["value"]
    assert event["environment"] == "staging" and event["release"] == "pausa@test"
    assert event["request"]["url"].endswith("/boom")
    assert "cookies" not in event["request"] and "user" not in event  # send_default_pii is off


SECRET_SCRIPT = textwrap.dedent(
    """
    import sentry_sdk
    from app import create_app

    app = create_app(instance_path=__import__("sys").argv[1])
    app.config["WTF_CSRF_ENABLED"] = False

    @app.post("/boom/<token>")
    def boom(token):
        raise RuntimeError("boom with a secret in the path and the form")

    response = app.test_client().post("/boom/sekrit-link-token?next=sekrit-query",
                                      data={"password_confirmation": "hunter2-new-password"})
    assert response.status_code == 500, response.status_code
    sentry_sdk.flush(timeout=5)
    """
)


def test_links_and_form_fields_never_reach_sentry(tmp_path, fake_sentry):
    """Set-password, bypass and unsubscribe links carry their secret in the path; forms carry passwords."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TEST_", "SENTRY_"))}
    env.update(
        PAUSA_ENV="staging", DATABASE_URL=f"sqlite:///{tmp_path / 'pausa.db'}", SECRET_KEY="s",
        MAINTENANCE_STATE_FILE=str(tmp_path / "gate-state.json"), PROMETHEUS_MULTIPROC_DIR="", REDIS_URL="",
        RATELIMIT_STORAGE_URI="memory://", SENTRY_DSN=f"http://public@127.0.0.1:{fake_sentry}/1",
    )
    make_app(tmp_path, database_url=env["DATABASE_URL"])
    done = subprocess.run([sys.executable, "-c", SECRET_SCRIPT, str(tmp_path / "instance")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    sent = b"".join(FakeSentry.envelopes)
    assert b"boom with a secret" in sent  # the error itself did arrive
    for secret in (b"sekrit-link-token", b"sekrit-query", b"hunter2-new-password"):
        assert secret not in sent
    assert b"/boom/<token>" in sent  # the route, so the error can still be found
