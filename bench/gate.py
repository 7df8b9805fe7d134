"""Measure the gate's cost with wrk: ratios of requests/second measured in one run.

Starts gunicorn (2 workers) on a throwaway SQLite database, once with the gate
on and once with MAINTENANCE_GATE=off, and compares:
  - home page, gate on vs gate off (budget >= 0.97)
  - the 503 maintenance page vs the cheapest 200 page (budget >= 1.0)
  - /maintenance/status polls vs the home page (budget >= 2.0)
and counts SQL statements per request in steady state (budget 0).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DURATION = os.environ.get("BENCH_SECONDS", "5")
CONNECTIONS = os.environ.get("BENCH_CONNECTIONS", "16")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def flask(env: dict, *args: str) -> None:
    subprocess.run([str(BIN / "flask"), *args], cwd=ROOT, env=env, check=True, capture_output=True)


@contextmanager
def server(env: dict):
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "wsgi:app", "--workers", "2", "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning"],
        cwd=ROOT, env=env,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/health/live", timeout=1)  # noqa: S310 - local URL
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def wrk(url: str) -> float:
    output = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{DURATION}s", url], capture_output=True, text=True, check=True
    ).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    workdir = Path(tempfile.mkdtemp(prefix="pausa-bench-"))
    env = {
        **os.environ,
        "FLASK_APP": "wsgi.py",
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
        "SECRET_KEY": "bench",
        "LOG_LEVEL": "WARNING",
    }
    flask(env, "db", "upgrade")
    results: dict[str, float] = {}
    with server({**env, "MAINTENANCE_GATE": "off"}) as base:
        results["home, gate off"] = wrk(base + "/")
    with server(env) as base:
        results["home, gate on"] = wrk(base + "/")
        results["health (cheapest 200)"] = wrk(base + "/health/live")
        flask(env, "maintenance", "on", "--message", "Benchmarking", "--eta", "2h")
        time.sleep(1.5)  # let every worker's TTL expire
        results["503 maintenance page"] = wrk(base + "/")
        results["status poll"] = wrk(base + "/maintenance/status")
        flask(env, "maintenance", "off")
    print(f"wrk -t2 -c{CONNECTIONS} -d{DURATION}s, gunicorn 2 workers, SQLite")
    for name, value in results.items():
        print(f"  {name:<28} {value:10.0f} req/s")
    print("ratios (budget):")
    ratios = (
        ("gate on / gate off", "home, gate on", "home, gate off", ">= 0.97"),
        ("503 page / cheapest 200", "503 maintenance page", "health (cheapest 200)", ">= 1.0"),
        ("503 page / home page", "503 maintenance page", "home, gate on", "-"),
        ("status poll / home page", "status poll", "home, gate on", ">= 2.0"),
    )
    for label, numerator, denominator, budget in ratios:
        print(f"  {label:<28} {results[numerator] / results[denominator]:.3f}  ({budget})")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
