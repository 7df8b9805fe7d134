"""The gate during a database outage: `python -m bench.outage` (also part of `make bench`).

Real stack: gunicorn (gunicorn.conf.py, 2 workers) on a throwaway PostgreSQL
database reached through a TCP proxy, a snapshot file, no Redis (the harder
case: nothing but the host's own disk survives the database). Maintenance is
turned on through the JSON API and PostgreSQL is cut (or hung: connections
accepted, never answered) at once; clients keep requesting blocked pages while
a probe times /health/live every 50 ms; halfway through, the gunicorn master
gets SIGHUP, so every worker restarts during the outage. Then the database
comes back, maintenance is ended through the API and the site must recover by
itself. Budgets: zero blocked requests let through; /health/live <= 100 ms.

    BENCH_OUTAGE_SECONDS=60   length of each fault
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bench.common import (
    Result,
    app_env,
    flask,
    get,
    gunicorn,
    postgres_database,
    run_alone,
    section,
    verdict,
    workdir,
)

SECONDS = float(os.environ.get("BENCH_OUTAGE_SECONDS", "60"))
BLOCKED = ("/", "/account", "/api/v1/ping")
CLIENTS = 4
PROPAGATION_BUDGET = 1.5  # seconds from a change to every worker enforcing it, without Redis


@dataclass
class Outage:
    """What happened during one fault."""

    fault: str
    requests: int = 0
    let_through: list[tuple[str, int]] = field(default_factory=list)
    # Answered before the change could reach every worker (the propagation budget, without Redis).
    propagating: list[tuple[str, int]] = field(default_factory=list)
    errors: int = 0  # no answer at all (a connection refused while workers restart), never "let through"
    live: list[float] = field(default_factory=list)
    live_failures: int = 0
    slow: list[tuple[float, float]] = field(default_factory=list)  # (seconds after activation, latency)
    recovered_after: float | None = None

    @property
    def worst_live_ms(self) -> float:
        return max(self.live, default=float("nan")) * 1000

    def summary(self) -> str:
        return (f"{self.fault}: {len(self.let_through)} of {self.requests} blocked requests let through "
                f"({len(self.propagating)} more inside the {PROPAGATION_BUDGET:g} s propagation budget), "
                f"{self.errors} unanswered; /health/live worst {self.worst_live_ms:.0f} ms over "
                f"{len(self.live)} probes ({self.live_failures} failed); recovered "
                f"{self.recovered_after:.1f} s after the end" if self.recovered_after is not None else
                f"{self.fault}: {len(self.let_through)} let through; did not recover")


def api(port: int, token: str, method: str) -> None:
    body = json.dumps({"message": "Database migration", "reason": "database", "eta": "30m"}).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
               "Accept": "application/json"}
    status, _, data = get(port, "/api/admin/maintenance", headers, method=method,
                          body=body if method == "POST" else None, timeout=15)
    if status != (201 if method == "POST" else 200):
        raise RuntimeError(f"{method} /api/admin/maintenance: {status} {data[:300]!r}")


def probe(port: int, stop, results) -> None:
    """Time /health/live every 50 ms until told to stop; send back latencies, failures, slow ones."""
    live: list[float] = []
    failures = 0
    slow: list[tuple[float, float]] = []
    while not stop.is_set():
        started = time.perf_counter()
        try:
            status, _, _ = get(port, "/health/live", timeout=5)
        except OSError:
            failures += 1
        else:
            if status == 200:
                live.append(time.perf_counter() - started)
                if live[-1] > 0.1:
                    slow.append((time.monotonic(), round(live[-1], 3)))
            else:
                failures += 1
        time.sleep(0.05)
    results.put((live, failures, slow))


def run_fault(fault: str, seconds: float, proxy, server, token: str) -> Outage:
    """Activate, break the database, restart every worker halfway, restore, end, wait for recovery."""
    outcome = Outage(fault)
    stop = threading.Event()
    lock = threading.Lock()

    def client(number: int) -> None:
        index = number
        while not stop.is_set():
            path = BLOCKED[index % len(BLOCKED)]
            index += 1
            try:
                status, _, _ = get(server.port, path, timeout=5)
            except OSError:
                with lock:
                    outcome.errors += 1
                time.sleep(0.01)
                continue
            with lock:
                outcome.requests += 1
                if status != 503:
                    late = time.monotonic() - activated > PROPAGATION_BUDGET
                    (outcome.let_through if late else outcome.propagating).append((path, status))

    api(server.port, token, "POST")
    activated = time.monotonic()
    getattr(proxy, fault)()  # cut() or hang(), within milliseconds of the activation
    # The probe runs in a process of its own: in this one, the clients and the proxy's threads
    # compete for the interpreter and would add their waits to its timings.
    context = multiprocessing.get_context("spawn")
    probe_stop, probe_results = context.Event(), context.Queue()
    prober = context.Process(target=probe, args=(server.port, probe_stop, probe_results), daemon=True)
    prober.start()
    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    time.sleep(seconds / 2)
    os.kill(server.process.pid, signal.SIGHUP)  # every worker restarts during the outage
    time.sleep(seconds / 2)
    stop.set()
    probe_stop.set()
    for thread in threads:
        thread.join(timeout=10)
    outcome.live, outcome.live_failures, slow = probe_results.get(timeout=30)
    outcome.slow = [(round(at - activated, 2), latency) for at, latency in slow]
    prober.join(timeout=10)
    proxy.restore()
    ended = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if ended is None:
                api(server.port, token, "DELETE")
                ended = time.monotonic()
            answers = [get(server.port, path, timeout=5)[0] for path in BLOCKED * 4]
            if 503 not in answers:
                outcome.recovered_after = time.monotonic() - ended
                break
        except (OSError, RuntimeError):
            pass
        time.sleep(0.1)
    return outcome


def measure(seconds: float = SECONDS) -> list[Outage]:
    """Run the cut and the hang on one gunicorn; return what happened in each."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.support.tcp_proxy import TcpProxy

    outages = []
    with workdir("outage") as directory, postgres_database("outage") as url:
        flask(app_env(url), "db", "upgrade")
        token = flask(app_env(url), "tokens", "create", "outage", "--scope", "admin").splitlines()[0].strip()
        target = urlsplit(url)
        proxy = TcpProxy(target.hostname, target.port or 5432)
        try:
            env = app_env(
                proxy.url_for(url),
                MAINTENANCE_STATE_FILE=str(directory / "gate-state.json"),
                STATE_CHANGE_RATE_LIMIT="1000 per minute",
                DATABASE_STATEMENT_TIMEOUT="2",
            )
            with gunicorn("outage", env, directory, workers=2) as server:
                for fault in ("cut", "hang"):
                    outages.append(run_fault(fault, seconds, proxy, server, token))
                    server.check_alive()
        finally:
            proxy.close()
    return outages


def run() -> list[Result]:
    section(f"Database outage (gunicorn 2 workers, PostgreSQL cut and hung {SECONDS:g} s each, "
            "SIGHUP halfway, no Redis)")
    results = []
    for outage in measure():
        print(f"  {outage.summary()}", flush=True)
        results.append(Result(f"PostgreSQL {outage.fault}: blocked requests let through = 0",
                              f"{len(outage.let_through)} of {outage.requests}",
                              verdict(not outage.let_through and outage.recovered_after is not None),
                              f"recovered {outage.recovered_after} s after the end"))
        results.append(Result(f"PostgreSQL {outage.fault}: /health/live <= 100 ms",
                              f"worst {outage.worst_live_ms:.0f} ms",
                              verdict(outage.worst_live_ms <= 100 and not outage.live_failures),
                              f"{len(outage.live)} probes, {outage.live_failures} failed"))
    return results


if __name__ == "__main__":
    run_alone(run)
