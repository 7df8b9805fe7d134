"""The gate's throughput with wrk: ratios of requests/second measured in one run (docs/performance.md).

Two gunicorn instances (2 workers each, the Procfile's `gunicorn -c gunicorn.conf.py`)
run side by side on one throwaway database, one with MAINTENANCE_GATE=off. Each
round measures, one wrk run after the other (the order flips every round so slow
drift of the machine hits both sides of a ratio alike):

  no window:  home page with the gate off | home page with the gate on | /health/live
  window on:  the 503 page at /            | /health/live               | the status poll

and each ratio is the median of its per-round ratios (both sides measured minutes apart at
most), printed with the range over the rounds:
  - home, gate on / gate off                       budget >= 0.97
  - 503 page / the cheapest 200 page (/health/live) budget >= 1.0 (both measured during the window)
  - status poll / home page (gate on, no window)    budget >= 2.0

The status poll is what the maintenance page really sends: `GET /maintenance/status?active=1`
with `HX-Request: true`, answered with the status partial.

Run alone: `.venv/bin/python -m bench.gate`.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from pathlib import Path

from bench.common import (
    CONNECTIONS,
    ROUNDS,
    SECONDS,
    THROUGHPUT_DB,
    Result,
    Server,
    app_env,
    flask,
    foreign_cpu,
    get,
    gunicorn,
    postgres_database,
    run_alone,
    section,
    verdict,
    workdir,
    wrk,
)

PAGE = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
WARMUP_SECONDS = 1.0


def poll_headers(port: int) -> dict[str, str]:
    return {"HX-Request": "true", "HX-Current-URL": f"http://127.0.0.1:{port}/", "Accept": "*/*"}


def _check(port: int, path: str, headers: dict[str, str], status: int, **expect: str | None) -> None:
    """Make sure a URL answers what the figure claims to measure before timing it."""
    got, response_headers, body = get(port, path, headers)
    problems = [f"status {got} (want {status})"] if got != status else []
    for name, value in expect.items():
        header = name.replace("_", "-").lower()
        if response_headers.get(header) != value:
            problems.append(f"{header}: {response_headers.get(header)!r} (want {value!r})")
    if problems:
        raise RuntimeError(f"GET {path} on :{port}: " + ", ".join(problems) + f"\n{body[:300]!r}")


def _wait_for_state(port: int, active: bool, ttl: float) -> None:
    """Wait until both workers enforce the state: TTL plus margin, then a burst of checks."""
    time.sleep(ttl + 0.3)
    deadline = time.monotonic() + ttl + 5
    while True:
        statuses = {get(port, "/", PAGE)[0] for _ in range(12)}
        if statuses == {503 if active else 200}:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn on :{port} does not enforce active={active}: {statuses}")
        time.sleep(0.2)


def _measure(name: str, url: str, headers: dict[str, str], expect_blocked: bool,
             figures: dict[str, list[float]], warm: bool, servers: list[Server]) -> None:
    if warm:
        wrk(url, WARMUP_SECONDS, headers)
    with foreign_cpu({server.process.pid for server in servers}) as foreign:
        run = wrk(url, SECONDS, headers)
    for server in servers:
        server.check_alive()
    figures.setdefault("foreign CPU", []).append(foreign["share"])
    bad = run.requests - run.non_2xx_3xx if expect_blocked else run.non_2xx_3xx
    if bad:
        raise RuntimeError(f"{name}: {bad} of {run.requests} responses had an unexpected status")
    if run.socket_errors:
        print(f"    note: {name}: {run.socket_errors} wrk socket errors", flush=True)
    figures.setdefault(name, []).append(run.rps)
    print(f"    {name:<34} {run.rps:9.0f} req/s   latency avg {run.latency_avg:>8}   "
          f"other processes {foreign['share']:4.0%} CPU", flush=True)


def _ratio(figures: dict[str, list[float]], numerator: str, denominator: str) -> tuple[float, list[float]]:
    rounds = [a / b for a, b in zip(figures[numerator], figures[denominator], strict=True)]
    return statistics.median(rounds), rounds


def _spread(rounds: list[float]) -> str:
    return f"rounds {min(rounds):.3f}..{max(rounds):.3f}" if len(rounds) > 1 else "1 round"


def run_rounds(env: dict[str, str], workdir: Path) -> dict[str, list[float]]:
    ttl = float(env["MAINTENANCE_STATE_TTL"])
    figures: dict[str, list[float]] = {}
    with contextlib.ExitStack() as stack:
        off = stack.enter_context(gunicorn("gate-off", {**env, "MAINTENANCE_GATE": "off"}, workdir))
        on = stack.enter_context(gunicorn("gate-on", env, workdir))
        poll = poll_headers(on.port)
        idle = [
            ("home, gate off", off.base + "/", PAGE, False),
            ("home, gate on", on.base + "/", PAGE, False),
            ("/health/live, no window", on.base + "/health/live", {}, False),
        ]
        window = [
            ("503 page at /", on.base + "/", PAGE, True),
            ("/health/live, window on", on.base + "/health/live", {}, False),
            ("status poll (HX, ?active=1)", on.base + "/maintenance/status?active=1", poll, False),
        ]
        _check(off.port, "/", PAGE, 200)
        _check(on.port, "/", PAGE, 200)
        for round_number in range(ROUNDS):
            order = 1 if round_number % 2 == 0 else -1
            print(f"  round {round_number + 1}/{ROUNDS}, no window:", flush=True)
            for name, url, headers, blocked in idle[::order]:
                _measure(name, url, headers, blocked, figures, round_number == 0, [off, on])
            flask(env, "maintenance", "on", "--message", "Benchmarking the gate", "--eta", "2h")
            try:
                _wait_for_state(on.port, True, ttl)
                _check(on.port, "/", PAGE, 503, x_maintenance="active")
                _check(on.port, "/maintenance/status?active=1", poll, 200, hx_refresh=None)
                print(f"  round {round_number + 1}/{ROUNDS}, window on:", flush=True)
                for name, url, headers, blocked in window[::order]:
                    _measure(name, url, headers, blocked, figures, round_number == 0, [off, on])
            finally:
                flask(env, "maintenance", "off")
            _wait_for_state(on.port, False, ttl)
    return figures


def results_from(figures: dict[str, list[float]]) -> list[Result]:
    gate, gate_rounds = _ratio(figures, "home, gate on", "home, gate off")
    page, page_rounds = _ratio(figures, "503 page at /", "/health/live, window on")
    page_idle, _ = _ratio(figures, "503 page at /", "/health/live, no window")
    poll, poll_rounds = _ratio(figures, "status poll (HX, ?active=1)", "home, gate on")
    busy = max(figures["foreign CPU"])
    note = (f"machine shared: other processes used up to {busy:.0%} of the CPUs during a wrk run"
            if busy > 0.05 else "")
    print("  ratios (median of the rounds):")
    print(f"    home gate on / gate off          {gate:.3f}  ({_spread(gate_rounds)})")
    print(f"    503 page / health (window on)    {page:.3f}  ({_spread(page_rounds)})")
    print(f"    503 page / health (no window)    {page_idle:.3f}  (info: health without the gate's work)")
    page_poll, _ = _ratio(figures, "503 page at /", "status poll (HX, ?active=1)")
    print(f"    503 page / status poll           {page_poll:.3f}  (info: the poll is a 200 too)")
    print(f"    status poll / home (gate on)     {poll:.3f}  ({_spread(poll_rounds)})")
    return [
        Result("home, gate on / gate off >= 0.97", f"{gate:.3f} ({_spread(gate_rounds)})",
               verdict(gate >= 0.97), note),
        Result("503 page / cheapest 200 >= 1.0", f"{page:.3f} ({_spread(page_rounds)})",
               verdict(page >= 1.0), f"vs /health/live with no window: {page_idle:.3f}"),
        Result("status poll / home page >= 2.0", f"{poll:.3f} ({_spread(poll_rounds)})",
               verdict(poll >= 2.0)),
    ]


def run() -> list[Result]:
    section(f"Throughput (wrk -t2 -c{CONNECTIONS} -d{SECONDS:g}s, {ROUNDS} interleaved rounds; "
            f"gunicorn -c gunicorn.conf.py, 2 workers per instance; {THROUGHPUT_DB})")
    with contextlib.ExitStack() as stack:
        directory = stack.enter_context(workdir("gate"))
        if THROUGHPUT_DB == "postgres":
            url = stack.enter_context(postgres_database("gate"))
        else:
            url = f"sqlite:///{directory / 'bench.db'}"
        env = app_env(url)
        flask(env, "db", "upgrade")
        figures = run_rounds(env, directory)
    return results_from(figures)


if __name__ == "__main__":
    run_alone(run)
