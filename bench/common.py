"""What every benchmark shares: settings, throwaway databases, gunicorn instances, wrk, results.

Settings come from the environment so a quick run is one line:
    BENCH_SECONDS=2 BENCH_TOGGLES=10 make bench
"""

from __future__ import annotations

import contextlib
import http.client
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _number(name: str, default: str, kind: type = float):
    raw = os.environ.get(name, default)
    try:
        return kind(raw)
    except ValueError:
        sys.exit(f"{name}={raw!r} is not a number")


SECONDS = _number("BENCH_SECONDS", "5")  # each wrk run
CONNECTIONS = _number("BENCH_CONNECTIONS", "16", int)  # wrk connections
ROUNDS = _number("BENCH_ROUNDS", "3", int)  # interleaved wrk rounds per figure
TOGGLES = _number("BENCH_TOGGLES", "50", int)  # maintenance toggles per propagation mode (on+off)
SQL_REQUESTS = _number("BENCH_SQL_REQUESTS", "1000", int)  # in-process requests per SQL scenario
SQL_SECONDS = _number("BENCH_SQL_SECONDS", "3")  # ...and keep going at least this long
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432").rstrip("/")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
THROUGHPUT_DB = os.environ.get("BENCH_DB", "sqlite").lower()  # sqlite | postgres, for the wrk ratios
DB_PREFIX = "pausa_bench_"
WORKDIR_PREFIX = "pausa-bench-"


@dataclass
class Result:
    """One budget line of the final table."""

    budget: str
    measured: str
    verdict: str  # PASS, MISS, ERROR, NOT RUN
    note: str = ""

    def as_dict(self) -> dict:
        return {"budget": self.budget, "measured": self.measured, "verdict": self.verdict, "note": self.note}


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)


