"""The embedded gate (pausa-gate's PausaGate inside a host app): its cost and its propagation (issue 12).

Pausa runs as the Procfile runs it (gunicorn, 2 workers) on SQLite with the
background refresher and no Redis. Two copies of the Flask host app of the tests
(tests/support/hosts/flask_host.py) run under gunicorn, 2 workers each: one wrapped
in PausaGate and following Pausa's feed, one without it (HOST_GATE=off).

Throughput: each round runs wrk on the home page of both, one after the other
(the order flips every round, so slow drift of the machine hits both sides alike);
the figure is the median of the per-round ratios, budget >= 0.97 (no window: the
request path reads the state the follower holds, nothing more).

The same ratio is also taken in-process (a Flask app called directly, with and
without the gate, no server and no wrk): it does not move with the machine's
other load, so it is printed beside the wrk figure.

Propagation: BENCH_TOGGLES switches through Pausa's JSON API, alternately on and
off; each is timed from the API call's return until every worker of the gated
host app answers the new state (fresh-connection probes; the host app names the
worker that answered, and the figure is when the last worker was first seen with
the new state). p50 and p99, budget p99 <= 1.5 s without Redis.

Run alone: `.venv/bin/python -m bench.embedded`.
"""

from __future__ import annotations

import contextlib
import gc
import statistics
import time

from bench.common import (
    CONNECTIONS,
    ROUNDS,
    SECONDS,
    TOGGLES,
    Result,
    foreign_cpu,
    percentile,
    run_alone,
    section,
    verdict,
    workdir,
    wrk,
)
from tests.support.hosts.servers import (
    PAGE,
    Running,
    pausa_running,
    propagation,
    settled,
    start_host,
    wait_for,
)

WARMUP_SECONDS = 1.0
# wrk connections: with 16, the host app's two gunicorn workers often split them unevenly (most on one
# worker), so one run's requests/second is one worker's or two's whatever the gate does; 4x as many
# spread evenly enough for a ratio within a few percent.
WRK_CONNECTIONS = 4 * CONNECTIONS
PROPAGATION_BUDGET = 1.5


def _measure(name: str, server: Running, figures: dict[str, list[float]], warm: bool,
             servers: list[Running]) -> None:
    url = server.base + "/"
    if warm:
        wrk(url, WARMUP_SECONDS, PAGE, connections=WRK_CONNECTIONS)
    with foreign_cpu({running.process.pid for running in servers}) as foreign:
        run = wrk(url, SECONDS, PAGE, connections=WRK_CONNECTIONS)
    for running in servers:
        running.check_alive()
    if run.non_2xx_3xx:
        raise RuntimeError(f"{name}: {run.non_2xx_3xx} of {run.requests} answers were not 200")
    figures.setdefault(name, []).append(run.rps)
    figures.setdefault("foreign CPU", []).append(foreign["share"])
    print(f"    {name:<28} {run.rps:9.0f} req/s   latency avg {run.latency_avg:>8}   "
          f"other processes {foreign['share']:4.0%} CPU", flush=True)


def throughput(gated: Running, plain: Running, servers: list[Running]) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {}
    sides = [("home, with PausaGate", gated), ("home, without", plain)]
    for round_number in range(ROUNDS):
        print(f"  round {round_number + 1}/{ROUNDS}:", flush=True)
        for name, server in sides[:: 1 if round_number % 2 == 0 else -1]:
            _measure(name, server, figures, round_number == 0, servers)
    return figures


def in_process(rounds: int = 31, calls: int = 3000) -> tuple[float, float]:
    """Return the ratio and the microseconds the gate adds to a Flask request, in-process.

    Many short runs, alternating; each side's fastest run counts (as timeit does): the
    machine's other work only ever slows a run down, so the minimum is the cost itself.
    """
    from flask import Flask
    from pausa_gate import PausaGate
    from pausa_gate import document as state_document
    from pausa_gate.feed import Feed, build
    from pausa_gate.state import GateState
    from werkzeug.test import EnvironBuilder

    app = Flask("bench_embedded")
    app.add_url_rule("/", "home", lambda: "home")
    # Nothing answers on the discard port: the follower holds the feed given here, as with no window.
    gate = PausaGate(app.wsgi_app, url="http://127.0.0.1:9", token="unused", boot_wait=0)
    gate.follower.adopt(Feed.from_json(build(
        state_document.to_document(GateState(version=1)), allowlist=("/_pausa",), prefix="/_pausa",
        status_url="/_pausa/status.json", poll_range=(5, 30), fail_mode="closed", pages={})))
    environ = EnvironBuilder(path="/", headers=PAGE).get_environ()

    def per_call(target) -> float:
        def start_response(status, headers):
            pass

        collecting = gc.isenabled()
        gc.disable()  # as timeit does: a collection landing in one side's run is not that side's cost
        try:
            started = time.perf_counter()
            for _ in range(calls):
                for _chunk in target(dict(environ), start_response):
                    pass
            return (time.perf_counter() - started) / calls
        finally:
            if collecting:
                gc.enable()

    without, with_gate = [], []
    try:
        per_call(gate)  # warm both paths once
        per_call(app.wsgi_app)
        for round_number in range(rounds):
            if round_number % 2 == 0:  # the order flips, as in the wrk rounds
                without.append(per_call(app.wsgi_app))
                with_gate.append(per_call(gate))
            else:
                with_gate.append(per_call(gate))
                without.append(per_call(app.wsgi_app))
    finally:
        gate.follower.stop()
    return min(without) / min(with_gate), (min(with_gate) - min(without)) * 1e6


