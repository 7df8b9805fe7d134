"""Standing subscriptions on /status: double opt-in, no enumeration, rate limits, one-click unsubscribe."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from pausa_gate.state import Actor
from pausa_gate.windows import utcnow
from sqlalchemy import select

from app import mail
from app.extensions import db
from app.maintenance.validation import validate_window
from app.models import Notice, StandingSubscriber
from app.services import notifications, subscriptions
from app.services import scheduling as scheduling_service
from tests.support.apps import make_app

SUBSCRIBE = "/status/subscribe"
HTMX = {"HX-Request": "true"}
ADMIN = Actor("admin@example.com")


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path, PUBLIC_URL="https://shop.example.com", NOTICE_CONFIRM_RESEND_MINUTES=10)


@pytest.fixture
def client(app):
    return app.test_client()


def subscribe(client, email, **headers):
    return client.post(SUBSCRIBE, data={"email": email}, headers=headers)


def row(app, email="ana@example.com"):
    with app.app_context():
        found = db.session.scalar(select(StandingSubscriber))
        if found is not None:
            db.session.expunge(found)
        return found


def confirmations(app, now=None):
    """Run the worker's confirmation sender; return the confirm links it emailed."""
    with app.app_context():
        before = len(mail.outbox())
        notifications.send_confirmations(now or utcnow() + timedelta(seconds=1))
        calls = mail.outbox()[before:]
        return [r.confirm_url for call in calls for r in call["message"].recipients]


def test_the_answer_is_the_same_whatever_the_address_state(app, client):
    first = subscribe(client, "Ana@Example.com", **HTMX).get_data(as_text=True)
    pending = subscribe(client, "ana@example.com", **HTMX).get_data(as_text=True)
    [link] = confirmations(app)
    assert client.post(urlsplit(link).path).status_code == 200
    confirmed = subscribe(client, "ana@example.com", **HTMX).get_data(as_text=True)
    assert first == pending == confirmed
    assert "Check your inbox" in first and "ana@example.com" in first
    assert row(app).status == "confirmed"


def test_nothing_but_the_confirmation_is_sent_until_confirmed(app, client):
    subscribe(client, "ana@example.com")
    now = utcnow() + timedelta(seconds=1)
    with app.app_context():
        scheduling_service.schedule_window(
            validate_window({"starts_at": (now + timedelta(hours=3)).isoformat()}, now), ADMIN, now)
    links = confirmations(app, now)
    with app.app_context():
        notifications.send_due_notices(now + timedelta(minutes=1))
        subjects = [call["subject"] for call in mail.outbox()]
        assert db.session.scalars(select(Notice)).all() == []
    assert len(links) == 1 and subjects == ["Confirm your maintenance notices"]


def test_confirming_twice_is_fine_and_an_expired_or_forged_link_confirms_nothing(app, client):
    subscribe(client, "ana@example.com")
    [link] = confirmations(app)
    path = urlsplit(link).path
    assert client.post(path).status_code == 200
    assert "Subscription confirmed" in client.post(path).get_data(as_text=True)
    assert client.post(path[:-4] + "AAAA").status_code == 400
    subscribe(client, "bob@example.com")
    with app.app_context():
        bob = db.session.scalar(select(StandingSubscriber).where(StandingSubscriber.email == "bob@example.com"))
        late = utcnow() + timedelta(hours=49)
        assert subscriptions.confirm_standing(subscriptions.confirm_token(bob.id), now=late) is None
        assert bob.status == "pending"


def test_a_pending_address_gets_the_link_again_at_most_every_few_minutes(app, client):
    subscribe(client, "ana@example.com")
    assert len(confirmations(app)) == 1
    subscribe(client, "ana@example.com")
    subscribe(client, "ana@example.com")
    assert confirmations(app) == []  # asked again at once: not resent
    with app.app_context():
        subscriptions.subscribe_standing("ana@example.com", "en", now=utcnow() + timedelta(minutes=11))
    assert len(confirmations(app, utcnow() + timedelta(minutes=12))) == 1


