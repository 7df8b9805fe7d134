"""Toggle -> enforced on every worker of two instances (budget: p99 <= 1.5 s, <= 150 ms with Redis).

Two gunicorn instances (`gunicorn -c gunicorn.conf.py`, 2 workers each) share one
throwaway PostgreSQL database, with PAUSA_WORKER_HEADER=1 so every response
names the worker that answered (X-Pausa-Worker: host:pid). Probe threads hammer
both instances with short requests, a new connection each, and record who
answered what and when. Then maintenance is toggled through the JSON API
(`POST`/`DELETE /api/admin/maintenance` with an admin bearer token, alternating
between the instances) BENCH_TOGGLES times; for each toggle, the latency is the
time from the moment the API call returned until the LAST of the 4 workers
answered with the new state (503 + X-Maintenance: active, or 200). A toggle
where some worker never showed the new state within the timeout is a failure,
and so is a worker that shows the old state again afterwards (a "flap").

The probe path defaults to /api/v1/ping: a gated route that always goes through
Flask (so the worker header is there); anonymous HTML pages may be answered by
a WSGI fast path that has no after_request hooks. Set BENCH_PROBE_PATH to change it.

Run once without Redis (TTL revalidation) and once with REDIS_URL (pub/sub); then,
with Redis, BENCH_COLD_REPEATS times (default 3): start both instances while a
window is already active, let every worker answer only blocked requests for a
second, and time the one toggle that ends the window (a deploy or a worker
restart during maintenance is exactly this case).
Run alone: `.venv/bin/python -m bench.propagation`.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import os
import random
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import (
    REDIS_URL,
    TOGGLES,
    Result,
    Server,
    app_env,
    flask,
    get,
    gunicorn,
    percentile,
    postgres_database,
    run_alone,
    section,
    verdict,
    workdir,
)

PROBE_PATH = os.environ.get("BENCH_PROBE_PATH", "/api/v1/ping")
PROBE_THREADS = int(os.environ.get("BENCH_PROBE_THREADS", "4"))  # per instance
COLD_REPEATS = int(os.environ.get("BENCH_COLD_REPEATS", "3"))
ON, OFF = "on", "off"
CHANNEL = "pausa:maintenance-state"


@dataclass(frozen=True)
class Sample:
    sent: float
    received: float
    worker: str
    state: str


class Prober:
    """Threads that keep asking every instance for PROBE_PATH, a fresh connection per request."""

    def __init__(self, servers: list[Server]):
        self.servers = servers
        self.samples: list[Sample] = []
        self.problems: Counter[str] = Counter()
        self.unattributed = 0
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(server,), daemon=True, name=f"probe-{server.name}")
            for server in servers for _ in range(PROBE_THREADS)
        ]

    @contextlib.contextmanager
    def running(self) -> Iterator[Prober]:
        for thread in self._threads:
            thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            for thread in self._threads:
                thread.join(timeout=10)

    def _loop(self, server: Server) -> None:
        headers = {"Accept": "application/json"}
        while not self._stop.is_set():
            sent = time.perf_counter()
            try:
                status, response_headers, _ = get(server.port, PROBE_PATH, headers, timeout=5)
            except OSError as error:
                self.problems[f"{server.name}: {type(error).__name__}"] += 1
                time.sleep(0.01)
                continue
            received = time.perf_counter()
            if status == 503 and response_headers.get("x-maintenance") == "active":
                state = ON
            elif status == 200:
                state = OFF
            else:
                state = f"HTTP {status}"
                self.problems[f"{server.name}: HTTP {status}"] += 1
            worker = response_headers.get("x-pausa-worker")
            if worker is None:
                self.unattributed += 1
                continue
            self.samples.append(Sample(sent, received, f"{server.name}/{worker}", state))


@dataclass
class Toggle:
    number: int
    want: str
    via: str
    started: float
    returned: float
    first: dict[str, float] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)

    @property
    def latency(self) -> float | None:
        if self.missing:
            return None
        return max(max(0.0, moment - self.returned) for moment in self.first.values())


def discover_workers(prober: Prober, servers: list[Server], timeout: float = 20.0) -> set[str]:
    """Wait until both workers of every instance have answered (in the current, 'off', state)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = {sample.worker for sample in list(prober.samples)}
        per_server = {server.name: {w for w in seen if w.startswith(server.name + "/")} for server in servers}
        if all(len(workers) >= 2 for workers in per_server.values()):
            if any(len(workers) > 2 for workers in per_server.values()):
                raise RuntimeError(f"more than 2 workers per instance answered (restarts?): {per_server}")
            return seen
        time.sleep(0.05)
    raise RuntimeError(f"not every worker answered within {timeout:.0f} s: saw {sorted(seen)}; "
                       f"problems {dict(prober.problems)}")


