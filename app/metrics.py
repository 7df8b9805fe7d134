"""Prometheus metrics at `/metrics`, correct across gunicorn workers (docs/observability.md lists them).

One cheap after_request hook (dict lookups and increments) counts
`pausa_http_requests_total{status}`, `pausa_gate_decisions_total{outcome}` and
the latency histogram `pausa_http_request_duration_seconds{group}`, timed from
the moment the WSGI fast path (app/gate/fastpath.py) saw the request; what the
fast path answers itself is counted there, in the group `fast_path`. The
webhook receivers count what they refuse in
`pausa_webhook_rejections_total{provider,reason}`. The state cache counts its
hits in a plain integer and reports each revalidation (`pausa_state_cache_*`).
Everything describing the state — `pausa_maintenance_active`,
`pausa_maintenance_state_version`, `pausa_maintenance_state_stale`,
`pausa_maintenance_state_age_seconds`, `pausa_state_source{source}`,
`pausa_queue_depth{queue}`, `pausa_worker_heartbeat_age_seconds` — is computed
when Prometheus scrapes, so no worker keeps gauges that would need aggregating.

Process figures (`pausa_process_*{pid}`: resident memory, CPU seconds, open
files) cannot come from prometheus_client's ProcessCollector, which sees only
the process answering the scrape: each worker writes its own into live gauges
(multiprocess mode "liveall", one series per living worker) when it is scraped
and at most every PROCESS_STATS_SECONDS after a state refresh (every second in
each worker); gunicorn's child_exit drops a dead worker's.

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
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, g, request
from pausa_gate import cache as state_cache_module
from pausa_gate.decision import Outcome
from pausa_gate.windows import utcnow, window_in_effect
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from .config import prometheus_multiproc_dir
from .extensions import METRICS_KEY, STATE_CACHE_KEY, db
from .gate.fastpath import STARTED_KEY
from .gate.inapp import bearer_token, state_cache
from .services import health as health_service
from .services import queues

log = logging.getLogger(__name__)

# A gate answers in milliseconds; a page that needs the database may take a second or two.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
GATE_BLOCK = "gate_block"
FAST_PATH = "fast_path"
OTHER = "other"
# Blueprint -> latency group: a handful of label values, never a raw path.
GROUPS = {
    "public": "maintenance_page", "visitor": "maintenance_page",
    "status": "status_page", "visitor_status": "status_page",
    "standing": "status_page", "visitor_standing": "status_page",
    "bypass": "maintenance_page", "visitor_bypass": "maintenance_page",
    "admin": "admin", "audit": "admin", "analytics": "admin", "auth": "admin",
    "api": "api",
    "webhooks": "webhooks",
    "health": "health",
    "edge": "edge_check",
    "site": "site",
}
LATENCY_GROUPS = (*dict.fromkeys(GROUPS.values()), "static", GATE_BLOCK, FAST_PATH, OTHER)
PROCESS_STATS_SECONDS = 5.0


def latency_group(endpoint: str | None) -> str:
    """Name the latency group of a Flask endpoint (`None`: no route matched)."""
    if endpoint is None:
        return OTHER
    if endpoint == "metrics":
        return "health"
    blueprint, _, view = endpoint.rpartition(".")
    if view == "static":
        return "static"
    return GROUPS.get(blueprint.partition(".")[0], OTHER)  # a nested blueprint (admin.tokens): its parent's


def process_stats() -> dict[str, float]:
    """This process's resident memory, CPU seconds and open files (what the platform lets us read)."""
    times = os.times()
    stats = {"cpu_seconds": times.user + times.system}
    try:
        with open("/proc/self/statm") as statm:
            stats["resident_memory_bytes"] = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        stats["open_fds"] = len(os.listdir("/proc/self/fd"))
    except (OSError, ValueError, IndexError):  # not Linux: CPU time only
        pass
    return stats


