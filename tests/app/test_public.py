"""What end users get from the maintenance page's endpoints and the banner."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.support.apps import schedule_in

HX = {"HX-Request": "true"}


def test_maintenance_page_without_window(client):
    response = client.get("/maintenance")
    assert response.status_code == 200
    assert "No maintenance is in progress." in response.get_data(as_text=True)


def test_maintenance_page_during_window_is_200_at_its_own_url(client, activate):
    activate(message="Hello")
    response = client.get("/maintenance")
    assert response.status_code == 200
    assert "Hello" in response.get_data(as_text=True)


def test_status_partial_rearms_with_jittered_delay(client, activate):
    activate(eta="2h")
    delays = set()
    for _ in range(30):
        response = client.get("/maintenance/status?active=1", headers=HX)
        html = response.get_data(as_text=True)
        assert html.lstrip().startswith('<section id="maintenance-status"')
        assert 'data-hx-swap="outerHTML"' in html
        delay = int(html.split('data-hx-trigger="load delay:')[1].split("s")[0])
        assert 5 <= delay <= 30
        delays.add(delay)
        assert response.headers["Cache-Control"] == "no-store"
        assert "HX-Request" in response.headers["Vary"]
    assert len(delays) > 3, "polls must be spread out"


def test_status_poll_reloads_once_window_ends(client, runner, activate):
    activate()
    assert "HX-Refresh" not in client.get("/maintenance/status?active=1", headers=HX).headers
    runner.invoke(args=["maintenance", "off"])
    response = client.get("/maintenance/status?active=1", headers=HX)
    assert response.headers["HX-Refresh"] == "true"
    # Polls from the /maintenance page itself (no window when it loaded) never loop.
    assert "HX-Refresh" not in client.get("/maintenance/status", headers=HX).headers


def test_status_json_etag(client, activate):
    first = client.get("/maintenance/status.json")
    assert first.json == {"active": False, "window": None, "upcoming": None, "version": 1}
    etag = first.headers["ETag"]
    again = client.get("/maintenance/status.json", headers={"If-None-Match": etag})
    assert again.status_code == 304
    activate(message="Now")
    changed = client.get("/maintenance/status.json", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.json["active"] is True
    assert changed.json["window"]["message"] == "Now"


def test_banner_refreshes_page_that_became_blocked(client, activate):
    quiet = client.get("/maintenance/banner", headers={**HX, "HX-Current-URL": "http://localhost/account?x=1"})
    assert quiet.status_code == 200
    assert "HX-Refresh" not in quiet.headers
    activate()
    blocked = client.get("/maintenance/banner", headers={**HX, "HX-Current-URL": "http://localhost/account?x=1"})
    assert blocked.headers["HX-Refresh"] == "true"
    # The admin's pages are not blocked, so they are never reloaded.
    admin_page = client.get("/maintenance/banner", headers={**HX, "HX-Current-URL": "http://localhost/admin"})
    assert "HX-Refresh" not in admin_page.headers


def test_banner_shows_ribbon_to_bypassers(client, auth, activate):
    activate(allowed_roles=["developer"])
    auth.login("developer")
    html = client.get("/maintenance/banner", headers={**HX, "HX-Current-URL": "http://localhost/"}).get_data(
        as_text=True
    )
    assert "you are bypassing it" in html
    assert 'data-hx-trigger="every 15s"' in html


def test_message_is_escaped_everywhere(client, auth, activate):
    activate(message='<script>alert("x")</script>')
    page = client.get("/").get_data(as_text=True)
    assert "<script>alert" not in page
    assert "&lt;script&gt;" in page
    auth.login("admin")
    dashboard = client.get("/admin").get_data(as_text=True)
    assert "<script>alert" not in dashboard


def test_polls_are_answered_from_the_shared_rendering(tmp_path):
    """Within a second, polls after the first skip Flask yet answer exactly like Flask did."""
    import re

    from flask import request_started

    from tests.support.apps import make_app

    app = make_app(tmp_path, MAINTENANCE_STATE_TTL=60.0)
    client = app.test_client()
    with app.app_context():
        from pausa_gate.state import Actor
        from pausa_gate.windows import utcnow

        from app.maintenance.validation import validate_window
        from app.services import maintenance as maintenance_service

        maintenance_service.activate_window(validate_window({"message": "Shared", "eta": "2h"}, utcnow()), Actor("t"))
    flask_requests = []
    request_started.connect(lambda sender, **extra: flask_requests.append(1), app, weak=False)

    responses = [client.get("/maintenance/status?active=1", headers=HX) for _ in range(20)]
    assert 1 <= len(flask_requests) <= 3, "only the first poll of each second enters Flask"
    first = responses[0]
    strip = lambda html: re.sub(r"delay:\d+s", "delay:Ns", html)  # noqa: E731
    for response in responses[1:]:
        assert response.status_code == 200
        assert strip(response.get_data(as_text=True)) in {strip(r.get_data(as_text=True)) for r in responses[:3]}
        for name in ("Content-Security-Policy", "X-Content-Type-Options", "Cache-Control", "Content-Type"):
            assert response.headers[name] == first.headers[name], name
        assert "HX-Request" in response.headers["Vary"]
    assert "Shared" in responses[-1].get_data(as_text=True)
    delays = {re.search(r"delay:(\d+)s", r.get_data(as_text=True)).group(1) for r in responses}
    assert len(delays) > 2, "each response still gets its own jittered delay"

    # The end of the window is Flask's to answer (HX-Refresh), never a stale fragment.
    with app.app_context():
        maintenance_service.end_window(Actor("t"))
    assert client.get("/maintenance/status?active=1", headers=HX).headers["HX-Refresh"] == "true"


# -- a window still to come, and the drain period before it -------------------------------------

def _minutes(n):
    return timedelta(minutes=n)


def test_status_json_counts_an_upcoming_window_down_to_its_start(app, client):
    schedule_in(app, _minutes(19), eta_in=_minutes(79))
    upcoming = client.get("/maintenance/status.json").json["upcoming"]
    assert 1130 <= upcoming["seconds_remaining"] <= 1140, "seconds_remaining counts to the start"
    assert upcoming["seconds_until_start"] == upcoming["seconds_remaining"]
    assert 4730 <= upcoming["seconds_until_eta"] <= 4740
    assert upcoming["draining"] is False


def test_maintenance_page_tells_of_the_window_still_to_come(app, client):
    schedule_in(app, _minutes(19), eta_in=_minutes(79))
    for url, headers in (("/maintenance", {}), ("/_pausa", {}), ("/_pausa/status", HX)):
        response = client.get(url, headers=headers)
        html = response.get_data(as_text=True)
        assert response.status_code == 200, url
        assert "Everything is running" not in html and "No maintenance is in progress." not in html, url
        assert "Maintenance is planned: starts at" in html, url
        assert re.search(r'data-seconds="11[34]\d">19 min</span>\)', html), url
        assert "Expected back at" in html and "Database work" in html and "Database upgrade" in html, url


def test_the_banner_before_a_window_says_to_save_and_that_input_is_kept(app, client):
    schedule_in(app, _minutes(19), eta_in=_minutes(79))
    html = client.get("/").get_data(as_text=True)
    assert "Save your work: maintenance starts in" in html
    assert "Unsent form input is kept on this device." in html


DRAIN_SENTENCE = "Your change was not saved: changes are paused because maintenance starts at"


def test_a_save_during_the_drain_says_changes_are_paused_not_down(app, client, auth):
    schedule_in(app, _minutes(10), eta_in=_minutes(40), drain_minutes="15")
    auth.login("user")
    token = auth.csrf("/account")
    assert client.get("/account").status_code == 200, "browsing still works"

    page = client.post("/account", data={"note": "draft", "csrf_token": token})
    html = page.get_data(as_text=True)
    assert page.status_code == 503
    assert page.headers["X-Pausa-Writes"] == "paused"
    assert DRAIN_SENTENCE in html
    assert re.search(r'data-seconds="(59\d|600)">10 min</span>\)', html)
    assert "Browsing still works; your input is kept on this device." in html
    assert "We’ll be right back" not in html and "Back in about" not in html
    assert '<meta name="pausa-answer" content="paused">' in html
    assert 'http-equiv="refresh"' not in html, "a refresh would send the form again"

    fragment = client.post("/account", data={"note": "draft", "csrf_token": token}, headers=HX)
    assert fragment.status_code == 503
    assert "HX-Refresh" not in fragment.headers, "reloading shows the page as if nothing had happened"
    assert fragment.get_data(as_text=True).startswith(DRAIN_SENTENCE)

    api = client.post("/api/v1/items", json={"name": "x"})
    assert api.status_code == 503
    assert api.json["error"] == "writes_paused"
    assert api.json["message"].startswith(DRAIN_SENTENCE)
    assert 590 <= api.json["seconds_until_start"] <= 600


def test_a_save_blocked_by_maintenance_keeps_the_input_and_says_so(client, auth, activate):
    auth.login("user")
    token = auth.csrf("/account")
    activate(message="Deploying")
    html = client.post("/account", data={"note": "draft", "csrf_token": token}).get_data(as_text=True)
    assert "What you typed is kept on this device" in html
    assert '<meta name="pausa-answer" content="refused">' in html
    assert '<meta name="pausa-answer" content="maintenance">' in client.get("/account").get_data(as_text=True)
