"""10,000 subscribers notified through a local SendGrid-compatible fake (budget: < 30 s, <= 10 calls).

Two measurements: the one-shot "we're back" emails, and (issue 14) one notice to 10,000 confirmed
standing subscribers, queued by schedule_window and sent by `send_due_notices()` (<= 10 calls per
notice kind and language).

A throwaway PostgreSQL database is migrated with `flask db upgrade`, then, in
this process: one ended window, BENCH_NOTIFY_SUBSCRIBERS subscribers (70 %
English, 30 % Portuguese) each with a queued delivery that is due, and the
fake SendGrid of tests/support/fake_sendgrid.py (a real HTTP server on a
thread; the real `sendgrid` client talks to it over a socket). The clock runs
from the first worker pass to the last delivery recorded `sent`, calling
`send_due_deliveries()` as the worker's "send-deliveries" task does (the
rendering, the claims, the hand-off commits, the API calls and the recording).

    .venv/bin/python -m bench.notify
    BENCH_NOTIFY_SUBSCRIBERS=10000 BENCH_NOTIFY_LATENCY=0.5 .venv/bin/python -m bench.notify

BENCH_NOTIFY_LATENCY adds that many seconds to every API call (a real SendGrid
call with 1000 personalizations is not instant); 0 by default.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from datetime import timedelta

from bench.common import ROOT, Result, app_env, flask, postgres_database, run_alone, section, verdict

SUBSCRIBERS = int(os.environ.get("BENCH_NOTIFY_SUBSCRIBERS", "10000"))
LATENCY = float(os.environ.get("BENCH_NOTIFY_LATENCY", "0"))
BUDGET_SECONDS = 30.0
BUDGET_CALLS = 10


def _populate(window_id: int) -> None:
    from sqlalchemy import insert

    from app.extensions import db
    from app.models import Delivery, Subscriber, utcnow

    now = utcnow()
    subscribers, deliveries = [], []
    for n in range(SUBSCRIBERS):
        email = f"subscriber{n}@example.com"
        language = "pt_BR" if n % 10 >= 7 else "en"
        subscribers.append({"id": n + 1, "window_id": window_id, "email": email, "language": language,
                            "email_hash": hashlib.sha256(email.encode()).hexdigest(), "created_at": now})
        deliveries.append({"window_id": window_id, "subscriber_id": n + 1, "kind": "back_online",
                           "status": "queued", "not_before": now - timedelta(seconds=1), "attempts": 0,
                           "created_at": now})
    db.session.execute(insert(Subscriber), subscribers)
    db.session.execute(insert(Delivery), deliveries)
    db.session.commit()


def measure(database_url: str) -> dict:
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import func, select

    from app import create_app
    from app.extensions import db
    from app.models import Delivery, MaintenanceWindow, utcnow
    from app.services import notifications
    from tests.support.fake_sendgrid import FakeSendGrid

    with FakeSendGrid(api_key="SG.bench", latency=LATENCY) as fake:
        app = create_app({
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "bench-secret",
            "MAIL_BACKEND": "sendgrid",
            "SENDGRID_API_KEY": "SG.bench",
            "SENDGRID_API_HOST": fake.url,
            "SENDGRID_TIMEOUT_SECONDS": 30,
            "PUBLIC_URL": "https://shop.example.com",
            "NOTIFY_BATCH_SIZE": 1000,
        })
        with app.app_context():
            ended = utcnow() - timedelta(minutes=2)
            window = MaintenanceWindow(status="completed", reason="deployment", created_by="bench",
                                       starts_at=ended - timedelta(minutes=40),
                                       started_at=ended - timedelta(minutes=40), ended_at=ended,
                                       ended_by="bench", ended_how="manual")
            db.session.add(window)
            db.session.commit()
            _populate(window.id)
            passes = 0
            started = time.perf_counter()
            while True:
                passes += 1
                notifications.send_due_deliveries()
                left = db.session.scalar(select(func.count()).select_from(Delivery)
                                         .where(Delivery.status != "sent"))
                db.session.commit()
                if not left or passes > 50:
                    break
            elapsed = time.perf_counter() - started
            sent = db.session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status == "sent")
            )
            db.session.remove()
            db.engine.dispose()
        delivered = fake.delivered()
        return {
            "seconds": elapsed,
            "calls": len(fake.calls),
            "sent": sent,
            "delivered": len(delivered),
            "unique": len(set(delivered)),
            "largest": max((call.personalizations for call in fake.calls), default=0),
            "passes": passes,
        }


def report(figures: dict) -> list[Result]:
    ok = (figures["seconds"] < BUDGET_SECONDS and figures["calls"] <= BUDGET_CALLS
          and figures["sent"] == figures["unique"] == figures["delivered"] == SUBSCRIBERS)
    measured = f"{figures['seconds']:.1f} s, {figures['calls']} calls"
    note = (f"{figures['sent']} sent, {figures['unique']} distinct recipients at the fake, "
            f"<= {figures['largest']} personalizations/call, {figures['passes']} worker pass(es), "
            f"PostgreSQL, fake latency {LATENCY:g} s/call")
    if SUBSCRIBERS != 10000:
        note += f"; only {SUBSCRIBERS} subscribers (BENCH_NOTIFY_SUBSCRIBERS)"
    print(f"  {measured}; {note}", flush=True)
    return [Result("10k subscribers notified < 30 s, <= 10 calls", measured, verdict(ok), note)]


def _populate_standing() -> None:
    from sqlalchemy import insert

    from app.extensions import db
    from app.models import StandingSubscriber, utcnow

    now = utcnow()
    rows = []
    for n in range(SUBSCRIBERS):
        email = f"standing{n}@example.com"
        rows.append({"email": email, "email_hash": hashlib.sha256(email.encode()).hexdigest(),
                     "language": "pt_BR" if n % 10 >= 7 else "en", "status": "confirmed",
                     "confirm_attempts": 0, "created_at": now, "confirmed_at": now})
    db.session.execute(insert(StandingSubscriber), rows)
    db.session.commit()


def measure_notices(database_url: str) -> dict:
    """Confirmed standing subscribers told of one scheduled window: queued in the scheduling
    transaction (schedule_window), then sent by `send_due_notices()` passes as the worker does."""
    sys.path.insert(0, str(ROOT))
    import json

    from pausa_gate.state import Actor
    from sqlalchemy import func, select

    from app import create_app
    from app.extensions import db
    from app.maintenance.validation import validate_window
    from app.models import Notice, utcnow
    from app.services import notifications, scheduling
    from tests.support.fake_sendgrid import FakeSendGrid

    with FakeSendGrid(api_key="SG.bench", latency=LATENCY) as fake:
        app = create_app({
            "SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "bench-secret", "MAIL_BACKEND": "sendgrid",
            "SENDGRID_API_KEY": "SG.bench", "SENDGRID_API_HOST": fake.url, "SENDGRID_TIMEOUT_SECONDS": 30,
            "PUBLIC_URL": "https://shop.example.com", "NOTIFY_BATCH_SIZE": 1000,
        })
        with app.app_context():
            _populate_standing()
            now = utcnow()
            started = time.perf_counter()
            scheduling.schedule_window(validate_window(
                {"starts_at": (now + timedelta(days=1)).isoformat(), "reason": "deployment"}, now),
                Actor("bench"), now)
            queued_seconds = time.perf_counter() - started
            passes = 0
            while True:
                passes += 1
                notifications.send_due_notices()
                left = db.session.scalar(
                    select(func.count()).select_from(Notice).where(Notice.status != "sent"))
                db.session.commit()
                if not left or passes > 50:
                    break
            elapsed = time.perf_counter() - started
            sent = db.session.scalar(select(func.count()).select_from(Notice).where(Notice.status == "sent"))
            db.session.remove()
            db.engine.dispose()
        delivered = fake.delivered()
        per_language: dict[str, int] = {}
        for call in fake.calls:
            html = call.content("text/html") or ""
            language = "pt_BR" if 'lang="pt-BR"' in html else "en"
            per_language[language] = per_language.get(language, 0) + 1
        return {
            "seconds": elapsed, "queue_seconds": queued_seconds, "calls": len(fake.calls),
            "per_language": json.dumps(per_language, sort_keys=True),
            "max_per_language": max(per_language.values(), default=0),
            "sent": sent, "delivered": len(delivered), "unique": len(set(delivered)), "passes": passes,
            "headers": all("List-Unsubscribe" in (p.get("headers") or {})
                           for call in fake.calls for p in call.body["personalizations"]),
        }


def report_notices(figures: dict) -> list[Result]:
    ok = (figures["seconds"] < BUDGET_SECONDS and figures["max_per_language"] <= BUDGET_CALLS
          and figures["headers"]
          and figures["sent"] == figures["unique"] == figures["delivered"] == SUBSCRIBERS)
    measured = f"{figures['seconds']:.1f} s, {figures['calls']} calls {figures['per_language']}"
    note = (f"one 'scheduled' notice: queued in {figures['queue_seconds']:.2f} s inside schedule_window, "
            f"{figures['sent']} sent, {figures['unique']} distinct recipients, one-click headers on each, "
            f"{figures['passes']} worker pass(es), PostgreSQL, fake latency {LATENCY:g} s/call")
    print(f"  {measured}; {note}", flush=True)
    return [Result("10k standing subscribers, one notice kind: < 30 s, <= 10 calls per language",
                   measured, verdict(ok), note)]


def run() -> list[Result]:
    section(f"{SUBSCRIBERS} subscribers notified through a local fake SendGrid (PostgreSQL, in-process)")
    from app.config import database_url

    with postgres_database("notify") as url:
        env = app_env(url)
        flask(env, "db", "upgrade")
        results = report(measure(database_url(url)))
    section(f"{SUBSCRIBERS} confirmed standing subscribers told of a scheduled window (PostgreSQL)")
    with postgres_database("notices") as url:
        flask(app_env(url), "db", "upgrade")
        results += report_notices(measure_notices(database_url(url)))
    return results


if __name__ == "__main__":
    run_alone(run)