PROCESS_GAUGES = {
    "resident_memory_bytes": (
        "pausa_process_resident_memory_bytes", "Resident memory of a web worker, by pid."
    ),
    "cpu_seconds": ("pausa_process_cpu_seconds", "User and system CPU seconds a web worker used, by pid."),
    "open_fds": ("pausa_process_open_fds", "Open file descriptors of a web worker, by pid."),
}


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
        self.latency = Histogram(
            "pausa_http_request_duration_seconds", "Time to answer a request, by route group.",
            ["group"], buckets=LATENCY_BUCKETS, registry=None,
        )
        self.cache_hits = Counter(
            "pausa_state_cache_hits", "Gate state lookups answered from this worker's memory.", registry=None
        )
        self.cache_refreshes = Counter(
            "pausa_state_cache_refreshes",
            "Revalidations of a worker's gate state, by trigger (ttl, notified) and outcome.",
            ["trigger", "outcome"], registry=None,
        )
        self._by_status: dict[int, Any] = {}
        self._by_outcome = {outcome: self.decisions.labels(outcome=outcome.value) for outcome in Outcome}
        self._by_group = {group: self.latency.labels(group=group) for group in LATENCY_GROUPS}
        self._group_of: dict[str | None, Any] = {}
        self._cache: Any = None
        self._hits_counted = 0
        self._flush_lock = threading.Lock()
        # Created on first use, in the worker that uses them: a gauge made in the gunicorn master
        # would show the master as one more (idle) process.
        self._process_gauges: dict[str, Gauge] | None = None
        self._process_stats_at = float("-inf")
        self.registry = CollectorRegistry()
        if not multiproc_dir:
            for metric in (self.requests, self.decisions, self.webhook_rejections, self.latency,
                           self.cache_hits, self.cache_refreshes):
                self.registry.register(metric)
            self.registry.register(StateCollector())
            self.registry.register(ProcessCollector())

    def count(self, response: Response) -> Response:
        """after_request: count the response, the gate's decision (blocked responses too) and the latency."""
        child = self._by_status.get(response.status_code)
        if child is None:
            child = self._by_status[response.status_code] = self.requests.labels(
                status=str(response.status_code)
            )
        child.inc()
        decision = g.get("maintenance")
        if decision is not None:
            self._by_outcome[decision.outcome].inc()
        started = request.environ.get(STARTED_KEY)
        if started is not None:
            if decision is not None and decision.blocked:
                histogram = self._by_group[GATE_BLOCK]
            else:
                endpoint = request.endpoint
                histogram = self._group_of.get(endpoint)
                if histogram is None:
                    histogram = self._group_of[endpoint] = self._by_group[latency_group(endpoint)]
            histogram.observe(time.perf_counter() - started)
        return response

    def count_fast(self, status: int, outcome: Outcome | None = None, started: float | None = None) -> None:
        """Count a response the WSGI fast path answered without Flask (app/gate/fastpath.py).

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
        if started is not None:
            self._by_group[FAST_PATH].observe(time.perf_counter() - started)

    def watch_cache(self, cache: Any) -> None:
        """Count the state cache's refreshes as they happen, and its hits at each refresh and scrape."""
        self._cache = cache
        self._hits_counted = cache.hits
        for trigger in (state_cache_module.TTL, state_cache_module.NOTIFIED):
            for outcome in (state_cache_module.CONFIRMED, state_cache_module.RELOADED,
                            state_cache_module.HELD, state_cache_module.FAILED):
                self.cache_refreshes.labels(trigger=trigger, outcome=outcome)
        cache.on_refresh = self.count_refresh

    def count_refresh(self, trigger: str, outcome: str) -> None:
        """The state cache revalidated (once a TTL per worker): count it, flush hits, sample the process."""
        self.cache_refreshes.labels(trigger=trigger, outcome=outcome).inc()
        self.flush_hits()
        now = time.monotonic()
        if now - self._process_stats_at >= PROCESS_STATS_SECONDS:
            self.record_process_stats(now)

    def flush_hits(self) -> None:
        """Add the hits the cache counted since the last flush to the (shared) counter."""
        cache = self._cache
        if cache is None:
            return
        with self._flush_lock:
            hits = cache.hits
            if hits > self._hits_counted:
                self.cache_hits.inc(hits - self._hits_counted)
            self._hits_counted = hits

    def record_process_stats(self, now: float | None = None) -> None:
        """Write this worker's memory, CPU and open files into its live gauges (multiprocess mode)."""
        if not self.multiproc_dir:
            return  # one process: ProcessCollector reads them at scrape time
        self._process_stats_at = time.monotonic() if now is None else now
        if self._process_gauges is None:
            self._process_gauges = {
                key: Gauge(name, help_text, registry=None, multiprocess_mode="liveall")
                for key, (name, help_text) in PROCESS_GAUGES.items()
            }
        for key, value in process_stats().items():
            self._process_gauges[key].set(value)

    def count_webhook_rejection(self, provider: str, reason: str) -> None:
        """Count one refused webhook request (app/blueprints/webhooks.py)."""
        self.webhook_rejections.labels(provider=provider, reason=reason).inc()

    def scrape_registry(self) -> CollectorRegistry:
        """The registry to expose: this process's, or every worker's files summed."""
        self.flush_hits()
        if not self.multiproc_dir:
            return self.registry
        self.record_process_stats()
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.multiproc_dir)
        registry.register(StateCollector())
        return registry