def call_api(server: Server, token: str, want: str) -> str:
    """Turn maintenance on or off through the JSON API; return the worker that did it."""
    method = "POST" if want == ON else "DELETE"
    body = json.dumps({"message": "Propagation benchmark", "reason": "testing", "eta": "30m"}).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
               "Accept": "application/json"}
    status, headers, data = get(server.port, "/api/admin/maintenance", headers, method=method,
                                body=body if method == "POST" else None, timeout=15)
    if status != (201 if method == "POST" else 200):
        raise RuntimeError(f"{method} /api/admin/maintenance on {server.name}: {status} {data[:300]!r}")
    return f"{server.name}/{headers.get('x-pausa-worker', '?')}"


def toggle_once(prober: Prober, workers: set[str], server: Server, token: str, want: str,
                number: int, timeout: float) -> Toggle:
    index = len(prober.samples)
    started = time.perf_counter()
    via = call_api(server, token, want)
    toggle = Toggle(number, want, via, started, time.perf_counter())
    deadline = toggle.returned + timeout
    while True:
        end = len(prober.samples)
        for sample in prober.samples[index:end]:
            if (sample.state == want and sample.received >= started and sample.worker in workers
                    and sample.worker not in toggle.first):
                toggle.first[sample.worker] = sample.received
        index = end
        if len(toggle.first) == len(workers) or time.perf_counter() > deadline:
            break
        time.sleep(0.002)
    toggle.missing = workers - set(toggle.first)
    return toggle


def count_flaps(samples: list[Sample], toggles: list[Toggle]) -> list[str]:
    """A worker answering the old state after it had shown the new one (request sent after that)."""
    starts = [toggle.started for toggle in toggles]
    flaps = []
    for sample in samples:
        position = bisect.bisect_right(starts, sample.sent) - 1
        if position < 0 or sample.state not in (ON, OFF):
            continue
        toggle = toggles[position]
        shown = toggle.first.get(sample.worker)
        if shown is not None and sample.sent > shown and sample.state != toggle.want:
            flaps.append(f"toggle {toggle.number} ({toggle.want}): {sample.worker} answered {sample.state} "
                         f"{sample.sent - shown:.3f} s after showing {toggle.want}")
    return flaps


def wait_subscribed(redis_client, baseline: int, expected: int, timeout: float = 10.0) -> int:
    """Wait until every worker's listener thread has subscribed to the state channel."""
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        count = dict(redis_client.pubsub_numsub(CHANNEL)).get(CHANNEL.encode(), 0)
        if count - baseline >= expected:
            return count - baseline
        time.sleep(0.05)
    return count - baseline


def subscribers(redis_client) -> int:
    return dict(redis_client.pubsub_numsub(CHANNEL)).get(CHANNEL.encode(), 0)


