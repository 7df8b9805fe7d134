"""Webhook ingest on PostgreSQL at a fixed rate (docs/performance.md: p99 < 50 ms at 200 req/s, none lost).

A throwaway PostgreSQL database is migrated with `flask db upgrade`; gunicorn
(the Procfile's command, BENCH_WEBHOOK_WORKERS workers) receives signed Stripe
events at BENCH_WEBHOOK_RATE requests per second for BENCH_WEBHOOK_SECONDS,
open loop: request i is due at t0 + i/rate whatever the earlier ones did, and
its latency is counted from when it was due (so a stall is not hidden by the
sender waiting). Each request is a fresh connection, as a webhook sender's is.
Afterwards every acknowledged event must be in the inbox exactly once.

    .venv/bin/python -m bench.webhooks
    BENCH_WEBHOOK_RATE=400 BENCH_WEBHOOK_SECONDS=5 .venv/bin/python -m bench.webhooks
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time

from bench.common import (
    Result,
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

RATE = float(os.environ.get("BENCH_WEBHOOK_RATE", "200"))
SECONDS = float(os.environ.get("BENCH_WEBHOOK_SECONDS", "10"))
WORKERS = int(os.environ.get("BENCH_WEBHOOK_WORKERS", "2"))
SENDERS = int(os.environ.get("BENCH_WEBHOOK_SENDERS", "32"))
SECRET = "whsec_bench_webhooks"
BUDGET_P99_MS = 50.0


def _signed(event_id: str) -> tuple[bytes, dict[str, str]]:
    obj = {"id": f"pi_{event_id}", "amount": 4200, "currency": "eur"}
    body = json.dumps({"id": event_id, "object": "event", "type": "payment_intent.succeeded",
                       "data": {"object": obj}}).encode()
    stamp = int(time.time())
    signature = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"Stripe-Signature": f"t={stamp},v1={signature}", "Content-Type": "application/json"}


def fire(port: int, total: int, rate: float) -> tuple[list[float], dict[str, int | str]]:
    """Send `total` signed events open loop at `rate`/s; return latencies (ms) and each event's outcome."""
    requests = [(f"evt_bench_{n:06d}", *_signed(f"evt_bench_{n:06d}")) for n in range(total)]
    latencies: list[float] = []
    outcomes: dict[str, int | str] = {}
    lock = threading.Lock()
    cursor = iter(range(total))
    start = time.perf_counter() + 0.2

    def sender() -> None:
        while True:
            with lock:
                index = next(cursor, None)
            if index is None:
                return
            due = start + index / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            event_id, body, headers = requests[index]
            try:
                status, _, _ = get(port, "/webhooks/stripe", headers=headers, method="POST", body=body,
                                   timeout=10)
                outcome: int | str = status
            except OSError as error:
                outcome = type(error).__name__
            elapsed = (time.perf_counter() - due) * 1000
            with lock:
                latencies.append(elapsed)
                outcomes[event_id] = outcome

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, outcomes


def measure(database_url: str) -> dict:
    import psycopg

    env = app_env(database_url, STRIPE_WEBHOOK_SECRETS=SECRET, LOG_LEVEL="WARNING")
    flask(env, "db", "upgrade")
    total = int(RATE * SECONDS)
    with workdir("webhooks") as path, gunicorn("webhooks", env, path, workers=WORKERS) as server:
        fire(server.port, min(200, total), RATE)  # warm-up: connections, caches (not counted)
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute("DELETE FROM webhook_events")
        started = time.perf_counter()
        latencies, outcomes = fire(server.port, total, RATE)
        took = time.perf_counter() - started
        server.check_alive()
    with psycopg.connect(database_url) as connection:
        stored = dict(connection.execute(
            "SELECT event_id, count(*) FROM webhook_events GROUP BY event_id").fetchall())
    acknowledged = {event_id for event_id, outcome in outcomes.items() if outcome == 200}
    return {
        "requests": total,
        "seconds": took,
        "achieved_rate": total / took,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies),
        "non_200": sum(1 for outcome in outcomes.values() if outcome != 200),
        "lost": len(acknowledged - stored.keys()),
        "duplicates": sum(1 for count in stored.values() if count > 1),
    }


def run() -> list[Result]:
    section(f"webhooks: signed Stripe events at {RATE:g} req/s for {SECONDS:g} s, "
            f"{WORKERS} gunicorn workers, PostgreSQL")
    with postgres_database("webhooks") as url:
        figures = measure(url)
    print(f"  {figures['requests']} requests in {figures['seconds']:.1f} s "
          f"({figures['achieved_rate']:.0f} req/s): p50 {figures['p50_ms']:.1f} ms, "
          f"p99 {figures['p99_ms']:.1f} ms, max {figures['max_ms']:.1f} ms; {figures['non_200']} not 200, "
          f"{figures['lost']} lost, {figures['duplicates']} duplicated", flush=True)
    ok = (figures["p99_ms"] < BUDGET_P99_MS and figures["lost"] == 0 and figures["non_200"] == 0
          and figures["duplicates"] == 0)
    measured = (f"p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms at "
                f"{figures['achieved_rate']:.0f} req/s; {figures['lost']} lost")
    note = f"{figures['requests']} requests, {figures['non_200']} not 200, {figures['duplicates']} duplicated"
    return [Result(f"webhooks: p99 < {BUDGET_P99_MS:g} ms at {RATE:g} req/s, none lost", measured,
                   verdict(ok), note)]


if __name__ == "__main__":
    run_alone(run)
