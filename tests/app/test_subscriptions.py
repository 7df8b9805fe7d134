"""Subscribing, unsubscribing, queueing the "we're back" emails and erasing old addresses (docs/notifications.md)."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from pausa_gate.state import Actor
from pausa_gate.windows import utcnow
from sqlalchemy import func, insert, select

from app.extensions import db
from app.maintenance.validation import validate_window
from app.models import AuditEntry, Delivery, MaintenanceWindow, Subscriber
from app.services import clock as clock_service
from app.services import maintenance as maintenance_service
from app.services import subscriptions
from app.services import tokens as token_service
from tests.support.apps import make_app

SUBSCRIBE = "/maintenance/subscribe"
HTMX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/maintenance"}
UNSUBSCRIBE_LINK = re.compile(r'href="(http://localhost/maintenance/unsubscribe/[^"]+)"')


def strip_delay(html: str) -> str:
    return re.sub(r"(delay:|content=\")\d+", r"\1N", html)


def subscribers(app) -> list[Subscriber]:
    with app.app_context():
        rows = db.session.scalars(select(Subscriber).order_by(Subscriber.id)).all()
        db.session.expunge_all()
        return rows


def deliveries(app) -> list[Delivery]:
    with app.app_context():
        rows = db.session.scalars(select(Delivery).order_by(Delivery.id)).all()
        db.session.expunge_all()
        return rows


def subscribe(client, email, **headers):
    return client.post(SUBSCRIBE, data={"email": email}, headers=headers)


@pytest.fixture
def active(app, activate):
    return activate(message="Upgrading", eta="1h")


# --- The form on the maintenance page --------------------------------------------------------


def test_the_maintenance_page_has_an_accessible_form_without_a_csrf_token(client, active):
    html = client.get("/account").get_data(as_text=True)
    form = html[html.index('id="subscribe"'):]
    assert 'action="/_pausa/subscribe"' in form
    assert 'autocomplete="email"' in form and 'inputmode="email"' in form and 'type="email"' in form
    assert '<label for="subscribe-email">' in form
    assert "csrf_token" not in html
    # Outside the polled section, so a poll never wipes what the visitor typed.
    status_section = html[html.index('id="maintenance-status"'):html.index("</section>")]
    assert "subscribe" not in status_section


def test_no_form_when_nothing_is_to_be_waited_for(client):
    assert 'id="subscribe"' not in client.get("/maintenance").get_data(as_text=True)


def test_two_visitors_get_the_same_page_in_the_same_second(tmp_path):
    app = make_app(tmp_path, MAINTENANCE_STATE_TTL=60.0)
    with app.app_context():
        maintenance_service.activate_window(validate_window({"message": "Shared", "eta": "1h"}, utcnow()), Actor("t"))
    first, second = app.test_client(), app.test_client()
    for _ in range(5):
        started = int(time.time())
        one = first.get("/account").get_data(as_text=True)
        two = second.get("/account", headers={"User-Agent": "other"}).get_data(as_text=True)
        if int(time.time()) == started:
            break
    assert 'id="subscribe-email"' in one
    assert strip_delay(one) == strip_delay(two)


# --- Subscribing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    ["", "   ", "plainaddress", "@example.com", "ana@", "ana@@example.com", "ana example@x.com",
     "Ana <ana@example.com>", "ana@exa mple.com", "a" * 250 + "@example.com", "ana@localhost"],
)
def test_bad_addresses_are_refused_next_to_the_field(client, app, active, email):
    response = subscribe(client, email, **HTMX)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'role="alert"' in html and "Enter a valid email address" in html
    assert 'aria-invalid="true"' in html and 'aria-describedby="subscribe-hint subscribe-error"' in html
    assert subscribers(app) == []


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("  Ana.Silva@Example.COM ", "ana.silva@example.com"),
        ("JOSÉ@EXAMPLE.com", "josé@example.com"),
        ("jose\u0301@example.com", "jos\u00e9@example.com"),  # decomposed é becomes NFC
        ("ana@BÜCHER.example", "ana@bücher.example"),
    ],
)
def test_addresses_are_normalised(client, app, active, given, stored):
    assert subscribe(client, given).status_code == 200
    (row,) = subscribers(app)
    assert row.email == stored
    assert row.email_hash == subscriptions.email_hash(stored)
    assert row.window_id == active and row.language == "en"


def test_a_duplicate_answers_exactly_like_a_new_subscription(client, app, active):
    new = subscribe(client, "ana@example.com", **HTMX)
    again = subscribe(client, "ANA@example.com", **HTMX)
    assert new.status_code == again.status_code == 200
    # Identical but for the unsubscribe token, which is freshly encrypted each time so
    # that nothing in it (like an older id) tells whether the address was there before.
    strip = lambda body: UNSUBSCRIBE_LINK.sub("LINK", body.decode())  # noqa: E731
    assert strip(new.get_data()) == strip(again.get_data())
    tokens = [UNSUBSCRIBE_LINK.search(r.get_data(as_text=True)).group(0) for r in (new, again)]
    assert tokens[0] != tokens[1]
    varying = {"Date", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After", "Content-Length"}
    assert {k: v for k, v in new.headers if k not in varying} == {k: v for k, v in again.headers if k not in varying}
    assert len(subscribers(app)) == 1


def test_the_subscriber_gets_the_ui_language(client, app, active):
    subscribe(client, "ana@example.com", **{"Accept-Language": "pt-BR,pt;q=0.9"})
    assert subscribers(app)[0].language == "pt_BR"


def test_without_javascript_a_small_confirmation_page(client, app, active):
    response = subscribe(client, "ana@example.com")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.startswith("<!doctype html>")
    assert "ana@example.com" in html and UNSUBSCRIBE_LINK.search(html)
    assert response.headers["Cache-Control"] == "no-store"
    bad = subscribe(client, "nope")
    assert bad.status_code == 422 and "<!doctype html>" in bad.get_data(as_text=True)


def test_with_htmx_a_fragment_swapped_in_place(client, app, active):
    response = subscribe(client, "ana@example.com", **HTMX)
    html = response.get_data(as_text=True)
    assert "<html" not in html and html.count('id="subscribe"') == 1
    assert 'role="status"' in html and UNSUBSCRIBE_LINK.search(html)
    assert "HX-Request" in response.headers["Vary"]


def test_nothing_to_subscribe_to_when_no_window_is_in_effect(client, app):
    response = subscribe(client, "ana@example.com", **HTMX)
    assert response.status_code == 422 and subscribers(app) == []


def test_rate_limited_per_ip_with_a_friendly_message(tmp_path):
    app = make_app(tmp_path, SUBSCRIBE_RATE_LIMIT="2 per minute")
    with app.app_context():
        maintenance_service.activate_window(validate_window({"eta": "1h"}, utcnow()), Actor("t"))
    client = app.test_client()
    assert subscribe(client, "a@example.com").status_code == 200
    assert subscribe(client, "b@example.com").status_code == 200
    page = subscribe(client, "c@example.com")
    fragment = subscribe(client, "d@example.com", **HTMX)
    for response in (page, fragment):
        assert response.status_code == 429
        assert "Please wait a minute and try again" in response.get_data(as_text=True)
        assert int(response.headers["Retry-After"]) > 0
    assert 'id="subscribe-email"' in fragment.get_data(as_text=True)  # the form stays usable
    assert "<!doctype html>" in page.get_data(as_text=True)
    other_ip = client.post(SUBSCRIBE, data={"email": "e@example.com"}, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other_ip.status_code == 200
    assert len(subscribers(app)) == 3


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Referer": "https://evil.example/page"}, 403),
        ({"Origin": "http://localhost.evil.example"}, 403),
        ({"Origin": "http://localhost"}, 200),
        ({"Referer": "http://localhost/account"}, 200),
        ({}, 200),
    ],
)
def test_cross_site_posts_are_refused(client, app, active, headers, expected):
    response = subscribe(client, "ana@example.com", **headers)
    assert response.status_code == expected
    assert len(subscribers(app)) == (1 if expected == 200 else 0)


# --- Unsubscribing -----------------------------------------------------------------------------


def unsubscribe_path(client, email="ana@example.com") -> str:
    html = subscribe(client, email).get_data(as_text=True)
    return UNSUBSCRIBE_LINK.search(html).group(1).removeprefix("http://localhost")


def test_unsubscribe_get_changes_nothing(client, app, active):
    path = unsubscribe_path(client)
    response = client.get(path)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'action="{path}"' in html and 'method="post"' in html
    assert subscribers(app)[0].unsubscribed_at is None


def test_unsubscribe_post_skips_the_queued_email(client, app, active):
    path = unsubscribe_path(client)
    unsubscribe_path(client, "bea@example.com")
    with app.app_context():
        maintenance_service.end_window(Actor("t"))
    response = client.post(path)  # no CSRF token, no cookie: the signed link is the credential
    assert response.status_code == 200 and "Unsubscribed" in response.get_data(as_text=True)
    ana, bea = subscribers(app)
    assert ana.unsubscribed_at is not None and bea.unsubscribed_at is None
    assert {d.subscriber_id: d.status for d in deliveries(app)} == {ana.id: "skipped", bea.id: "queued"}
    assert client.post(path).status_code == 200  # twice is fine


def test_unsubscribed_before_the_end_gets_no_delivery(client, app, active):
    client.post(unsubscribe_path(client))
    with app.app_context():
        maintenance_service.end_window(Actor("t"))
    assert deliveries(app) == []


def test_subscribing_again_after_unsubscribing_resubscribes(client, app, active):
    client.post(unsubscribe_path(client))
    subscribe(client, "ana@example.com")
    assert subscribers(app)[0].unsubscribed_at is None


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_tampered_token_is_refused(client, app, active, method):
    path = unsubscribe_path(client)
    token = path.rsplit("/", 1)[1]
    flipped = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    with app.app_context():
        foreign = Fernet(Fernet.generate_key()).encrypt(b"1").decode()
    for bad in (flipped, token[:-4], foreign, "garbage"):
        assert client.open(f"/maintenance/unsubscribe/{bad}", method=method).status_code == 400
    assert subscribers(app)[0].unsubscribed_at is None


def test_unsubscribe_url_outside_a_request(app, active):
    with app.app_context():
        url = subscriptions.unsubscribe_url(7)
    assert url.startswith("http://localhost:5000/maintenance/unsubscribe/")
    with app.app_context():
        assert subscriptions.read_unsubscribe_token(url.rsplit("/", 1)[1]) == 7
        app.config["SECRET_KEY"] = "another key"
        assert subscriptions.read_unsubscribe_token(url.rsplit("/", 1)[1]) is None


# --- Queueing when the window ends -------------------------------------------------------------


def add_subscribers(app, window_id: int, count: int, created_at=None, prefix: str = "user") -> None:
    created_at = created_at or utcnow()
    with app.app_context():
        db.session.execute(
            insert(Subscriber),
            [
                {"window_id": window_id, "email": f"{prefix}{n}@example.com",
                 "email_hash": subscriptions.email_hash(f"{prefix}{n}@example.com"),
                 "language": "en", "created_at": created_at}
                for n in range(count)
            ],
        )
        db.session.commit()


def test_ending_through_the_api_queues_one_delivery_each_after_the_delay(app, client, active):
    add_subscribers(app, active, 3)
    with app.app_context():
        _, raw = token_service.create_token("deploy", ["admin"], Actor("t"))
    response = client.delete("/api/admin/maintenance", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200
    with app.app_context():
        window = db.session.get(MaintenanceWindow, active)
        ended_at = window.ended_at
    rows = deliveries(app)
    assert len(rows) == 3
    assert {(d.kind, d.status, d.window_id, d.attempts) for d in rows} == {("back_online", "queued", active, 0)}
    assert {d.not_before for d in rows} == {ended_at + timedelta(seconds=60)}


def test_ending_from_the_cli_queues(app, runner, active):
    add_subscribers(app, active, 2)
    assert runner.invoke(args=["maintenance", "off"]).exit_code == 0
    assert len(deliveries(app)) == 2


def test_notify_delay_is_honoured(tmp_path):
    app = make_app(tmp_path, NOTIFY_DELAY_SECONDS=300)
    with app.app_context():
        window = maintenance_service.activate_window(validate_window({"eta": "1h"}, utcnow()), Actor("t"))
        window_id = window.id
    add_subscribers(app, window_id, 1)
    with app.app_context():
        ended = maintenance_service.end_window(Actor("t"))
        ended_at = ended.ended_at
    assert deliveries(app)[0].not_before == ended_at + timedelta(seconds=300)


def test_the_automatic_end_queues_from_ends_at(app, activate):
    window_id = activate(message="Auto", ends_at="30m")
    add_subscribers(app, window_id, 2)
    with app.app_context():
        ends_at = db.session.get(MaintenanceWindow, window_id).ends_at
        later = utcnow() + timedelta(hours=1)
        assert [w.id for w in clock_service.finish_expired_windows(later)] == [window_id]
        assert clock_service.finish_expired_windows(later + timedelta(seconds=5)) == []
    rows = deliveries(app)
    assert len(rows) == 2 and {d.not_before for d in rows} == {ends_at + timedelta(seconds=60)}


def test_only_live_subscribers_of_that_window_are_queued(app, client, active):
    add_subscribers(app, active, 2)
    client.post(unsubscribe_path(client, "gone@example.com"))
    with app.app_context():
        other = MaintenanceWindow(status="completed", starts_at=utcnow(), created_by="t", created_at=utcnow())
        db.session.add(other)
        db.session.commit()
        other_id = other.id
    add_subscribers(app, other_id, 1)
    with app.app_context():
        maintenance_service.end_window(Actor("t"))
    assert {d.window_id for d in deliveries(app)} == {active} and len(deliveries(app)) == 2


def test_queueing_is_idempotent(app, active):
    add_subscribers(app, active, 3)
    with app.app_context():
        window = maintenance_service.end_window(Actor("t"))
        assert subscriptions.queue_deliveries(window, window.ended_at) == 0
        db.session.commit()
    assert len(deliveries(app)) == 3


def test_a_rolled_back_end_queues_nothing(app, active, monkeypatch):
    add_subscribers(app, active, 3)
    real = subscriptions.queue_deliveries

    def queue_then_fail(window, ended_at):
        assert real(window, ended_at) == 3  # queued inside the end's transaction …
        raise RuntimeError("crash before the commit")

    monkeypatch.setattr(subscriptions, "queue_deliveries", queue_then_fail)
    with app.app_context(), pytest.raises(RuntimeError):
        maintenance_service.end_window(Actor("t"))
    with app.app_context():
        db.session.rollback()
        assert db.session.get(MaintenanceWindow, active).status == "active"
    assert deliveries(app) == []  # … so they went with it
    monkeypatch.setattr(subscriptions, "queue_deliveries", real)
    with app.app_context():
        maintenance_service.end_window(Actor("t"))
    assert len(deliveries(app)) == 3


def test_ten_thousand_subscribers_queue_fast(app, active, sql_counter):
    add_subscribers(app, active, 10_000)
    sql_counter.statements.clear()
    started = time.perf_counter()
    with app.app_context():
        maintenance_service.end_window(Actor("t"))
    elapsed = time.perf_counter() - started
    inserts = [s for s in sql_counter.statements if s.lstrip().upper().startswith("INSERT INTO DELIVERIES")]
    assert len(inserts) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Delivery)) == 10_000
    assert elapsed < 3.0, f"queueing 10,000 took {elapsed:.2f} s"


# --- Retention ---------------------------------------------------------------------------------


def test_retention_erases_only_old_addresses_not_being_mailed(app, active):
    now = utcnow()
    add_subscribers(app, active, 1, created_at=now - timedelta(days=8))  # old: erased
    add_subscribers(app, active, 1, created_at=now - timedelta(days=6), prefix="recent")  # kept
    with app.app_context():
        db.session.execute(
            insert(Subscriber),
            [{"window_id": active, "email": f"{name}@example.com", "email_hash": name,
              "language": "en", "created_at": now - timedelta(days=9)} for name in ("queued", "sending", "sent")],
        )
        db.session.flush()
        for status in ("queued", "sending", "sent"):
            sub_id = db.session.scalar(select(Subscriber.id).where(Subscriber.email_hash == status))
            db.session.add(Delivery(window_id=active, subscriber_id=sub_id, status=status, not_before=now))
        db.session.commit()
        assert subscriptions.erase_expired_subscribers(now) == 2
        assert subscriptions.erase_expired_subscribers(now) == 0  # nothing left: no new audit entry
        audits = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "subscribers.erased")).all()
        assert [(a.actor, a.details["count"]) for a in audits] == [("system", 2)]
    rows = {(r.email or r.email_hash.split(":")[0]): r for r in subscribers(app)}
    assert set(rows) == {"erased", "recent0@example.com", "queued@example.com", "sending@example.com"}
    erased = [r for r in subscribers(app) if r.erased_at is not None]
    assert len(erased) == 2
    for row in erased:
        assert row.email is None and row.email_hash == f"erased:{row.id}" and row.erased_at == now


def test_retention_runs_in_the_worker(app, runner, active):
    add_subscribers(app, active, 2, created_at=utcnow() - timedelta(days=30))
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert all(r.email is None for r in subscribers(app))


# --- Dashboard ---------------------------------------------------------------------------------


def test_the_dashboard_shows_subscribers_and_the_last_deliveries(app, client, auth, active):
    add_subscribers(app, active, 4)
    auth.login()
    html = client.get("/admin").get_data(as_text=True)
    assert 'id="subscribers-panel"' in html and "4 people wait for an email" in html
    with app.app_context():
        maintenance_service.end_window(Actor("t"))
    html = client.get("/admin").get_data(as_text=True)
    panel = html[html.index('id="deliveries-panel"'):]
    panel = panel[:panel.index("</section>")]
    assert re.search(r"queued</dt><dd>4<", panel) and re.search(r"sent</dt><dd>0<", panel)
    assert "queued</dt>" not in html[html.index('id="subscribers-panel"'):html.index('id="deliveries-panel"')]


def test_the_protected_sites_own_pages_may_post_the_form(tmp_path):
    from pausa_gate.state import Actor

    from app.maintenance.validation import validate_window
    from app.services import maintenance as maintenance_service

    app = make_app(tmp_path, GATE_SITE_URL="https://shop.example")
    with app.app_context():
        maintenance_service.activate_window(validate_window({}, utcnow()), Actor("t"))
    client = app.test_client()
    # Behind the shop's proxy the form is posted from the shop's pages to /_pausa/subscribe.
    shop = client.post("/_pausa/subscribe", data={"email": "ana@example.com"}, headers={"Origin": "https://shop.example"})
    assert shop.status_code == 200
    other = client.post("/_pausa/subscribe", data={"email": "bo@example.com"}, headers={"Origin": "https://evil.example"})
    assert other.status_code == 403
