"""Prometheus metrics at `/metrics`, correct across gunicorn workers.

Two counters are counted in one cheap after_request hook (a dict lookup and an
increment): `pausa_http_requests_total{status}` and
`pausa_gate_decisions_total{outcome}`; the webhook receivers count what they
refuse in `pausa_webhook_rejections_total{provider,reason}`. Everything describing the state —
`pausa_maintenance_active`, `pausa_maintenance_state_version`,
`pausa_maintenance_state_stale`, `pausa_queue_depth{queue}`,
`pausa_worker_heartbeat_age_seconds` — is computed when Prometheus scrapes,
so no worker keeps gauges that would need aggregating.

Across processes: with `PROMETHEUS_MULTIPROC_DIR` set in the environment
*before the process starts* (prometheus_client picks its storage when it is
imported), every gunicorn worker writes its counters to files in that
directory and a scrape answered by any worker sums them. The gunicorn config
empties the directory at start and calls `child_exit` below when a worker
dies. Without it, each process counts on its own (one process: correct).

The endpoint has no login: keep it on a private network, or set
`METRICS_TOKEN` and scrape with `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, g
from pausa_gate.decision import Outcome
from pausa_gate.windows import utcnow, window_in_effect
from prometheus_client import CollectorRegistry, Counter, generate_latest, multiprocess, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from .config import prometheus_multiproc_dir
from .extensions import db

log = logging.getLogger(__name__)

EXTENSION_KEY = "pausa.metrics"


class Metrics:
    """This app's counters and the registry a scrape reads."""

    def __init__(self, multiproc_dir: str | None):
        self.multiproc_dir = multiproc_dir
        # Not in prometheus_client's global registry: each app (and test) has its own.
        self.requests = Counter(
            "pausa_http_requests", "HTTP responses, by status code.", ["status"], registry=None
        )
        self.decisions = Counter(
            "pausa_gate_decisions", "Maintenance gate decisions, by outcome.", ["outcome"], registry=None
        )
        self.webhook_rejections = Counter(
            "pausa_webhook_rejections", "Inbound webhook requests refused, by provider and reason.",
            ["provider", "reason"], registry=None,
        )
        self._by_status: dict[int, Any] = {}
        self._by_outcome = {outcome: self.decisions.labels(outcome=outcome.value) for outcome in Outcome}
        self.registry = CollectorRegistry()
        if not multiproc_dir:
            self.registry.register(self.requests)
            self.registry.register(self.decisions)
            self.registry.register(self.webhook_rejections)
            self.registry.register(StateCollector())

    def count(self, response: Response) -> Response:
        """after_request: count the response and the gate's decision (blocked responses too)."""
        child = self._by_status.get(response.status_code)
        if child is None:
            child = self._by_status[response.status_code] = self.requests.labels(
                status=str(response.status_code)
            )
        child.inc()
        decision = g.get("maintenance")
        if decision is not None:
            self._by_outcome[decision.outcome].inc()
        return response

    def count_fast(self, status: int, outcome: Outcome | None = None) -> None:
        """Count a response the WSGI fast path answered without Flask (app/fastpath.py).

        It answers only status polls (an always-allowed path: allow) and anonymous
        blocks (503: block), so the outcome follows from the status when not given.
        """
        child = self._by_status.get(status)
        if child is None:
            child = self._by_status[status] = self.requests.labels(status=str(status))
        child.inc()
        if outcome is None:
            outcome = Outcome.BLOCK if status == 503 else Outcome.ALLOW
        self._by_outcome[outcome].inc()

    def count_webhook_rejection(self, provider: str, reason: str) -> None:
        """Count one refused webhook request (app/blueprints/webhooks.py)."""
        self.webhook_rejections.labels(provider=provider, reason=reason).inc()

    def scrape_registry(self) -> CollectorRegistry:
        """The registry to expose: this process's, or every worker's files summed."""
        if not self.multiproc_dir:
            return self.registry
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.multiproc_dir)
        registry.register(StateCollector())
        return registry


class StateCollector:
    """Gauges computed at scrape time from this worker's state cache and the database."""

    def collect(self) -> Iterator[Metric]:
        from .gate.inapp import state_cache
        from .services import health as health_service

        now = utcnow()
        state = state_cache().get()
        yield GaugeMetricFamily(
            "pausa_maintenance_active", "1 while a maintenance window is in effect.",
            value=1 if window_in_effect(state, now) is not None else 0,
        )
        yield GaugeMetricFamily(
            "pausa_maintenance_state_version", "Version of the maintenance state this worker enforces.",
            value=state.version,
        )
        yield GaugeMetricFamily(
            "pausa_maintenance_state_stale",
            "1 when the database was unreachable and the last known state is enforced.",
            value=1 if state.stale else 0,
        )
        depths = GaugeMetricFamily("pausa_queue_depth", "Items waiting, by queue.", labels=["queue"])
        heartbeat = GaugeMetricFamily(
            "pausa_worker_heartbeat_age_seconds", "Seconds since the newest worker heartbeat."
        )
        try:
            for name, depth in health_service.queue_depths().items():
                depths.add_metric([name], depth)
            worker = health_service.check_worker(current_app.config["WORKER_STALE_SECONDS"], now)
            if worker.get("age_seconds") is not None:
                heartbeat.add_metric([], worker["age_seconds"])
        except Exception as error:  # a scrape reports what it can; the database may be down
            db.session.rollback()
            log.warning("metrics: queue depths unavailable: %s", error)
        yield depths
        yield heartbeat


def _authorized(expected: str) -> bool:
    from .gate.inapp import bearer_token

    given = bearer_token() or ""
    return hmac.compare_digest(given.encode(), expected.encode())


def metrics_view() -> Response:
    """Answer Prometheus with the text exposition format."""
    token = current_app.config.get("METRICS_TOKEN")
    if token and not _authorized(token):
        response = Response("Unauthorized\n", status=401, mimetype="text/plain")
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    metrics: Metrics = current_app.extensions[EXTENSION_KEY]
    response = Response(generate_latest(metrics.scrape_registry()), content_type=CONTENT_TYPE_PLAIN_0_0_4)
    response.headers["Cache-Control"] = "no-store"
    return response


def register_metrics(app: Flask) -> None:
    """Count requests and gate decisions, and serve `/metrics`."""
    directory = app.config.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        if not getattr(values.ValueClass, "_multiprocess", False):
            log.warning(
                "PROMETHEUS_MULTIPROC_DIR is configured, but prometheus_client was imported without it "
                "in the environment: this process's counts are not shared with the other workers."
            )
    metrics = Metrics(directory)
    app.extensions[EXTENSION_KEY] = metrics
    app.after_request(metrics.count)
    app.add_url_rule("/metrics", endpoint="metrics", view_func=metrics_view, methods=["GET"])


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn `child_exit` hook: drop a dead worker's live gauges from the shared directory."""
    directory = prometheus_multiproc_dir()
    if directory:
        multiprocess.mark_process_dead(worker.pid, directory)
