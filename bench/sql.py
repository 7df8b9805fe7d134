"""SQL per request in steady state (docs/performance.md: zero), counted in-process.

The runner calls `run()`, which makes a throwaway PostgreSQL database, migrates
it with `flask db upgrade` and starts `python -m bench.sql` with the app's
environment (the production `Config` reads it at import). That child builds the
app with `create_app()`, listens on `db.engine` for every statement
(`before_cursor_execute`), every COMMIT and every pool checkout (each checkout
costs a `pool_pre_ping` round trip), and sends requests through
`app.test_client()`:

  no window:   GET / (home page)
  window on:   GET / (the 503 page), GET /api/v1/items (the JSON 503),
               GET /maintenance/status?active=1 with HX-Request (the poll), GET /maintenance/status.json

each at least BENCH_SQL_REQUESTS times and for at least BENCH_SQL_SECONDS after a
warm-up. The only SQL allowed is the TTL revalidation: one version read per
MAINTENANCE_STATE_TTL per worker, so statements/request is ~0 and the
statements/second is at most 1/TTL.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bench.common import (
    BIN,
    ROOT,
    SQL_REQUESTS,
    SQL_SECONDS,
    Result,
    app_env,
    flask,
    postgres_database,
    section,
    verdict,
    workdir,
)

PAGE = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
POLL = {"HX-Request": "true", "HX-Current-URL": "http://localhost/", "Accept": "*/*"}
VERSION_READ = re.compile(r"^SELECT maintenance_state\.version\s+FROM maintenance_state\s+WHERE", re.S)
WARMUP = 50

# (label, path, headers, status wanted, header that must be there, header that must not)
IDLE = [("home page, no window", "/", PAGE, 200, None, None)]
ACTIVE = [
    ("503 page at /, window on", "/", PAGE, 503, "X-Maintenance", None),
    ("JSON 503 /api/v1/items, window on", "/api/v1/items", {"Accept": "application/json"}, 503,
     "X-Maintenance", None),
    ("status poll (HX, ?active=1), window on", "/maintenance/status?active=1", POLL, 200, None, "HX-Refresh"),
    ("status.json, window on", "/maintenance/status.json", {}, 200, None, None),
]


def _shorten(statement: str) -> str:
    return " ".join(statement.split())[:90]


def child() -> None:
    """Runs inside `python -m bench.sql --child OUT`: the environment is already the app's."""
    from sqlalchemy import event

    from app import create_app
    from app.extensions import db

    out = Path(sys.argv[sys.argv.index("--child") + 1])
    ttl = float(os.environ["MAINTENANCE_STATE_TTL"])
    app = create_app()
    counts: Counter[str] = Counter()
    statements: Counter[str] = Counter()

    def on_statement(conn, cursor, statement, parameters, context, executemany):
        if VERSION_READ.match(statement):
            counts["version reads"] += 1
        else:
            counts["other statements"] += 1
            statements[_shorten(statement)] += 1

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", lambda conn: counts.update(["commits"]))
    event.listen(engine.pool, "checkout", lambda *args: counts.update(["pool checkouts (pre-ping)"]))

    client = app.test_client()
    rows = []

    def scenario(label, path, headers, status, must, must_not):
        for _ in range(WARMUP):
            client.get(path, headers=headers)
        counts.clear()
        statements.clear()
        requests = 0
        started = time.perf_counter()
        while requests < SQL_REQUESTS or time.perf_counter() - started < SQL_SECONDS:
            response = client.get(path, headers=headers)
            requests += 1
            problem = (
                response.status_code != status
                or (must and must not in response.headers)
                or (must_not and must_not in response.headers)
            )
            if problem:
                raise RuntimeError(f"{label}: GET {path} answered {response.status_code} "
                                   f"{dict(response.headers)}")
        elapsed = time.perf_counter() - started
        rows.append({
            "label": label, "requests": requests, "seconds": elapsed, "ttl": ttl,
            "version_reads": counts["version reads"], "other": counts["other statements"],
            "commits": counts["commits"], "checkouts": counts["pool checkouts (pre-ping)"],
            "statements": dict(statements.most_common(5)),
        })

    for spec in IDLE:
        scenario(*spec)
    runner = app.test_cli_runner()
    done = runner.invoke(args=["maintenance", "on", "--message", "Counting SQL", "--eta", "2h"])
    if done.exit_code != 0:
        raise RuntimeError(f"flask maintenance on failed: {done.output}")
    try:
        for spec in ACTIVE:
            scenario(*spec)
    finally:
        runner.invoke(args=["maintenance", "off"])
    out.write_text(json.dumps(rows))


def report(rows: list[dict]) -> list[Result]:
    print(f"  {'request':<40} {'requests':>8} {'secs':>5} {'stmts/req':>10} {'version reads':>13} "
          f"{'per s':>6} {'other':>5} {'commits':>7} {'checkouts':>9}")
    verdicts = []
    for row in rows:
        statements = row["version_reads"] + row["other"]
        row["per_request"] = statements / row["requests"]
        row["per_second"] = row["version_reads"] / row["seconds"]
        allowed = math.floor(row["seconds"] / row["ttl"]) + 1 if row["ttl"] > 0 else row["requests"]
        verdicts.append(row["other"] == 0 and row["version_reads"] <= allowed)
        print(f"  {row['label']:<40} {row['requests']:>8} {row['seconds']:>5.1f} {row['per_request']:>10.5f} "
              f"{row['version_reads']:>13} {row['per_second']:>6.2f} {row['other']:>5} {row['commits']:>7} "
              f"{row['checkouts']:>9}")
        for statement, count in row["statements"].items():
            print(f"      {count:>6} x {statement}")
    print(f"  (budget: no statement but the version read, at most one per TTL = {rows[0]['ttl']:g} s; "
          "commits and checkouts are that read's extra round trips)")
    home, active = rows[0], rows[1:]
    worst = max(active, key=lambda row: (row["other"], row["per_request"]))
    return [
        Result("SQL/request = 0: home, no window",
               f"{home['per_request']:.4f} stmt/req ({home['per_second']:.2f} version reads/s)",
               verdict(verdicts[0])),
        Result("SQL/request = 0: 503, JSON 503, poll, .json",
               f"worst {worst['per_request']:.4f} stmt/req ({worst['per_second']:.2f} version reads/s)",
               verdict(all(verdicts[1:])), f"worst row: {worst['label']}"),
    ]


def run() -> list[Result]:
    section(f"SQL per request, in-process (test client, PostgreSQL, >= {SQL_REQUESTS} requests "
            f"and >= {SQL_SECONDS:g} s per row)")
    with postgres_database("sql") as url, workdir("sql") as tmp:
        env = app_env(url)
        flask(env, "db", "upgrade")
        out = Path(tmp) / "rows.json"
        done = subprocess.run([str(BIN / "python"), "-m", "bench.sql", "--child", str(out)],
                              cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"bench.sql child exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return report(json.loads(out.read_text()))


if __name__ == "__main__":
    if "--child" in sys.argv:
        child()
    else:
        for result in run():
            print(f"{result.verdict:<5} {result.budget}: {result.measured} {result.note}")
