"""Backups of a large audit trail (docs/backup.md): create, verify and restore, timed as operators run them.

The runner calls `run()`, which fills a migrated database with BENCH_BACKUP_ROWS audit entries
(a valid hash chain, written in batches) and times `flask backup create`, `flask backup verify`
and `flask backup restore` (whole commands, Python start included) for SQLite → SQLite,
PostgreSQL → PostgreSQL and SQLite → PostgreSQL; `flask audit verify` must pass after each
restore. Budget: each restore of 100,000 entries within BACKUP_RESTORE_BUDGET seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bench.common import (
    ROOT,
    Result,
    app_env,
    flask,
    postgres_database,
    run_alone,
    section,
    verdict,
    workdir,
)

ROWS = int(os.environ.get("BENCH_BACKUP_ROWS", "100000"))
RESTORE_BUDGET = 30.0  # seconds for one restore: "seconds, not minutes"
BATCH = 5000


def fill(database_url: str) -> None:
    """Append ROWS chained audit entries, as `audit.record` would write them, in a child process."""
    code = f"""
import json, sys
from datetime import datetime, timedelta, UTC
from app import create_app
from app.extensions import db
from app.maintenance import audit_chain
from app.models import AuditEntry
app = create_app({{"SQLALCHEMY_DATABASE_URI": {database_url!r}}})
with app.app_context():
    prev, start, rows = audit_chain.GENESIS, datetime(2026, 1, 1, tzinfo=UTC), []
    for number in range(1, {ROWS} + 1):
        details = json.loads(json.dumps({{"window": number, "eta": None, "scopes": ["admin"]}}))
        entry = {{"id": number, "created_at": start + timedelta(seconds=number, microseconds=number % 997),
                 "actor": "cli:bench", "ip": "203.0.113.7", "user_agent": "bench/1.0",
                 "action": "maintenance.updated", "target": f"window:{{number}}", "details": details,
                 "prev_hash": prev}}
        fields = dict(entry, created_at=entry["created_at"].isoformat())
        entry["hash"] = prev = audit_chain.entry_hash(prev, fields)
        rows.append(entry)
        if len(rows) == {BATCH}:
            db.session.execute(AuditEntry.__table__.insert(), rows)
            rows = []
    if rows:
        db.session.execute(AuditEntry.__table__.insert(), rows)
    if db.engine.dialect.name == "postgresql":
        db.session.execute(db.text("SELECT setval(pg_get_serial_sequence('audit_entries', 'id'), {ROWS})"))
    db.session.commit()
"""
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=app_env(database_url), check=True)


def timed(env: dict[str, str], *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    output = flask(env, *args)
    return time.perf_counter() - started, output


def round_trip(label: str, source_url: str, target_url: str, tmp: Path) -> dict[str, float]:
    source, target = app_env(source_url), app_env(target_url)
    archive = tmp / f"{label.replace(' ', '-')}.tar.gz"
    create, _ = timed(source, "backup", "create", "--output", str(archive))
    check, _ = timed(source, "backup", "verify", str(archive))
    restore, output = timed(target, "backup", "restore", str(archive))
    if f"audit_entries: {ROWS} rows" not in output:
        raise RuntimeError(f"{label}: the restore did not report {ROWS} audit entries:\n{output}")
    verified = flask(target, "audit", "verify")
    if f"({ROWS + 1} entries)" not in verified:
        raise RuntimeError(f"{label}: audit verify after the restore: {verified}")
    size = archive.stat().st_size / 1e6
    print(f"  {label}: create {create:.1f} s, verify {check:.1f} s, restore {restore:.1f} s "
          f"({size:.1f} MB archive)", flush=True)
    return {"create": create, "verify": check, "restore": restore}


def run() -> list[Result]:
    section(f"Backups: create, verify, restore of {ROWS:,} audit entries (whole `flask backup` commands)")
    figures: dict[str, dict[str, float]] = {}
    with workdir("backup") as tmp:
        laptop, copy = f"sqlite:///{tmp / 'laptop.db'}", f"sqlite:///{tmp / 'copy.db'}"
        for url in (laptop, copy):
            flask(app_env(url), "db", "upgrade")
        fill(laptop)
        figures["SQLite → SQLite"] = round_trip("SQLite → SQLite", laptop, copy, tmp)
        with postgres_database("backup_src") as source, postgres_database("backup_dst") as target, \
                postgres_database("backup_laptop") as from_laptop:
            for url in (source, target, from_laptop):
                flask(app_env(url), "db", "upgrade")
            fill(source)
            figures["PostgreSQL → PostgreSQL"] = round_trip("PostgreSQL → PostgreSQL", source, target, tmp)
            figures["SQLite → PostgreSQL"] = round_trip("SQLite → PostgreSQL", laptop, from_laptop, tmp)
    worst = max(figures.items(), key=lambda item: item[1]["restore"])
    measured = ", ".join(f"{label} {times['restore']:.1f} s" for label, times in figures.items())
    notes = "; ".join(f"{label}: create {times['create']:.1f} s, verify {times['verify']:.1f} s"
                      for label, times in figures.items())
    return [Result(f"backup restore of {ROWS:,} audit rows < {RESTORE_BUDGET:g} s", measured,
                   verdict(worst[1]["restore"] < RESTORE_BUDGET), notes)]


if __name__ == "__main__":
    run_alone(run)
