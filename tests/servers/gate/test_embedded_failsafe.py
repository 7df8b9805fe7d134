"""The embedded gate holds when Pausa does not: the last state stays enforced, a restart reads it from disk.

Pausa is killed (SIGKILL, as a crash) during a window; every host app keeps
enforcing it, restarted host apps enforce it from their state file at once,
and when Pausa is back they follow it again. A host app that knows nothing at
all applies its fail mode. Fails, never skips; about a minute.
"""

from __future__ import annotations

import json
import time

import pytest

from bench.common import free_port, get
from tests.support.hosts.servers import (
    HOST_KINDS,
    PAGE,
    prepare_pausa,
    settled,
    start_host,
    start_pausa,
    status_of,
    wait_for,
)

MESSAGE = "Restoring the database"
# The follower's longest back-off (10 s) plus a margin: how long a host app may take to notice Pausa is back.
RECOVERY = 15.0


def test_the_host_apps_keep_enforcing_while_pausa_is_down_and_after_their_own_restart(tmp_path, capsys):
    env, admin, gate = prepare_pausa(tmp_path)
    pausa = start_pausa(env, tmp_path, admin, gate)
    hosts = {}
    try:
        for kind in HOST_KINDS:
            directory = tmp_path / kind
            directory.mkdir()
            hosts[kind] = start_host(kind, directory, pausa.url, gate, state_file=directory / "pausa-feed.json")
        staff = {}
        for kind, server in hosts.items():
            wait_for(lambda server=server: settled(server, 200), 10, f"{server.name} answers")
            staff[kind] = get(server.port, "/login?role=developer")[1]["set-cookie"].split(";", 1)[0]
        pausa.on(message=MESSAGE, allowed_roles=["developer"])
        for server in hosts.values():
            wait_for(lambda server=server: settled(server, 503), 5, f"{server.name} enforces the window")
        for kind in HOST_KINDS:  # the window is on each host app's disk too (written just after it is held)
            wait_for(lambda kind=kind: saved_messages(tmp_path / kind / "pausa-feed.json") == [MESSAGE], 2,
                     f"{kind}'s state file holds the window")

        pausa.server.kill()
        # For three seconds of Pausa being gone, nothing changes for the visitors of any host app.
        deadline = time.monotonic() + 3
        checks = 0
        while time.monotonic() < deadline:
            for kind, server in hosts.items():
                assert status_of(server, "/") == 503, kind
                assert status_of(server, "/webhooks/payment", method="POST", body=b"{}") == 200, kind
                assert status_of(server, "/", {"Cookie": staff[kind]}) == 200, kind
                checks += 1
        assert checks > 10
        for kind, server in hosts.items():
            # Pausa's own pages cannot be fetched now: a short 502, never a traceback or a hang.
            started = time.monotonic()
            status, headers, body = get(server.port, "/_pausa/status.json", PAGE)
            assert status == 502 and headers["content-type"].startswith("text/plain"), kind
            assert b"Pausa is not answering" in body and b"Traceback" not in body, kind
            assert time.monotonic() - started < 5, kind

        # Each host app restarted while Pausa is still down enforces the window from its state file.
        for kind in HOST_KINDS:
            old = hosts[kind]
            old.kill()
            hosts[kind] = start_host(kind, old.log_path.parent, pausa.url, gate,
                                     state_file=old.log_path.parent / "pausa-feed.json", port=old.port)
            status, headers, body = get(old.port, "/", PAGE)
            assert status == 503 and headers["x-maintenance"] == "active", kind
            assert MESSAGE.encode() in body, kind  # the window's own page, not the fail mode's
            assert settled(hosts[kind], 503), kind
            status, _, body = get(old.port, "/api/items", PAGE)
            assert status == 503 and json.loads(body)["message"] == MESSAGE, kind
            assert status_of(hosts[kind], "/webhooks/payment", method="POST", body=b"{}") == 200, kind

        # Pausa comes back (same port, same database): the host apps follow it again.
        pausa = start_pausa(env, tmp_path, admin, gate, port=pausa.server.port)
        pausa.off()
        for server in hosts.values():
            took = wait_for(lambda server=server: settled(server, 200), RECOVERY, f"{server.name} follows Pausa again")
            with capsys.disabled():
                print(f"\n{server.name} followed Pausa again {took:.1f} s after the window ended", end="")
    finally:
        for server in hosts.values():
            server.kill()
        pausa.server.kill()


def saved_messages(path) -> list[str]:
    return [window["message"] for window in json.loads(path.read_text())["state"]["windows"]]


@pytest.mark.parametrize("kind", HOST_KINDS)
def test_knowing_nothing_and_failing_closed_serves_the_generic_page(tmp_path, kind):
    nowhere = f"http://127.0.0.1:{free_port()}"  # no Pausa there, and no state file
    server = start_host(kind, tmp_path, nowhere, "pausa_unused", fail_mode="closed")
    try:
        status, headers, body = get(server.port, "/", PAGE)
        assert status == 503 and headers["x-maintenance"] == "active"
        assert headers["cache-control"] == "no-store" and int(headers["retry-after"]) >= 30
        assert b"temporarily unavailable" in body
        status, headers, body = get(server.port, "/api/items", PAGE)
        assert status == 503 and "temporarily unavailable" in json.loads(body)["message"]
        assert settled(server, 503)
    finally:
        server.kill()


@pytest.mark.parametrize("kind", HOST_KINDS)
def test_knowing_nothing_and_failing_open_lets_the_app_answer(tmp_path, kind):
    nowhere = f"http://127.0.0.1:{free_port()}"
    server = start_host(kind, tmp_path, nowhere, "pausa_unused", fail_mode="open")
    try:
        status, _, body = get(server.port, "/", PAGE)
        assert status == 200 and f"{kind.title()} host home".encode() in body
        assert settled(server, 200)
    finally:
        server.kill()
