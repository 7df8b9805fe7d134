"""Run every Pausa benchmark and print the budgets of docs/performance.md with PASS/MISS: `make bench`.

    make bench                                     # everything (about 6 minutes)
    BENCH_SECONDS=2 BENCH_ROUNDS=1 BENCH_TOGGLES=10 BENCH_SQL_SECONDS=1 BENCH_COLD_REPEATS=1 make bench
    BENCH_ONLY=sql,propagation .venv/bin/python -m bench
    .venv/bin/python -m bench.webhooks   # one part alone (also .gate, .sql, .propagation, .notify, .edge)

Settings (environment):
    BENCH_SECONDS=5        each wrk run            BENCH_CONNECTIONS=16   wrk connections
    BENCH_ROUNDS=3         interleaved wrk rounds  BENCH_DB=sqlite        or postgres, for the wrk part
    BENCH_TOGGLES=50       toggles per propagation mode (half on, half off)
    BENCH_COLD_REPEATS=3   Redis runs with instances started during a window
    BENCH_SQL_REQUESTS=1000, BENCH_SQL_SECONDS=3   per in-process SQL row
    BENCH_PROBE_PATH=/api/v1/ping, BENCH_PROBE_THREADS=4 (per instance)
    BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432   BENCH_REDIS_URL=redis://127.0.0.1:6379/14
    MAINTENANCE_STATE_TTL=1.0 (passed to the app)
    BENCH_NOTIFY_SUBSCRIBERS=10000, BENCH_NOTIFY_LATENCY=0 (seconds added to each fake SendGrid call)
    BENCH_WEBHOOK_RATE=200, BENCH_WEBHOOK_SECONDS=10, BENCH_WEBHOOK_WORKERS=2, BENCH_WEBHOOK_SENDERS=32
    BENCH_ONLY=sql,gate,propagation,notify,webhooks,outage,edge,embedded,backup
    BENCH_STRICT=1 (exit 1 on any MISS)
    BENCH_OUTAGE_SECONDS=60  each database fault (cut, then hang) with every worker restarted halfway
    BENCH_BACKUP_ROWS=100000  audit entries backed up and restored (bench/backup.py)
    BENCH_RETRIES=1        run a part that crashed (e.g. a gunicorn killed by a neighbour) again

Exit status: 0 when every benchmark ran (MISS is a finding, not a crash), 1 when
one could not run (ERROR), or on a MISS with BENCH_STRICT=1. Every gunicorn
started is stopped and every throwaway database dropped, on errors and Ctrl-C too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import traceback

from bench import backup, edge, embedded, gate, notify, outage, propagation, sql, webhooks
from bench.common import (
    CONNECTIONS,
    ROOT,
    ROUNDS,
    SECONDS,
    TOGGLES,
    Result,
    sweep_leftovers,
    terminate_on_sigterm,
)

RETRIES = int(os.environ.get("BENCH_RETRIES", "1"))  # a part that crashed (machine shared) runs again
PARTS = {"sql": sql.run, "gate": gate.run, "propagation": propagation.run, "notify": notify.run,
         "webhooks": webhooks.run, "outage": outage.run, "edge": edge.run, "embedded": embedded.run,
         "backup": backup.run}
NOT_MEASURED: list[Result] = []  # every budget of docs/performance.md has a benchmark now


def describe_tree() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return f"{head}" + (f" + {len(dirty)} uncommitted paths (the working tree is measured)" if dirty else "")


def table(results: list[Result]) -> None:
    width = max(len(result.budget) for result in results)
    measured_width = max(len(result.measured) for result in results)
    print(f"\n{'budget':<{width}}  {'measured':<{measured_width}}  verdict")
    print(f"{'-' * width}  {'-' * measured_width}  -------")
    for result in results:
        print(f"{result.budget:<{width}}  {result.measured:<{measured_width}}  {result.verdict}")
        if result.note:
            print(f"{'':<{width}}    {result.note}")


def main() -> int:
    terminate_on_sigterm()
    only = [part.strip() for part in os.environ.get("BENCH_ONLY", ",".join(PARTS)).split(",") if part.strip()]
    unknown = [part for part in only if part not in PARTS]
    if unknown:
        sys.exit(f"BENCH_ONLY: unknown part(s) {unknown}; choose from {list(PARTS)}")
    if {"gate", "edge", "embedded"} & set(only) and shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    print(f"Pausa benchmarks — {describe_tree()}")
    print(f"{os.cpu_count()} CPUs; wrk -c{CONNECTIONS} {SECONDS:g} s x {ROUNDS} rounds; "
          f"{TOGGLES} toggles/mode; MAINTENANCE_STATE_TTL={os.environ.get('MAINTENANCE_STATE_TTL', '1.0')}; "
          f"parts: {', '.join(only)}")
    stale = sweep_leftovers()
    if stale:
        print(f"removed what dead bench runs left behind: {', '.join(stale)}")
    started = time.monotonic()
    results: list[Result] = []
    for name in only:
        crashes: list[str] = []
        for attempt in range(1 + RETRIES):
            try:
                part = PARTS[name]()
            except Exception as error:  # one broken part must not hide the others' figures
                traceback.print_exc()
                crashes.append((str(error).strip().splitlines() or [type(error).__name__])[0][:150])
                if attempt < RETRIES:
                    print(f"\n{name} failed ({crashes[-1]}); running it again", flush=True)
                    continue
                results.append(Result(f"{name} benchmark", "-", "ERROR", crashes[-1]))
                break
            for result in part:
                if crashes:
                    retried = f"attempt {attempt + 1}; the first crashed: {crashes[0]}"
                    result.note = f"{result.note}; {retried}" if result.note else retried
            results += part
            break
    if set(only) == set(PARTS):
        results += NOT_MEASURED
    table(results)
    verdicts = [result.verdict for result in results]
    print(f"\n{verdicts.count('PASS')} PASS, {verdicts.count('MISS')} MISS, {verdicts.count('ERROR')} ERROR, "
          f"{verdicts.count('NOT RUN')} NOT RUN in {time.monotonic() - started:.0f} s "
          "(ratios are taken within one run; absolute req/s on this machine are only context)")
    if "ERROR" in verdicts:
        return 1
    if os.environ.get("BENCH_STRICT") == "1" and "MISS" in verdicts:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