class StateCollector:
    """Gauges computed at scrape time from this worker's state cache and the database."""

    def collect(self) -> Iterator[Metric]:
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
        described = state_cache().describe(now)
        source = GaugeMetricFamily(
            "pausa_state_source", "1 for where the answering worker's gate state came from.",
            labels=["source"],
        )
        for name in state_cache_module.SOURCES:
            source.add_metric([name], 1 if described["source"] == name else 0)
        yield source
        age = GaugeMetricFamily(
            "pausa_maintenance_state_age_seconds",
            "Seconds since a store last confirmed the answering worker's gate state.",
        )
        if described["age_seconds"] is not None:
            age.add_metric([], described["age_seconds"])
        yield age
        depths = GaugeMetricFamily("pausa_queue_depth", "Items waiting, by queue.", labels=["queue"])
        heartbeat = GaugeMetricFamily(
            "pausa_worker_heartbeat_age_seconds", "Seconds since the newest worker heartbeat."
        )
        try:
            for name, depth in queues.queue_depths().items():
                depths.add_metric([name], depth)
            worker = health_service.check_worker(current_app.config["WORKER_STALE_SECONDS"], now)
            if worker.get("age_seconds") is not None:
                heartbeat.add_metric([], worker["age_seconds"])
        except Exception as error:  # a scrape reports what it can; the database may be down
            db.session.rollback()
            log.warning("metrics: queue depths unavailable: %s", error)
        yield depths
        yield heartbeat


class ProcessCollector:
    """One process (no PROMETHEUS_MULTIPROC_DIR): its figures, read at scrape time, with its pid."""

    def collect(self) -> Iterator[Metric]:
        stats = process_stats()
        pid = str(os.getpid())
        for key, (name, help_text) in PROCESS_GAUGES.items():
            family = GaugeMetricFamily(name, help_text, labels=["pid"])
            if key in stats:
                family.add_metric([pid], stats[key])
            yield family


def _authorized(expected: str) -> bool:
    given = bearer_token() or ""
    return hmac.compare_digest(given.encode(), expected.encode())


def metrics_view() -> Response:
    """Answer Prometheus with the text exposition format."""
    token = current_app.config.get("METRICS_TOKEN")
    if token and not _authorized(token):
        response = Response("Unauthorized\n", status=401, mimetype="text/plain")
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    metrics: Metrics = current_app.extensions[METRICS_KEY]
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
    app.extensions[METRICS_KEY] = metrics
    metrics.watch_cache(app.extensions[STATE_CACHE_KEY])
    app.after_request(metrics.count)
    app.add_url_rule("/metrics", endpoint="metrics", view_func=metrics_view, methods=["GET"])


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn `child_exit` hook: drop a dead worker's live gauges from the shared directory."""
    directory = prometheus_multiproc_dir()
    if directory:
        multiprocess.mark_process_dead(worker.pid, directory)