def app_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of one Pausa process: every setting the bench depends on set explicitly.

    Empty values beat a developer's `.env` (python-dotenv never overrides a set variable).
    """
    env = dict(os.environ)
    env.update(
        FLASK_APP="wsgi.py",
        PAUSA_ENV="development",
        DATABASE_URL=database_url,
        SECRET_KEY="bench-secret-key",
        LOG_LEVEL="WARNING",
        REDIS_URL="",
        RATELIMIT_STORAGE_URI="",
        MAINTENANCE_GATE="on",
        MAINTENANCE_STATE_TTL=os.environ.get("MAINTENANCE_STATE_TTL", "1.0"),
        MAINTENANCE_ALLOWLIST="",
        TRUSTED_PROXY_COUNT="0",
        PAUSA_WORKER_HEADER="0",
        PROMETHEUS_MULTIPROC_DIR="",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def flask(env: Mapping[str, str], *args: str) -> str:
    """Run a `flask` CLI command of the app; return its stdout, fail loudly with its stderr."""
    done = subprocess.run(
        [str(BIN / "flask"), *args], cwd=ROOT, env=dict(env), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} exited {done.returncode}:\n{done.stderr.strip()}")
    return done.stdout


# --- throwaway PostgreSQL databases ----------------------------------------------------------------


def _admin_connection():
    import psycopg

    return psycopg.connect(POSTGRES_URL + "/postgres", autocommit=True, connect_timeout=5)


def _drop(connection, name: str) -> None:
    from psycopg import sql

    connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextlib.contextmanager
def workdir(tag: str) -> Iterator[Path]:
    """A temporary directory named after this process (so a later run can sweep it), removed on exit."""
    path = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-{tag}-"))
    try:
        yield path
    except Exception:
        print(f"  (kept {path} with the gunicorn logs; the next bench run removes it)", flush=True)
        raise
    shutil.rmtree(path, ignore_errors=True)


def sweep_leftovers() -> list[str]:
    """Remove databases and directories left behind by bench runs whose process is gone (kill -9)."""
    dropped = []
    for path in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*"):
        match = re.match(rf"{WORKDIR_PREFIX}(\d+)-", path.name)
        if match and not _alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            dropped.append(str(path))
    with _admin_connection() as connection:
        names = [row[0] for row in connection.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (DB_PREFIX + "%",)
        )]
        for name in names:
            match = re.match(rf"{DB_PREFIX}(\d+)_", name)
            if match is None or _alive(int(match.group(1))):
                continue
            _drop(connection, name)
            dropped.append(f"database {name}")
    return dropped


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def postgres_database(tag: str) -> Iterator[str]:
    """Create `pausa_bench_<pid>_<tag>`, yield its URL, and drop it whatever happens."""
    from psycopg import sql

    name = f"{DB_PREFIX}{os.getpid()}_{tag}"
    with _admin_connection() as connection:
        _drop(connection, name)
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{POSTGRES_URL}/{name}"
    finally:
        with _admin_connection() as connection:
            _drop(connection, name)


# --- gunicorn ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen
    log_path: Path
    pids: set[str] = field(default_factory=set)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def check_alive(self) -> None:
        """Fail loudly if the gunicorn master is gone (crashed, or killed by someone else)."""
        code = self.process.poll()
        if code is not None:
            how = f"killed by signal {-code}" if code < 0 else f"exited {code}"
            raise RuntimeError(f"gunicorn {self.name} (pid {self.process.pid}) {how}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def get(port: int, path: str, headers: Mapping[str, str] | None = None, method: str = "GET",
        body: bytes | None = None, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request on a fresh connection; return status, headers (lower-case names) and body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers={"Connection": "close", **(headers or {})})
        response = connection.getresponse()
        data = response.read()
        return response.status, {key.lower(): value for key, value in response.getheaders()}, data
    finally:
        connection.close()


@contextlib.contextmanager
def gunicorn(name: str, env: Mapping[str, str], workdir: Path, workers: int = 2) -> Iterator[Server]:
    """Run `gunicorn -c gunicorn.conf.py wsgi:app` (the Procfile's command) on a free local port.

    The process gets its own session, so on the way out (normal exit, exception,
    Ctrl-C, SIGTERM) the master is sent SIGTERM and anything left in its process
    group is killed; if the bench itself is SIGKILLed, the kernel sends the
    master SIGTERM (PR_SET_PDEATHSIG) and the next run drops the database.
    """
    port = free_port()
    metrics_dir = workdir / f"metrics-{name}"
    metrics_dir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"gunicorn-{name}.log"
    env = {**env, "PORT": str(port), "WEB_CONCURRENCY": str(workers),
           "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    command = [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
               "--workers", str(workers), "wsgi:app"]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True,
                                   preexec_fn=_die_with_parent)
    server = Server(name, port, process, log_path)
    try:
        _wait_ready(server)
        yield server
        server.check_alive()
    finally:
        stop(process)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM gunicorn if the bench is killed with SIGKILL (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _wait_ready(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"gunicorn {server.name} exited {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            status, _, _ = get(server.port, "/health/live", timeout=1.0)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn {server.name} did not answer /health/live in {timeout:.0f} s:\n"
                       f"{server.log_tail()}")


def stop(process: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM the gunicorn master (it drains its workers), then kill whatever of its group is left."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # its own session: only its own workers
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def terminate_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so every `finally` (gunicorn, databases) still runs."""

    def _exit(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)


# --- CPU used by other processes (the machine may be shared) --------------------------------------


def _machine_busy_ticks() -> int:
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return user + nice + system + irq + softirq + steal


def _session_ticks(sessions: set[int]) -> int:
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                rest = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(rest[3]) in sessions:
            total += int(rest[11]) + int(rest[12])
    return total


def _own_seconds() -> float:
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    me = resource.getrusage(resource.RUSAGE_SELF)
    return children.ru_utime + children.ru_stime + me.ru_utime + me.ru_stime


@contextlib.contextmanager
def foreign_cpu(sessions: set[int]) -> Iterator[dict[str, float]]:
    """Measure the share of the machine's CPU used by processes that are not this bench's.

    Ours: this process, its waited-for children (wrk, flask CLI) and the gunicorn
    sessions given. Everything else (another engineer's test suite...) is foreign.
    Yields a dict whose "share" (0..1 of all CPUs) is filled in on exit.
    """
    hz = os.sysconf("SC_CLK_TCK")
    cpus = os.cpu_count() or 1
    figure = {"share": 0.0}
    wall, busy, ours, own = time.monotonic(), _machine_busy_ticks(), _session_ticks(sessions), _own_seconds()
    yield figure
    elapsed = time.monotonic() - wall
    busy_seconds = (_machine_busy_ticks() - busy) / hz
    ours_seconds = (_session_ticks(sessions) - ours) / hz + (_own_seconds() - own)
    if elapsed > 0:
        figure["share"] = max(0.0, busy_seconds - ours_seconds) / (elapsed * cpus)


# --- wrk ---------------------------------------------------------------------------------------------


@dataclass
class WrkRun:
    requests: int
    seconds: float
    rps: float
    non_2xx_3xx: int
    socket_errors: int
    latency_avg: str


def wrk(url: str, seconds: float = SECONDS, headers: Mapping[str, str] | None = None,
        connections: int = CONNECTIONS) -> WrkRun:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s"]
    for key, value in (headers or {}).items():
        command += ["-H", f"{key}: {value}"]
    done = subprocess.run([*command, url], capture_output=True, text=True, check=True)
    out = done.stdout
    summary = re.search(r"(\d+) requests in ([\d.]+)(m?s|m)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if summary is None or rps is None:
        raise RuntimeError(f"cannot read wrk output:\n{out}\n{done.stderr}")
    non_ok = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    latency = re.search(r"Latency\s+(\S+)", out)
    return WrkRun(
        requests=int(summary.group(1)),
        seconds=seconds,
        rps=float(rps.group(1)),
        non_2xx_3xx=int(non_ok.group(1)) if non_ok else 0,
        socket_errors=sum(int(value) for value in errors.groups()) if errors else 0,
        latency_avg=latency.group(1) if latency else "?",
    )


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 50 samples is the largest: no interpolation flatters it)."""
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(fraction * len(ordered) - 1e-9)))
    return ordered[rank - 1]


def run_alone(run: Callable[[], list[Result]]) -> None:
    """Run one benchmark part by itself (`python -m bench.<part>`) and print its budget lines."""
    terminate_on_sigterm()
    for result in run():
        print(f"{result.verdict:<5} {result.budget}: {result.measured} — {result.note}")