def run_mode(label: str, env: dict[str, str], workdir: Path, token: str,
             redis_client=None, cold: bool = False) -> tuple[list[Toggle], dict]:
    """Start two instances and time BENCH_TOGGLES toggles.

    cold: start the instances while a window is already active, let them answer
    only blocked requests, then time the single toggle that ends the window.
    """
    ttl = float(env["MAINTENANCE_STATE_TTL"])
    timeout = max(5.0, 4 * ttl + 2)
    baseline = subscribers(redis_client) if redis_client else 0
    if cold:
        flask(env, "maintenance", "on", "--message", "Started during a window", "--eta", "1h")
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(gunicorn(f"{label}-{name}", env, workdir)) for name in ("A", "B")]
        for server in servers:
            server.name = server.name[-1]  # short names in worker keys: A/host:pid
        prober = stack.enter_context(Prober(servers).running())
        workers = discover_workers(prober, servers)
        subscribed = None
        if cold:
            time.sleep(1.0)  # every worker answers blocked requests for a while
            if redis_client is not None:
                subscribed = subscribers(redis_client) - baseline
            toggle = toggle_once(prober, workers, servers[0], token, OFF, 0, timeout)
            return [toggle], {"subscribed": subscribed, "workers": workers,
                              "problems": dict(prober.problems)}
        if redis_client is not None:
            subscribed = wait_subscribed(redis_client, baseline, len(workers))
            print(f"  Redis listeners subscribed: {subscribed} of {len(workers)} workers", flush=True)
        else:
            time.sleep(0.5)
        # One untimed round trip on each instance: first API calls pay for imports and caches.
        for number, want in enumerate((ON, OFF, ON, OFF)):
            toggle_once(prober, workers, servers[number // 2], token, want, -1, timeout)
        toggles = []
        for number in range(TOGGLES):
            want = ON if number % 2 == 0 else OFF
            server = servers[(number // 2) % 2]  # each instance gets on and off calls
            toggles.append(toggle_once(prober, workers, server, token, want, number, timeout))
            # Decorrelate the next toggle from the workers' TTL phase.
            time.sleep(random.uniform(0.0, ttl) if redis_client is None else random.uniform(0.02, 0.2))
        if toggles and toggles[-1].want == ON:
            call_api(servers[0], token, OFF)
        samples = list(prober.samples)
        measured = [sample for sample in samples if toggles and sample.sent >= toggles[0].started]
        probe_seconds = measured[-1].received - measured[0].sent if len(measured) > 1 else 0
        flaps = count_flaps(samples, toggles)
        stats = {
            "samples": len(measured),
            "rate": len(measured) / probe_seconds if probe_seconds > 0 else 0,
            "per_worker": Counter(sample.worker for sample in measured),
            "problems": dict(prober.problems),
            "unattributed": prober.unattributed,
            "flaps": flaps,
            "workers": workers,
            "subscribed": subscribed,
        }
    return toggles, stats


def summarise(title: str, budget: float, toggles: list[Toggle], stats: dict) -> Result:
    latencies = [toggle.latency for toggle in toggles if toggle.latency is not None]
    failed = [toggle for toggle in toggles if toggle.latency is None]
    print(f"  {title}: {len(toggles)} toggles, probes {stats['samples']} ({stats['rate']:.0f} req/s), "
          f"per worker: " + ", ".join(f"{w} {n}" for w, n in sorted(stats["per_worker"].items())))
    for want in (ON, OFF):
        subset = [t.latency for t in toggles if t.want == want and t.latency is not None]
        if subset:
            print(f"    {want:>3}: n={len(subset):<3} p50 {percentile(subset, 0.5) * 1000:7.1f} ms   "
                  f"p99 {percentile(subset, 0.99) * 1000:7.1f} ms   max {max(subset) * 1000:7.1f} ms")
    if latencies:
        # The worker that took the API call invalidates itself; the others wait for TTL or pub/sub.
        others = [max(0.0, t.first[w] - t.returned) for t in toggles if not t.missing
                  for w in t.first if w != t.via]
        print(f"    per-worker latency of the workers that did not take the API call: "
              f"mean {statistics.fmean(others) * 1000:.1f} ms, max {max(others) * 1000:.1f} ms")
    for toggle in failed:
        print(f"    FAILED toggle {toggle.number} ({toggle.want}): never saw {sorted(toggle.missing)}")
    for flap in stats["flaps"][:10]:
        print(f"    FLAP {flap}")
    if stats["problems"]:
        print(f"    probe problems: {stats['problems']}")
    if stats["unattributed"]:
        print(f"    {stats['unattributed']} probe responses had no X-Pausa-Worker header (not counted)")
    problems = []
    if failed:
        problems.append(f"{len(failed)} toggles never reached every worker")
    if stats["flaps"]:
        problems.append(f"{len(stats['flaps'])} flaps")
    if not latencies:
        return Result(f"toggle -> 4 workers, {title}: p99 <= {budget * 1000:g} ms", "no toggle completed",
                      "MISS", "; ".join(problems))
    p50, p99, worst = percentile(latencies, 0.5), percentile(latencies, 0.99), max(latencies)
    measured = f"p50 {p50 * 1000:.0f} / p99 {p99 * 1000:.0f} / max {worst * 1000:.0f} ms (n={len(toggles)})"
    ok = p99 <= budget and not failed and not stats["flaps"]
    return Result(f"toggle -> 4 workers, {title}: p99 <= {budget * 1000:g} ms", measured, verdict(ok),
                  "; ".join(problems) or f"all {len(stats['workers'])} workers seen on every toggle")


def cold_start(env: dict[str, str], workdir: Path, token: str, client) -> Result:
    """Workers that boot during a window (deploy, restart) and then see the window end, with Redis."""
    print(f"  Redis, instances started during a window, then the window ends (repeats: {COLD_REPEATS}):")
    latencies, failed, notes = [], 0, []
    for repeat in range(COLD_REPEATS):
        toggles, stats = run_mode(f"cold{repeat}", env, workdir, token, redis_client=client, cold=True)
        toggle = toggles[0]
        if toggle.latency is None:
            failed += 1
            print(f"    #{repeat + 1}: FAILED, never saw {sorted(toggle.missing)}")
            continue
        latencies.append(toggle.latency)
        slow = ", ".join(f"{w} {(t - toggle.returned) * 1000:.0f} ms" for w, t in sorted(toggle.first.items())
                         if w != toggle.via)
        print(f"    #{repeat + 1}: {toggle.latency * 1000:6.0f} ms; listeners subscribed before the toggle: "
              f"{stats['subscribed']} of {len(stats['workers'])}; API call on {toggle.via}; others: {slow}")
        notes.append(stats["subscribed"])
    budget = "toggle -> 4 workers, Redis, booted in a window: <= 150 ms"
    if not latencies:
        return Result(budget, "no toggle completed", "MISS", f"{failed} failed")
    worst = max(latencies)
    note = f"listeners subscribed before the toggle: {notes} of 4 per run"
    if failed:
        note += f"; {failed} toggles never reached every worker"
    ok = worst <= 0.150 and not failed
    return Result(budget, f"max {worst * 1000:.0f} ms (n={len(latencies)})", verdict(ok), note)


def run() -> list[Result]:
    import redis

    ttl = os.environ.get("MAINTENANCE_STATE_TTL", "1.0")
    section(f"Propagation (2 instances x 2 workers, PostgreSQL, MAINTENANCE_STATE_TTL={ttl}, "
            f"{TOGGLES} API toggles per mode, probing {PROBE_PATH}, {PROBE_THREADS} threads per instance)")
    results = []
    with workdir("propagation") as directory, postgres_database("propagation") as url:
        env = app_env(url, PAUSA_WORKER_HEADER="1", STATE_CHANGE_RATE_LIMIT="10000 per minute")
        flask(env, "db", "upgrade")
        token = flask(env, "tokens", "create", "bench", "--scope", "admin").splitlines()[0].strip()

        toggles, stats = run_mode("ttl", env, directory, token)
        results.append(summarise("no Redis", 1.5, toggles, stats))

        client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        try:
            client.ping()
        except redis.RedisError as error:
            results.append(Result("toggle -> 4 workers, Redis: p99 <= 150 ms", "-", "ERROR",
                                  f"Redis at {REDIS_URL} unreachable: {error}"))
            return results
        try:
            redis_env = {**env, "REDIS_URL": REDIS_URL}
            toggles, stats = run_mode("redis", redis_env, directory, token, redis_client=client)
            results.append(summarise("Redis", 0.150, toggles, stats))
            results.append(cold_start(redis_env, directory, token, client))
        finally:
            # The rate limiter kept its counters in our Redis database: leave nothing behind.
            for key in client.scan_iter(match="LIMITS*"):
                client.delete(key)
            client.close()
    return results


if __name__ == "__main__":
    run_alone(run)
