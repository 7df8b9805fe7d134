"""How the `pausa` CLI copes with what a real Pausa cannot be made to do on demand: 5xx answers,
Retry-After, redirects, hangs and answers that are not Pausa's (a scripted stand-in plays Pausa)."""

from __future__ import annotations

import os
import time

import pytest

from tests.support.gate import GATE_DIR, HANG, Scripted, ScriptedServer, pausa_cli

TOKEN = "pausa_scripted-token-value"
OFF = Scripted(200, {"active": False, "window": None, "version": 3})
BUSY = Scripted(503, {"error": "unavailable", "message": "The service is temporarily unavailable."})


def cli(server: ScriptedServer, *args: str, **extra: str):
    env = {name: value for name, value in os.environ.items() if not name.startswith("PAUSA_")}
    env.update({"PYTHONPATH": str(GATE_DIR), "PAUSA_URL": server.url, "PAUSA_TOKEN": TOKEN, **extra})
    done = pausa_cli(*args, env=env, timeout=60)
    assert TOKEN not in done.stdout + done.stderr, "the CLI printed the token"
    return done


def test_sends_the_token_and_asks_for_json():
    with ScriptedServer(OFF) as server:
        assert cli(server, "status").returncode == 0
    ((method, path, headers),) = server.requests
    assert (method, path) == ("GET", "/api/admin/maintenance")
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Accept"] == "application/json"


def test_a_base_url_with_a_path_and_a_trailing_slash():
    with ScriptedServer(OFF) as server:
        assert cli(server, "status", PAUSA_URL=server.url + "/pausa/").returncode == 0
    assert server.requests[0][1] == "/pausa/api/admin/maintenance"


def test_5xx_answers_are_retried_with_short_waits():
    with ScriptedServer(BUSY, Scripted(502, b"<html>Bad gateway</html>"), OFF) as server:
        done = cli(server, "status")
    assert done.returncode == 0, done.stderr
    assert len(server.requests) == 3
    assert server.times[-1] - server.times[0] < 2


def test_5xx_after_every_retry_is_unreachable():
    with ScriptedServer(BUSY) as server:
        started = time.monotonic()
        done = cli(server, "off")
    assert done.returncode == 3
    assert len(server.requests) == 4  # the call and three retries
    assert "answered HTTP 503: The service is temporarily unavailable." in done.stderr
    assert time.monotonic() - started < 6


def test_429_waits_for_retry_after():
    limited = Scripted(429, {"error": "rate_limited", "message": "Too many attempts."}, {"Retry-After": "2"})
    with ScriptedServer(limited, OFF) as server:
        done = cli(server, "status")
    assert done.returncode == 0, done.stderr
    assert len(server.requests) == 2
    assert server.times[1] - server.times[0] >= 1.9


def test_a_503_waits_for_its_retry_after_too():
    down = Scripted(503, {"error": "unavailable", "message": "Database down."}, {"Retry-After": "1"})
    with ScriptedServer(down, OFF) as server:
        done = cli(server, "status")
    assert done.returncode == 0, done.stderr
    assert server.times[1] - server.times[0] >= 0.9


def test_a_timeout_is_unreachable_and_not_retried():
    with ScriptedServer(HANG) as server:
        started = time.monotonic()
        done = cli(server, "on", "--timeout", "1")
        elapsed = time.monotonic() - started
    assert done.returncode == 3
    assert "did not answer within 1 s" in done.stderr
    assert len(server.requests) == 1
    assert elapsed < 5


def test_redirects_are_not_followed_so_the_token_goes_nowhere_else():
    with ScriptedServer(OFF) as elsewhere:
        moved = Scripted(302, b"", {"Location": elsewhere.url + "/api/admin/maintenance"})
        with ScriptedServer(moved) as server:
            done = cli(server, "status")
    assert done.returncode == 1
    assert "redirects to" in done.stderr and "PAUSA_URL" in done.stderr
    assert elsewhere.requests == []


@pytest.mark.parametrize(
    "answer",
    [
        Scripted(200, b"<html>a shop</html>", {"Content-Type": "text/html"}),
        Scripted(200, {"ok": True}),
        Scripted(404, b"Not Found"),
    ],
    ids=["html-200", "other-json-200", "plain-404"],
)
def test_answers_that_are_not_pausas_say_so(answer):
    with ScriptedServer(answer) as server:
        done = cli(server, "off")
    assert done.returncode == 3
    assert "is PAUSA_URL Pausa's base URL?" in done.stderr


def test_plain_http_to_another_host_warns_once():
    with ScriptedServer(OFF) as server:
        done = cli(server, "status", PAUSA_URL=server.url.replace("127.0.0.1", "localhost"))
        assert done.returncode == 0 and "Warning" not in done.stderr
    done = cli(server, "status", "--timeout", "0.5", PAUSA_URL="http://192.0.2.1:9")  # TEST-NET: no answer
    assert done.returncode == 3
    assert done.stderr.startswith("Warning: PAUSA_URL is plain http:// to another host")


def test_a_token_with_a_line_break_inside_is_bad_input():
    with ScriptedServer(OFF) as server:
        done = cli(server, "status", PAUSA_TOKEN="pausa_one\npausa_two")
    assert done.returncode == 2
    assert "PAUSA_TOKEN holds spaces or line breaks" in done.stderr
    assert "pausa_one" not in done.stderr
    assert server.requests == []
