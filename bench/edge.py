"""The edge gate's cost: the sample shop through nginx and Caddy, with and without Pausa asked.

Pausa (gunicorn -c gunicorn.conf.py, 2 workers, SQLite, no window) and the shop (gunicorn, 2
workers) run once; in front of them, side by side:

  nginx, gate              examples/edge/nginx.conf.template (auth_request + the 1 s micro-cache)
  nginx, gate, no cache    the same with the micro-cache removed (what the cache buys)
  nginx, plain             bench/edge-plain-nginx.conf.template (no auth_request)
  Caddy, gate              examples/edge/Caddyfile (forward_auth on every request)
  Caddy, plain             bench/edge-plain.Caddyfile

Each round measures every configuration one after the other (the order flips every round, so
slow drift of the machine hits both sides of a ratio alike): first throughput with wrk
-c BENCH_CONNECTIONS, then latency with one connection (wrk -c1 --latency: no queueing, so the
difference is what the gate adds to one request). Each ratio and added latency is the median
of its per-round figures, printed with the range over the rounds:
  - nginx gate / nginx plain, requests/second       budget >= 0.8
  - nginx p99 added latency (gate - plain, -c1)       budget <= 2 ms
  - Caddy, the same two                               reported (informational)
  - nginx without the micro-cache, the same two       reported (informational)

Run alone: `.venv/bin/python -m bench.edge`.
"""

from __future__ import annotations

import contextlib
import re
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench import edge_stack
from bench.common import (
    CONNECTIONS,
    ROUNDS,
    SECONDS,
    Result,
    app_env,
    flask,
    foreign_cpu,
    get,
    gunicorn,
    run_alone,
    section,
    verdict,
    workdir,
)

PAGE = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
CHECK_HEADERS = {**PAGE, "X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/", "X-Forwarded-Host": "127.0.0.1",
                 "X-Forwarded-Proto": "http", "X-Forwarded-For": "127.0.0.1"}
WARMUP_SECONDS = 1.0
SHOP_WORKERS, SHOP_THREADS = 2, 4
CONFIGURATIONS = ["nginx, plain", "nginx, gate", "nginx, gate, no cache", "Caddy, plain", "Caddy, gate"]
GATE_RATIO = 0.8
ADDED_P99_MS = 2.0


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx_3xx: int
    socket_errors: int


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise RuntimeError(f"cannot read wrk latency {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def wrk_latency(url: str, seconds: float, connections: int, threads: int = 2,
                headers: dict[str, str] | None = None) -> Run:
    """Run wrk with --latency; return requests/second and the p50/p99 latencies."""
    threads = min(threads, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    for key, value in (headers or PAGE).items():
        command += ["-H", f"{key}: {value}"]
    done = subprocess.run([*command, url], capture_output=True, text=True, check=True)
    out = done.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE)
    if rps is None or p50 is None or p99 is None:
        raise RuntimeError(f"cannot read wrk output:\n{out}\n{done.stderr}")
    non_ok = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return Run(float(rps.group(1)), _milliseconds(p50.group(1)), _milliseconds(p99.group(1)),
               int(non_ok.group(1)) if non_ok else 0,
               sum(int(value) for value in errors.groups()) if errors else 0)


def _check(name: str, port: int) -> None:
    """Make sure a configuration serves the shop's home page before timing it."""
    status, headers, body = get(port, "/", PAGE)
    if status != 200 or "x-maintenance" in headers or b"Corner Shop" not in body:
        raise RuntimeError(f"{name} on :{port} does not serve the shop: {status} {body[:200]!r}")


def _measure(name: str, port: int, connections: int, figures: dict[str, list], warm: bool,
             processes: list) -> Run:
    url = f"http://127.0.0.1:{port}/"
    if warm:
        wrk_latency(url, WARMUP_SECONDS, connections)
    with foreign_cpu({process.process.pid for process in processes}) as foreign:
        run = wrk_latency(url, SECONDS, connections)
    for process in processes:
        process.check_alive()
    if run.non_2xx_3xx or run.socket_errors:
        raise RuntimeError(f"{name}: {run.non_2xx_3xx} bad statuses, {run.socket_errors} socket errors")
    figures.setdefault("foreign CPU", []).append(foreign["share"])
    figures.setdefault((name, connections), []).append(run)
    print(f"    {name:<22} -c{connections:<3} {run.rps:8.0f} req/s   p50 {run.p50_ms:6.2f} ms   "
          f"p99 {run.p99_ms:6.2f} ms   other processes {foreign['share']:4.0%} CPU", flush=True)
    return run


