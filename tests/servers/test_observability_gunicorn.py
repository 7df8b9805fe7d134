"""Per-worker process figures and summed latency under a real gunicorn with two workers.

prometheus_client's ProcessCollector sees only the worker answering a scrape; Pausa's
live gauges show every living worker (one series per pid), never the master, and
forget a worker once it died (gunicorn's child_exit).
"""

from __future__ import annotations

import os
import signal
import time

from bench.common import app_env, flask, get, gunicorn
from tests.app.test_health_metrics import samples


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    status, _, body = get(port, "/metrics")
    assert status == 200
    return samples(body.decode())


def pids_of(metrics: dict, name: str) -> set[str]:
    return {dict(labels)["pid"] for (sample, labels) in metrics if sample == name}


def wait_for(condition, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_two_workers_each_report_their_memory_cpu_and_files_and_a_dead_one_is_forgotten(tmp_path):
    env = app_env(f"sqlite:///{tmp_path / 'pausa.db'}", MAINTENANCE_STATE_FILE=str(tmp_path / "gate-state.json"))
    flask(env, "db", "upgrade")
    with gunicorn("observability", env, tmp_path, workers=2) as server:
        for _ in range(30):
            assert get(server.port, "/health/live")[0] == 200
        # Each worker samples itself after its state refreshes (every second): both appear.
        metrics = wait_for(lambda: (m := scrape(server.port)) and len(pids_of(
            m, "pausa_process_resident_memory_bytes")) == 2 and m)
        assert metrics, "two workers never both reported"
        workers = pids_of(metrics, "pausa_process_resident_memory_bytes")
        assert str(server.process.pid) not in workers  # the master serves nothing
        for name in ("pausa_process_cpu_seconds", "pausa_process_open_fds"):
            assert pids_of(metrics, name) == workers
        for pid in workers:
            assert metrics[("pausa_process_resident_memory_bytes", (("pid", pid),))] > 10_000_000
            assert metrics[("pausa_process_open_fds", (("pid", pid),))] > 3
        # Latency and cache hits are summed over both workers.
        health = metrics[("pausa_http_request_duration_seconds_count", (("group", "health"),))]
        assert health >= 30
        assert metrics[("pausa_state_cache_hits_total", ())] >= 1

        gone = workers.pop()
        os.kill(int(gone), signal.SIGKILL)
        replaced = wait_for(lambda: (pids := pids_of(scrape(server.port), "pausa_process_resident_memory_bytes"))
                            and gone not in pids and len(pids) == 2 and pids)
        assert replaced, "the dead worker's figures stayed, or its replacement never reported"
        assert workers <= replaced  # the survivor is still there
        after = scrape(server.port)
        # Counters outlive their worker: nothing counted is lost when one dies.
        assert after[("pausa_http_request_duration_seconds_count", (("group", "health"),))] >= health