def test_rate_limited_per_ip_with_the_form_kept(tmp_path):
    app = make_app(tmp_path, SUBSCRIBE_RATE_LIMIT="2 per minute")
    client = app.test_client()
    assert subscribe(client, "a@example.com").status_code == 200
    assert subscribe(client, "b@example.com").status_code == 200
    limited = subscribe(client, "c@example.com", **HTMX)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    body = limited.get_data(as_text=True)
    assert "Please wait a minute" in body and 'id="standing-email"' in body


def test_cross_site_posts_and_bad_addresses_are_refused(app, client):
    assert subscribe(client, "ana@example.com", Origin="https://evil.example").status_code == 403
    bad = subscribe(client, "not an address", **HTMX)
    assert bad.status_code == 422 and "Enter a valid email address" in bad.get_data(as_text=True)
    assert row(app) is None


def test_under_the_visitors_prefix_the_form_posts_there(app, client):
    response = client.post("/_pausa/status/subscribe", data={"email": "x"}, headers=HTMX)
    assert response.status_code == 422
    assert 'action="/_pausa/status/subscribe"' in response.get_data(as_text=True)
    assert client.post("/_pausa/status/subscribe", data={"email": "ana@example.com"}).status_code == 200


def test_unsubscribe_get_changes_nothing_post_forgets_the_address(app, client):
    subscribe(client, "ana@example.com")
    [link] = confirmations(app)
    client.post(urlsplit(link).path)
    with app.app_context():
        path = urlsplit(subscriptions.standing_unsubscribe_url(row(app).id)).path
    assert client.get(path).status_code == 200 and row(app).status == "confirmed"
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    gone = row(app)
    assert gone.status == "unsubscribed" and gone.email is None
    assert client.post(urlsplit(link).path).status_code == 400  # an old confirm link no longer works
    assert client.post("/status/unsubscribe/forged").status_code == 400


def test_an_address_that_never_confirms_is_forgotten_once_its_link_expired(app, client):
    subscribe(client, "ana@example.com")
    confirmations(app)
    with app.app_context():
        assert subscriptions.erase_unconfirmed_standing(utcnow() + timedelta(hours=47)) == 0
        assert subscriptions.erase_unconfirmed_standing(utcnow() + timedelta(hours=49)) == 1
    forgotten = row(app)
    assert forgotten.email is None and forgotten.status == "unsubscribed"


def test_opening_the_confirm_link_only_asks_the_button_confirms(app, client):
    # Mail scanners (Safe Links, gateways) open every link: that must not confirm anything.
    subscribe(client, "ana@example.com")
    [link] = confirmations(app)
    path = urlsplit(link).path
    page = client.get(path)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    assert f'<form method="post" action="{path}">' in html and "Subscription confirmed" not in html
    assert row(app).status == "pending"
    done = client.post(path, headers={"Origin": "http://localhost"})
    assert done.status_code == 200 and "Subscription confirmed" in done.get_data(as_text=True)
    assert row(app).status == "confirmed"
    assert client.post(path).status_code == 200 and row(app).status == "confirmed"  # twice is fine


def test_a_bad_expired_or_cross_site_confirm_post_changes_nothing(app, client):
    subscribe(client, "ana@example.com")
    [link] = confirmations(app)
    path = urlsplit(link).path
    assert client.post(path, headers={"Origin": "https://evil.example"}).status_code == 403
    assert client.post(path[:-4] + "AAAA").status_code == 400
    assert client.get(path[:-4] + "AAAA").status_code == 400
    assert row(app).status == "pending"
    app.config["NOTICE_CONFIRM_HOURS"] = -1  # the link has expired (made more than -1 h ago: always)
    assert client.post(path).status_code == 400 and row(app).status == "pending"