def run_rounds(directory: Path) -> dict[str, list]:
    env = app_env(
        f"sqlite:///{directory / 'pausa.db'}",
        MAINTENANCE_STATE_REFRESH="background",
        MAINTENANCE_STATE_FILE=str(directory / "gate-state.json"),
        MAINTENANCE_ALLOWLIST="/webhooks,/healthz",
        GATE_TRUSTED_PROXIES="127.0.0.1",
    )
    flask(env, "db", "upgrade")
    figures: dict[str, list] = {}
    with contextlib.ExitStack() as stack:
        pausa = stack.enter_context(gunicorn("edge-pausa", env, directory, workers=2))
        shop = stack.enter_context(edge_stack.shop(directory, workers=SHOP_WORKERS, threads=SHOP_THREADS))
        app, gate = shop.port, pausa.port
        proxies = {
            "nginx, plain": stack.enter_context(edge_stack.nginx(
                directory, app, gate, edge_stack.PLAIN_NGINX_TEMPLATE, name="nginx-plain")),
            "nginx, gate": stack.enter_context(edge_stack.nginx(directory, app, gate)),
            "nginx, gate, no cache": stack.enter_context(edge_stack.nginx(
                directory, app, gate, edit=edge_stack.without_micro_cache, name="nginx-no-cache")),
            "Caddy, plain": stack.enter_context(edge_stack.caddy(
                directory, app, gate, edge_stack.PLAIN_CADDYFILE, name="caddy-plain")),
            "Caddy, gate": stack.enter_context(edge_stack.caddy(directory, app, gate)),
        }
        processes = [pausa, shop, *proxies.values()]
        for name, proxy in proxies.items():
            _check(name, proxy.port)
        for round_number in range(ROUNDS):
            order = CONFIGURATIONS if round_number % 2 == 0 else CONFIGURATIONS[::-1]
            print(f"  round {round_number + 1}/{ROUNDS}:", flush=True)
            # Throughput first, then latency, so the runs a difference compares follow each other.
            for connections in (CONNECTIONS, 1):
                for name in order:
                    _measure(name, proxies[name].port, connections, figures, round_number == 0, processes)
        # Context for Caddy's figure: it asks Pausa about every request, so this is its ceiling.
        check = wrk_latency(f"{pausa.base}/gate/check", SECONDS, CONNECTIONS, headers=CHECK_HEADERS)
        if check.non_2xx_3xx or check.socket_errors:
            raise RuntimeError(f"/gate/check alone: {check.non_2xx_3xx} bad statuses, "
                               f"{check.socket_errors} socket errors")
        print(f"  Pausa's /gate/check alone (as Caddy asks it, no window): {check.rps:.0f} req/s, "
              f"p99 {check.p99_ms:.2f} ms at -c{CONNECTIONS}", flush=True)
    return figures


def _spread(rounds: list[float], digits: int = 3, unit: str = "") -> str:
    if len(rounds) < 2:
        return "1 round"
    return f"rounds {min(rounds):.{digits}f}..{max(rounds):.{digits}f}{unit}"


def compare(figures: dict[str, list], gate: str, plain: str) -> tuple[float, list[float], float, float,
                                                                        list[float]]:
    """Throughput ratio and the added p50/p99 latency with one connection, medians over the rounds."""
    loaded = list(zip(figures[(gate, CONNECTIONS)], figures[(plain, CONNECTIONS)], strict=True))
    single = list(zip(figures[(gate, 1)], figures[(plain, 1)], strict=True))
    ratios = [with_gate.rps / without.rps for with_gate, without in loaded]
    added_p50 = [with_gate.p50_ms - without.p50_ms for with_gate, without in single]
    added_p99 = [with_gate.p99_ms - without.p99_ms for with_gate, without in single]
    return statistics.median(ratios), ratios, statistics.median(added_p50), statistics.median(added_p99), \
        added_p99


def results_from(figures: dict[str, list]) -> list[Result]:
    busy = max(figures["foreign CPU"])
    note = (f"machine shared: other processes used up to {busy:.0%} of the CPUs during a wrk run"
            if busy > 0.05 else "")
    results = []
    print("  gate / plain (median of the rounds):")
    for label, gate, plain in (("nginx", "nginx, gate", "nginx, plain"),
                               ("nginx, no micro-cache", "nginx, gate, no cache", "nginx, plain"),
                               ("Caddy", "Caddy, gate", "Caddy, plain")):
        ratio, ratios, p50, p99, p99s = compare(figures, gate, plain)
        print(f"    {label:<22} throughput {ratio:.3f} ({_spread(ratios)}); added latency, one connection: "
              f"p50 {p50:+.2f} ms, p99 {p99:+.2f} ms ({_spread(p99s, 2, ' ms')})")
        informational = label != "nginx"
        suffix = " (info)" if informational else ""
        results.append(Result(
            f"edge gate through {label} >= {GATE_RATIO}x{suffix}",
            f"{ratio:.3f} ({_spread(ratios)})",
            "INFO" if informational else verdict(ratio >= GATE_RATIO), note,
        ))
        results.append(Result(
            f"p99 added latency through {label} <= {ADDED_P99_MS:g} ms{suffix}",
            f"{p99:+.2f} ms (p50 {p50:+.2f} ms; {_spread(p99s, 2, ' ms')})",
            "INFO" if informational else verdict(p99 <= ADDED_P99_MS),
            "wrk -c1 --latency: gate minus plain, same round",
        ))
    return results


def run() -> list[Result]:
    section(f"Edge gate (the sample shop through nginx and Caddy; wrk -c{CONNECTIONS} and -c1, "
            f"{SECONDS:g} s, {ROUNDS} interleaved rounds; Pausa and the shop under gunicorn, 2 workers each)")
    with workdir("edge") as directory:
        figures = run_rounds(directory)
    return results_from(figures)


if __name__ == "__main__":
    run_alone(run)
