"""Nothing a client sends reaches the maintenance page every waiting visitor shares (issue 10).

The page and its poll partial are rendered once a second and handed to everyone
(app/gate/fastpath.py). Whichever request comes first triggers the rendering, so a
crafted environ (a SCRIPT_NAME of `//evil.example`, a foreign Host, a query)
must not leak into it: the next, clean visitor must get links to this site.
Checked in-process with a poisoned environ, and over a real gunicorn socket with
the repo's gunicorn.conf.py and a `SCRIPT_NAME` header.
"""

from __future__ import annotations

import re
import socket
import time

import pytest
from pausa_gate.state import Actor
from pausa_gate.windows import utcnow

from app import create_app
from app.maintenance.validation import validate_window
from app.services import maintenance as maintenance_service
from bench.common import app_env, gunicorn
from tests.support.apps import make_app

EVIL = "//evil.example"
POISON = {"SCRIPT_NAME": EVIL, "HTTP_HOST": "evil.example"}
# Any attribute whose URL points somewhere else than this site's own paths.
FOREIGN_LINK = re.compile(r'(?:href|src|data-hx-get|data-hx-post|action)="(?!/(?!/)|data:|#)[^"]*"')


def at_the_start_of_a_second() -> None:
    """Wait for a fresh second, so a poisoned and a clean request share one rendering."""
    time.sleep(1.0 - time.time() % 1.0 + 0.01)


def assert_clean(html: str, prefix: str = "") -> None:
    assert "evil.example" not in html
    assert not FOREIGN_LINK.findall(html), FOREIGN_LINK.findall(html)
    assert f'href="{prefix}/_pausa/static/css/app.css"' in html


def activate_window(app) -> None:
    with app.app_context():
        fields = {"message": "Upgrading the database", "eta": "2h"}
        maintenance_service.activate_window(validate_window(fields, utcnow()), Actor("cli:test"))


@pytest.fixture
def maintenance_app(tmp_path):
    """An app with a window active whose cached state stays fresh, as in production."""
    app = make_app(tmp_path, MAINTENANCE_STATE_TTL=60.0)
    activate_window(app)
    return app


def test_a_poisoned_environ_never_reaches_the_page_others_receive(maintenance_app):
    client = maintenance_app.test_client()
    at_the_start_of_a_second()
    poisoned = client.get("/account?next=//evil.example", environ_overrides=POISON)
    clean = client.get("/account")
    assert poisoned.status_code == clean.status_code == 503
    assert_clean(clean.get_data(as_text=True))
    # The poisoned request itself got the shared, clean rendering too.
    assert_clean(poisoned.get_data(as_text=True))


def test_a_poisoned_environ_never_reaches_the_status_poll_others_receive(maintenance_app):
    client = maintenance_app.test_client()
    poll = {"HX-Request": "true"}
    at_the_start_of_a_second()
    client.get("/maintenance/status?active=1", headers=poll, environ_overrides=POISON)
    clean = client.get("/maintenance/status?active=1", headers=poll)
    assert clean.status_code == 200
    html = clean.get_data(as_text=True)
    assert "evil.example" not in html
    assert 'data-hx-get="/_pausa/status?active=1"' in html


def test_the_shared_page_takes_its_prefix_from_configuration(tmp_path):
    app = make_app(tmp_path, MAINTENANCE_STATE_TTL=60.0, SCRIPT_NAME="/status")
    activate_window(app)
    client = app.test_client()
    at_the_start_of_a_second()
    client.get("/", environ_overrides=POISON)
    html = client.get("/", environ_overrides={"SCRIPT_NAME": "/status"}).get_data(as_text=True)
    assert_clean(html, prefix="/status")
    assert 'action="/status/_pausa/subscribe"' in html


@pytest.mark.parametrize("value", ["//evil.example", "/status/", "status", "/a b", "/x?y"])
def test_a_script_name_that_is_not_a_plain_path_stops_the_app(value):
    with pytest.raises(RuntimeError, match="SCRIPT_NAME"):
        create_app({"SCRIPT_NAME": value})


# -- over a real gunicorn socket ------------------------------------------------------------------


def raw_get(port: int, path: str, *headers: str) -> tuple[int, str]:
    """Send one hand-written HTTP/1.1 request (a SCRIPT_NAME header is not something http.client sends)."""
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close", *headers, "", ""]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall("\r\n".join(lines).encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode(errors="replace")


def test_gunicorn_ignores_a_script_name_header_and_the_shared_page_stays_clean(tmp_path):
    database = f"sqlite:///{tmp_path / 'pausa.db'}"
    app = make_app(tmp_path, database_url=database)
    activate_window(app)
    env = app_env(database, MAINTENANCE_STATE_TTL="60")
    with gunicorn("poison", env, tmp_path, workers=1) as server:
        for _ in range(3):  # the same second, whichever request is first
            at_the_start_of_a_second()
            raw_get(server.port, f"{EVIL}/account", f"SCRIPT_NAME: {EVIL}", "X-Forwarded-Host: evil.example")
            status, body = raw_get(server.port, "/account")
            assert status == 503
            assert_clean(body)
        # On a page that is not shared, only gunicorn can refuse the header: it moves no link.
        status, body = raw_get(server.port, f"{EVIL}/auth/login", f"SCRIPT_NAME: {EVIL}")
        assert f'"{EVIL}/static' not in body
