"""Rotating SECRET_KEY with the old key in SECRET_KEY_FALLBACKS logs nobody out and breaks no link sent."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from pausa_gate import cookies, document
from pausa_gate.state import Actor, BypassKey, GateState
from pausa_gate.windows import utcnow

from app.services import bypass as bypass_service
from app.services import subscriptions
from tests.servers.test_production_stack import second_instance
from tests.support.apps import csrf_from, make_app

OLD_KEY = "the-key-before-rotation"
NEW_KEY = "the-key-after-rotation"
UNSUBSCRIBE_LINK = re.compile(r'href="http://localhost(/maintenance/unsubscribe/[^"]+)"')

# With the old key as a fallback everything made before the rotation still works; without it, nothing does.
ROTATIONS = pytest.mark.parametrize(
    "fallbacks, works", [((OLD_KEY,), True), ((), False)], ids=["old-key-as-fallback", "no-fallback"]
)


@pytest.fixture
def before(tmp_path):
    """Pausa as it ran before the rotation, signing with the old key."""
    return make_app(tmp_path, SECRET_KEY=OLD_KEY)


def rotated(before, fallbacks):
    """The same database served after the rotation: the new key, maybe the old one as a fallback."""
    return second_instance(before, SECRET_KEY=NEW_KEY, SECRET_KEY_FALLBACKS=fallbacks)


def carry_cookie(name, old_client, new_client) -> None:
    """Give the new server's browser the cookie the old server set (the same browser after a deploy)."""
    cookie = old_client.get_cookie(name)
    assert cookie is not None, f"the old server set no {name} cookie"
    new_client.set_cookie(name, cookie.value)


def start_window(app, **fields) -> None:
    from app.maintenance.validation import validate_window
    from app.services import maintenance as maintenance_service

    with app.app_context():
        maintenance_service.activate_window(validate_window(fields, utcnow()), Actor("cli:test"))


@ROTATIONS
def test_a_signed_in_admin_stays_signed_in_and_a_form_rendered_before_still_submits(before, fallbacks, works):
    from tests.support.apps import AuthActions

    old_browser = before.test_client()
    AuthActions(old_browser).login("admin")
    form_token = csrf_from(old_browser.get("/admin").get_data(as_text=True))
    after = rotated(before, fallbacks)
    browser = after.test_client()
    carry_cookie("pausa_session", old_browser, browser)

    dashboard = browser.get("/admin")
    assert (dashboard.status_code == 200) is works, dashboard.status_code
    # The sign-out form on the page rendered before the rotation carries a token signed with the old key.
    signed_out = browser.post("/auth/logout", data={"csrf_token": form_token})
    assert (signed_out.status_code == 302) is works, signed_out.status_code
    if works:
        assert browser.get("/admin").status_code != 200, "signing out after the rotation ends the session"


@ROTATIONS
def test_a_new_session_after_the_rotation_is_signed_with_the_new_key_only(before, fallbacks, works):
    from tests.support.apps import AuthActions

    after = rotated(before, fallbacks)
    browser = after.test_client()
    AuthActions(browser).login("admin")
    assert browser.get("/admin").status_code == 200
    old_server = before.test_client()
    carry_cookie("pausa_session", browser, old_server)
    assert old_server.get("/admin").status_code != 200, "the old key must not verify what the new key signed"


@ROTATIONS
def test_an_unsubscribe_link_emailed_before_the_rotation_still_works(before, fallbacks, works):
    start_window(before, message="Upgrading", eta="1h")
    answer = before.test_client().post("/maintenance/subscribe", data={"email": "ana@example.com"})
    path = UNSUBSCRIBE_LINK.search(answer.get_data(as_text=True)).group(1)
    with before.app_context():
        standing_path = f"/status/unsubscribe/{subscriptions.standing_unsubscribe_token(1)}"
    after = rotated(before, fallbacks)

    for link in (path, standing_path):
        assert (after.test_client().get(link).status_code == 200) is works, link
    unsubscribed = after.test_client().post(path)
    assert (unsubscribed.status_code == 200) is works
    if works:
        assert "Unsubscribed" in unsubscribed.get_data(as_text=True)
        with after.app_context():
            fresh = subscriptions.unsubscribe_url(1).removeprefix("http://localhost:5000")
        assert before.test_client().get(fresh).status_code == 400, "new links are made with the new key"


@ROTATIONS
def test_a_bypass_cookie_set_before_the_rotation_still_lets_its_holder_through(before, fallbacks, works):
    start_window(before, message="Deploying", eta="30m", ends_at="1h")
    with before.app_context():
        _, raw = bypass_service.create_link(Actor("admin@example.com"))
    tester = before.test_client()
    assert tester.get(f"/bypass/{raw}").status_code == 302
    assert tester.get("/").status_code == 200
    after = rotated(before, fallbacks)
    browser = after.test_client()
    carry_cookie(cookies.COOKIE, tester, browser)

    assert browser.get("/").status_code == (200 if works else 503)
    assert after.test_client().get("/").status_code == 503, "everyone else is still blocked"
    # Opening the link again after the rotation sets a cookie under the new key, which always works.
    fresh = after.test_client()
    assert fresh.get(f"/bypass/{raw}").status_code == 302
    assert fresh.get("/").status_code == 200


def test_the_state_document_carries_fallback_digests_and_older_documents_still_read():
    expires = (utcnow() + timedelta(hours=1)).replace(microsecond=0)
    current, old = cookies.digest("current-secret"), cookies.digest("old-secret")
    state = GateState(version=3, bypass_links=frozenset({BypassKey(7, 1, expires, current, (old,))}))
    data = document.to_document(state)
    assert data["bypass_links"][0]["fallback_digests"] == [old]
    assert document.from_document(data) == state
    for secret, window in (("current-secret", 1), ("old-secret", 1), ("forged-secret", None)):
        assert cookies.bypass_window_id(f"7.{secret}", state, utcnow()) == window
    del data["bypass_links"][0]["fallback_digests"]  # what Pausa published before rotations existed
    older = document.from_document(data)
    assert cookies.bypass_window_id("7.current-secret", older, utcnow()) == 1
    assert cookies.bypass_window_id("7.old-secret", older, utcnow()) is None
    plain = document.to_document(older)
    assert "fallback_digests" not in plain["bypass_links"][0], "no rotation, the document is unchanged"


@ROTATIONS
def test_a_set_password_link_made_before_the_rotation_still_works(before, fallbacks, works):
    result = before.test_cli_runner().invoke(args=["users", "set-password", "admin@example.com", "--link"])
    assert result.exit_code == 0, result.output
    path = re.search(r"(/auth/set-password/\S+)", result.output).group(1)
    after = rotated(before, fallbacks)
    assert after.test_client().get(path).status_code == (200 if works else 400)