def toggles(pausa, gated: Running) -> dict[str, list[float]]:
    """Switch maintenance TOGGLES times; return the seconds each took to reach every worker, per direction."""
    figures: dict[str, list[float]] = {"on": [], "off": []}
    for number in range(max(2, TOGGLES)):
        direction = "on" if number % 2 == 0 else "off"
        if direction == "on":
            pausa.on(message=f"Bench toggle {number}")
        else:
            pausa.off()
        figures[direction].append(propagation(gated, 503 if direction == "on" else 200, time.monotonic()))
    if len(figures["on"]) > len(figures["off"]):
        pausa.off()
        wait_for(lambda: settled(gated, 200), 5, "the host app lets requests through again")
    return figures


def results_from(figures: dict[str, list[float]], switches: dict[str, list[float]],
                 direct: tuple[float, float]) -> list[Result]:
    rounds = [a / b for a, b in zip(figures["home, with PausaGate"], figures["home, without"], strict=True)]
    ratio = statistics.median(rounds)
    spread = f"rounds {min(rounds):.3f}..{max(rounds):.3f}" if len(rounds) > 1 else "1 round"
    busy = max(figures["foreign CPU"])
    note = (f"machine shared: other processes used up to {busy:.0%} of the CPUs during a wrk run"
            if busy > 0.05 else "")
    every = switches["on"] + switches["off"]
    p50, p99 = percentile(every, 0.5), percentile(every, 0.99)
    detail = ", ".join(f"{direction} p50 {percentile(values, 0.5) * 1000:.0f} ms p99 "
                       f"{percentile(values, 0.99) * 1000:.0f} ms" for direction, values in switches.items())
    print("  embedded gate:")
    print(f"    home with / without PausaGate    {ratio:.3f}  ({spread})")
    print(f"    the same, in-process             {direct[0]:.3f}  ({direct[1]:+.2f} µs per request)")
    print(f"    propagation without Redis        p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms "
          f"({len(every)} switches; {detail})")
    in_process_note = f"in-process {direct[0]:.3f} ({direct[1]:+.2f} µs per request)"
    return [
        Result("embedded: host app with / without PausaGate >= 0.97x", f"{ratio:.3f} ({spread})",
               verdict(ratio >= 0.97), "; ".join(filter(None, [in_process_note, note]))),
        Result(f"embedded: propagation without Redis p99 <= {PROPAGATION_BUDGET} s",
               f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms", verdict(p99 <= PROPAGATION_BUDGET),
               f"{len(every)} switches, toggle -> every worker of the host app; {detail}"),
    ]


def run() -> list[Result]:
    section(f"Embedded gate: Flask host app under gunicorn (2 workers) with and without PausaGate "
            f"(wrk -t2 -c{WRK_CONNECTIONS} -d{SECONDS:g}s, {ROUNDS} interleaved rounds); "
            f"{max(2, TOGGLES)} switches without Redis")
    with contextlib.ExitStack() as stack:
        directory = stack.enter_context(workdir("embedded"))
        (directory / "pausa").mkdir()
        pausa = stack.enter_context(pausa_running(directory / "pausa"))
        servers = []
        for name, gate in (("gated", True), ("plain", False)):
            where = directory / name
            where.mkdir()
            server = start_host("flask", where, pausa.url, pausa.gate_token,
                                state_file=where / "pausa-feed.json", gate=gate)
            stack.callback(server.kill)
            servers.append(server)
        gated, plain = servers
        for server in servers:
            wait_for(lambda server=server: settled(server, 200), 10, f"{server.name} answers its home page")
        figures = throughput(gated, plain, [pausa.server, *servers])
        print("  switching maintenance through the API:", flush=True)
        switches = toggles(pausa, gated)
    return results_from(figures, switches, in_process())


if __name__ == "__main__":
    run_alone(run)
