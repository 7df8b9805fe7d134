"""Sending the "we're back" emails (docs/notifications.md) through the real sendgrid client and a fake SendGrid.

Subscribers and deliveries are made directly here; queueing them is app/services/subscriptions/window.py's job.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from pausa_gate.state import Actor
from sqlalchemy import func, insert, select, update

from app import hooks, mail
from app.extensions import db
from app.models import AuditEntry, CircuitBreaker, Delivery, MaintenanceWindow, Subscriber, utcnow
from app.services import notifications
from tests.support.apps import make_app
from tests.support.fake_sendgrid import HANG, FakeSendGrid


@pytest.fixture
def fake():
    with FakeSendGrid(api_key="SG.test-key") as server:
        yield server


@pytest.fixture
def sg_app(tmp_path, fake):
    return make_app(
        tmp_path,
        MAIL_BACKEND="sendgrid",
        SENDGRID_API_KEY="SG.test-key",
        SENDGRID_API_HOST=fake.url,
        # Generous: a 1000-recipient call must not time out on a loaded CI machine.
        SENDGRID_TIMEOUT_SECONDS=10,
        MAIL_FROM="pausa@example.com",
        PUBLIC_URL="https://shop.example.com",
        NOTIFY_MAX_ATTEMPTS=3,
        CIRCUIT_FAILURE_THRESHOLD=3,
        CIRCUIT_COOLDOWN_SECONDS=60,
    )


def ended_window(minutes_ago: float = 5, lasted_minutes: float = 90, reason: str = "deployment") -> int:
    ended = utcnow() - timedelta(minutes=minutes_ago)
    window = MaintenanceWindow(
        status="completed", reason=reason, message="Upgrading", created_by="admin@example.com",
        starts_at=ended - timedelta(minutes=lasted_minutes), started_at=ended - timedelta(minutes=lasted_minutes),
        ended_at=ended, ended_by="admin@example.com", ended_how="manual",
    )
    db.session.add(window)
    db.session.commit()
    return window.id


def subscribe(window_id: int, count: int, language: str = "en", prefix: str = "user",
              due_in: float = -1) -> None:
    """Insert `count` subscribers with a queued delivery due `due_in` seconds from now (bulk)."""
    start = db.session.scalar(select(func.coalesce(func.max(Subscriber.id), 0)))
    rows = []
    for n in range(count):
        email = f"{prefix}{n}@example.com"
        rows.append({"id": start + n + 1, "window_id": window_id, "email": email,
                     "email_hash": hashlib.sha256(email.encode()).hexdigest(), "language": language,
                     "created_at": utcnow()})
    db.session.execute(insert(Subscriber), rows)
    db.session.execute(insert(Delivery), [
        {"window_id": window_id, "subscriber_id": row["id"], "kind": "back_online", "status": "queued",
         "not_before": utcnow() + timedelta(seconds=due_in), "attempts": 0, "created_at": utcnow()}
        for row in rows
    ])
    db.session.commit()


def statuses() -> dict[str, int]:
    return dict(db.session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all())


def test_2500_subscribers_go_out_in_3_calls_of_at_most_1000(sg_app, fake):
    with sg_app.app_context():
        window_id = ended_window()
        subscribe(window_id, 2500)
        report = notifications.send_due_deliveries()
        assert report.calls == 3 and report.sent == 2500
        assert [call.personalizations for call in fake.calls] == [1000, 1000, 500]
        delivered = fake.delivered()
        assert len(delivered) == len(set(delivered)) == 2500
        assert statuses() == {"sent": 2500}
        assert db.session.scalar(select(func.count()).where(Delivery.sent_at.is_(None))) == 0
        # one personalization per recipient: their own `to` and their own unsubscribe link
        body = fake.calls[0].body
        links = [p["substitutions"][mail.UNSUBSCRIBE_TEXT] for p in body["personalizations"]]
        assert len(set(links)) == 1000 and all(len(p["to"]) == 1 for p in body["personalizations"])
        assert all(link.startswith("https://shop.example.com/maintenance/unsubscribe/") for link in links)
        assert body["from"]["email"] == "pausa@example.com"
        assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
        assert mail.UNSUBSCRIBE_TEXT in fake.calls[0].content("text/plain")
        assert mail.UNSUBSCRIBE_HTML in fake.calls[0].content("text/html")
        # nothing more to do
        assert notifications.send_due_deliveries().calls == 0


def test_each_subscriber_gets_the_email_in_their_language(sg_app, fake):
    with sg_app.app_context():
        window_id = ended_window(lasted_minutes=65, reason="deployment")
        subscribe(window_id, 2, "en", prefix="en")
        subscribe(window_id, 3, "pt_BR", prefix="pt")
        assert notifications.send_due_deliveries().calls == 2
    by_language = {call.recipients[0][:2]: call for call in fake.calls}
    assert sorted(by_language["pt"].recipients) == [f"pt{n}@example.com" for n in range(3)]
    english, portuguese = by_language["en"], by_language["pt"]
    # The reason in the maintenance page's words, in each language (never the code "deployment").
    assert "Reason: Deploying an update" in english.content("text/plain")
    assert "Motivo: Implantando uma atualização" in portuguese.content("text/plain")
    assert 'lang="pt-BR"' in portuguese.content("text/html") and 'lang="en"' in english.content("text/html")
    assert "1 h 05 min" in english.content("text/plain")  # how long it lasted
    assert "https://shop.example.com/" in english.content("text/plain")  # a link back to the site
    with sg_app.app_context(), sg_app.test_request_context():
        from flask_babel import force_locale, gettext

        with force_locale("pt_BR"):
            expected = gettext("We're back: the maintenance is over")
    assert portuguese.body["subject"] == expected


def test_the_email_names_the_reason_as_the_page_did(tmp_path):
    app = make_app(tmp_path, PUBLIC_URL="https://shop.example.com")
    with app.app_context():
        window_id = ended_window(reason="database")
        subscribe(window_id, 1, "en", prefix="en")
        subscribe(window_id, 1, "pt_BR", prefix="pt")
        notifications.send_due_deliveries()
        sent = {call["language"]: call for call in mail.outbox()}
    english_text, english_html = sent["en"]["bodies"]["en0@example.com"]
    portuguese_text, portuguese_html = sent["pt_BR"]["bodies"]["pt0@example.com"]
    assert "Reason: Database work" in english_text and "Reason: Database work" in english_html
    assert "Reason: database" not in english_text
    assert "Motivo: Trabalho no banco de dados" in portuguese_text
    assert "Trabalho no banco de dados" in portuguese_html


def test_a_subscriber_of_no_known_language_gets_the_operators_language(tmp_path):
    app = make_app(tmp_path, PUBLIC_URL="https://shop.example.com", BABEL_DEFAULT_LOCALE="pt_BR")
    with app.app_context():
        window_id = ended_window(reason="database")
        subscribe(window_id, 1, "de", prefix="de")
        subscribe(window_id, 1, "", prefix="none")
        subscribe(window_id, 1, "en", prefix="en")
        report = notifications.send_due_deliveries()
        assert report.sent == 3 and report.calls == 2
        sent = {call["language"]: call for call in mail.outbox()}
    assert sorted(sent["pt_BR"]["recipients"]) == ["de0@example.com", "none0@example.com"]
    assert "Trabalho no banco de dados" in sent["pt_BR"]["bodies"]["de0@example.com"][0]
    assert sent["en"]["recipients"] == ["en0@example.com"]


def test_memory_backend_personalises_each_copy(tmp_path):
    app = make_app(tmp_path, PUBLIC_URL="https://shop.example.com")
    with app.app_context():
        window_id = ended_window()
        subscribe(window_id, 2)
        notifications.send_due_deliveries()
        (sent,) = mail.outbox()
        assert sent["recipients"] == ["user0@example.com", "user1@example.com"]
        text0, html0 = sent["bodies"]["user0@example.com"]
        text1, _ = sent["bodies"]["user1@example.com"]
        assert mail.UNSUBSCRIBE_TEXT not in text0 and mail.UNSUBSCRIBE_HTML not in html0
        assert "/maintenance/unsubscribe/" in text0 and text0 != text1


def test_429_with_retry_after_is_honoured(sg_app, fake):
    fake.fail_next(1, 429, retry_after=120)
    with sg_app.app_context():
        window_id = ended_window()
        subscribe(window_id, 10)
        before = utcnow()
        report = notifications.send_due_deliveries()
        assert report.calls == 1 and report.retried == 10 and report.sent == 0
        rows = db.session.scalars(select(Delivery)).all()
        assert {row.status for row in rows} == {"queued"}
        assert {row.attempts for row in rows} == {1}
        for row in rows:
            wait = (row.not_before - before).total_seconds()
            assert 119 <= wait <= 125, wait
            assert "429" in row.last_error
        # not due yet: no call
        assert notifications.send_due_deliveries().calls == 0
        assert len(fake.calls) == 1
        # two minutes later it goes out
        report = notifications.send_due_deliveries(now=utcnow() + timedelta(seconds=121))
        assert report.sent == 10 and statuses() == {"sent": 10}
        assert len(fake.calls) == 2


def test_500_is_retried_with_backoff_then_fails_after_max_attempts(sg_app, fake):
    sg_app.config["CIRCUIT_FAILURE_THRESHOLD"] = 100  # this test is about the retries alone
    fake.fail_next(10, 500)
    with sg_app.app_context():
        window_id = ended_window()
        subscribe(window_id, 3)
        now = utcnow()
        waits = []
        for _ in range(3):
            report = notifications.send_due_deliveries(now=now)
            assert report.calls == 1
            row = db.session.scalars(select(Delivery).order_by(Delivery.id)).first()
            if row.status == "queued":
                waits.append((row.not_before - now).total_seconds())
                now = row.not_before + timedelta(seconds=1)
        assert waits[1] > waits[0] > 0  # exponential backoff without Retry-After
        assert statuses() == {"failed": 3}
        assert {row.attempts for row in db.session.scalars(select(Delivery))} == {3}
        assert "500" in db.session.scalars(select(Delivery)).first().last_error
        assert notifications.send_due_deliveries(now=now + timedelta(days=1)).calls == 0
    assert len(fake.calls) == 3 and not fake.accepted


def test_a_timeout_is_retried(sg_app, fake):
    sg_app.config["SENDGRID_TIMEOUT_SECONDS"] = 0.5
    fake.fail_next(1, HANG)
    with sg_app.app_context():
        window_id = ended_window()
        subscribe(window_id, 2)
        report = notifications.send_due_deliveries()
        assert report.retried == 2 and "timed out" in report.errors[0]
        assert statuses() == {"queued": 2}
        report = notifications.send_due_deliveries(now=utcnow() + timedelta(hours=1))
        assert report.sent == 2


def test_a_refused_request_fails_at_once(sg_app, fake):
    sg_app.config["SENDGRID_API_KEY"] = "SG.wrong"
    with sg_app.app_context():
        window_id = ended_window()
        subscribe(window_id, 2)
        report = notifications.send_due_deliveries()
        assert report.failed == 2 and statuses() == {"failed": 2}
    assert [call.status for call in fake.calls] == [401]


def test_circuit_opens_after_repeated_failures_no_call_while_open_then_recovers(sg_app, fake):
    opened: list[dict] = []

    def remember(window, **details):
        opened.append({"window": window, **details})

    hooks.on("mail.circuit_open", remember)
    sg_app.config["NOTIFY_MAX_ATTEMPTS"] = 10  # this test is about the breaker, not giving up
    fake.fail_next(3, 503)
    try:
        with sg_app.app_context():
            window_id = ended_window()
            subscribe(window_id, 5)
            now = utcnow()
            for n in range(3):  # threshold 3: each failing call ends its pass
                report = notifications.send_due_deliveries(now=now)
                now = db.session.scalars(select(Delivery)).first().not_before
                assert report.calls == 1
            assert report.circuit == "open"
            breaker = db.session.get(CircuitBreaker, "sendgrid")
            assert breaker.state == "open" and breaker.failures == 3
            assert len(opened) == 1 and opened[0]["window"] is None and opened[0]["name"] == "sendgrid"
            assert db.session.scalar(select(func.count()).where(AuditEntry.action == "mail.circuit_open")) == 1
            health = sg_app.test_client().get("/health/ready").get_json()
            assert health["checks"]["mail_circuit"]["state"] == "open"
            assert health["checks"]["mail_circuit"]["critical"] is False

            # open: due deliveries, yet no call at all during the cool-down
            db.session.execute(update(Delivery).values(not_before=utcnow() - timedelta(seconds=1)))
            db.session.commit()
            calls = len(fake.calls)
            for _ in range(3):
                assert notifications.send_due_deliveries().calls == 0
            assert len(fake.calls) == calls

            # after the cool-down: one trial batch; it succeeds, the circuit closes, the rest goes out
            later = breaker.retry_at + timedelta(seconds=1)
            report = notifications.send_due_deliveries(now=later)
            assert report.sent == 5 and report.circuit == "closed"
            breaker = db.session.get(CircuitBreaker, "sendgrid")
            db.session.refresh(breaker)
            assert breaker.state == "closed" and breaker.failures == 0
    finally:
        hooks.off("mail.circuit_open", remember)


def test_a_failed_half_open_trial_opens_the_circuit_again(sg_app, fake):
    sg_app.config["CIRCUIT_FAILURE_THRESHOLD"] = 1
    fake.fail_next(2, 500)
    with sg_app.app_context():
        window_id = ended_window()
        subscribe(window_id, 2)
        assert notifications.send_due_deliveries().circuit == "open"
        breaker = db.session.get(CircuitBreaker, "sendgrid")
        later = breaker.retry_at + timedelta(minutes=5)
        report = notifications.send_due_deliveries(now=later)  # the trial fails
        assert report.calls == 1 and report.circuit == "open"
        db.session.refresh(breaker)
        assert breaker.state == "open" and breaker.retry_at > later
        assert notifications.send_due_deliveries(now=later + timedelta(seconds=1)).calls == 0


def test_no_we_are_back_during_a_flap(sg_app, fake):
    with sg_app.app_context():
        window_id = ended_window(minutes_ago=2)
        subscribe(window_id, 4)
        # a new window started after the first one ended
        db.session.add(MaintenanceWindow(status="active", created_by="admin@example.com",
                                         starts_at=utcnow() - timedelta(minutes=1),
                                         started_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()
        report = notifications.send_due_deliveries()
        assert report.calls == 0 and report.skipped == 4
        assert statuses() == {"skipped": 4}
        assert "new window" in db.session.scalars(select(Delivery)).first().last_error
    assert fake.calls == []


def test_unsubscribed_and_erased_subscribers_are_skipped(sg_app, fake):
    with sg_app.app_context():
        window_id = ended_window()
        subscribe(window_id, 3)
        first, second, _ = db.session.scalars(select(Subscriber).order_by(Subscriber.id)).all()
        first.unsubscribed_at = utcnow()
        second.email, second.erased_at = None, utcnow()
        db.session.commit()
        report = notifications.send_due_deliveries()
        assert report.sent == 1 and report.skipped == 2
    assert fake.delivered() == ["user2@example.com"]


def test_not_due_yet_is_not_sent_and_notify_now_makes_it_due(sg_app, fake):
    with sg_app.app_context():
        window_id = ended_window(minutes_ago=0.1)
        subscribe(window_id, 3, due_in=50)
        assert notifications.send_due_deliveries().calls == 0
        assert notifications.notify_now(window_id, Actor("admin@example.com")) == 3
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "notify.sent_now")).one()
        assert entry.target == f"window:{window_id}" and entry.details == {"deliveries": 3}
        assert notifications.send_due_deliveries().sent == 3


def test_a_worker_killed_after_the_hand_off_leaves_uncertain_rows_never_resent(sg_app, fake):
    with sg_app.app_context():
        window_id = ended_window(minutes_ago=30)
        subscribe(window_id, 4)
        # a worker marked two rows sending 11 minutes ago, then died before recording the answer
        ids = db.session.scalars(select(Delivery.id).order_by(Delivery.id).limit(2)).all()
        db.session.execute(update(Delivery).where(Delivery.id.in_(ids)).values(
            status="sending", batch_id="dead-worker", attempts=1, not_before=utcnow() - timedelta(minutes=11)))
        # and one that is still within its lease (its worker may be mid-call): left alone
        db.session.execute(update(Delivery).where(Delivery.id == ids[-1] + 1).values(
            status="sending", batch_id="live-worker", attempts=1, not_before=utcnow() - timedelta(seconds=5)))
        db.session.commit()
        report = notifications.send_due_deliveries()
        assert report.uncertain == 2 and report.sent == 1
        assert statuses() == {"uncertain": 2, "sending": 1, "sent": 1}
        assert fake.delivered() == ["user3@example.com"]
        # never resent, however long we wait
        for hours in (1, 24):
            notifications.send_due_deliveries(now=utcnow() + timedelta(hours=hours))
        assert fake.delivered() == ["user3@example.com"]
        assert statuses() == {"uncertain": 3, "sent": 1}  # the live one's lease ran out too
        assert notifications.progress()["counts"]["uncertain"] == 3
        health = sg_app.test_client().get("/health/ready").get_json()
        assert health["checks"]["queues"]["depths"]["deliveries_uncertain"] == 3


def test_dashboard_shows_progress_and_the_button_queues_now(sg_app, fake):
    client = sg_app.test_client()
    from tests.support.apps import AuthActions

    AuthActions(client).login("admin")
    with sg_app.app_context():
        window_id = ended_window(minutes_ago=0.1)
        subscribe(window_id, 2, due_in=50)
    page = client.get("/admin", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'id="deliveries-panel"' in page and "Notify subscribers now" in page
    fragment = client.get("/admin/deliveries", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "deliveries-panel" in fragment.get_data(as_text=True)
    from tests.support.apps import csrf_from

    token = csrf_from(page)
    response = client.post(f"/admin/windows/{window_id}/notify-now", data={"csrf_token": token},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200
    with sg_app.app_context():
        assert notifications.send_due_deliveries().sent == 2


def test_health_and_metrics_report_the_queue_and_the_circuit(sg_app):
    with sg_app.app_context():
        window_id = ended_window()
        subscribe(window_id, 7, due_in=30)
    body = sg_app.test_client().get("/health/ready").get_json()
    assert body["checks"]["queues"]["depths"]["deliveries_queued"] == 7
    assert body["checks"]["mail_circuit"] == {"ok": True, "critical": False, "state": "closed",
                                              "failures": 0, "retry_at": None}
    from app.services import queues

    with sg_app.app_context():
        depths = queues.queue_depths()
    assert depths["deliveries_queued"] == 7 and depths["mail_circuit_open"] == 0


def test_the_worker_task_sends_what_is_due(sg_app, fake):
    from app.worker import Worker, load_tasks

    assert "send-deliveries" in load_tasks().names()
    with sg_app.app_context():
        window_id = ended_window()
        subscribe(window_id, 3)
    echoed: list[str] = []
    assert Worker(sg_app, echo=echoed.append, handle_signals=False).run(once=True) == 0
    assert sorted(fake.delivered()) == [f"user{n}@example.com" for n in range(3)]
    assert any("3 sent" in line for line in echoed)


def delivery_by_email() -> dict[str, Delivery]:
    rows = db.session.execute(
        select(Subscriber.email, Delivery).join(Delivery, Delivery.subscriber_id == Subscriber.id)
    ).all()
    return {email: delivery for email, delivery in rows}


def test_a_400_for_one_named_address_fails_only_that_recipient_and_sends_the_others(sg_app, fake):
    fake.reject("user3@example.com")  # SendGrid names it: "personalizations.3.to.0.email"
    with sg_app.app_context():
        window_id = ended_window()
        subscribe(window_id, 10)
        report = notifications.send_due_deliveries()
        assert report.sent == 9 and report.failed == 1 and report.errors == []
        rows = delivery_by_email()
        assert rows["user3@example.com"].status == "failed"
        assert "valid address" in rows["user3@example.com"].last_error
        assert {email for email, row in rows.items() if row.status == "sent"} == {
            f"user{n}@example.com" for n in range(10) if n != 3}
        assert notifications.circuit_state()["state"] == "closed"
        assert notifications.send_due_deliveries().calls == 0  # nothing left to do, nothing resent
    delivered = fake.delivered()
    assert sorted(delivered) == sorted(f"user{n}@example.com" for n in range(10) if n != 3)
    assert len(delivered) == len(set(delivered))  # nobody got it twice
    assert [call.status for call in fake.calls] == [400, 202]


def test_a_400_that_names_no_field_is_isolated_by_halving(sg_app, fake):
    fake.reject("user5@example.com", "user12@example.com", name_field=False)
    with sg_app.app_context():
        window_id = ended_window()
        subscribe(window_id, 16)
        report = notifications.send_due_deliveries()
        assert report.sent == 14 and report.failed == 2
        rows = delivery_by_email()
        assert {email for email, row in rows.items() if row.status == "failed"} == {
            "user5@example.com", "user12@example.com"}
    delivered = fake.delivered()
    assert len(delivered) == len(set(delivered)) == 14
    assert len(fake.calls) <= 2 * 2 * 4 + 1  # two bad addresses in 16: a few halvings each, not 16 calls
