"""gunicorn settings for Heroku-style dynos (`gunicorn -c gunicorn.conf.py wsgi:app`).

Deployment configuration, read from the platform's environment: PORT and
WEB_CONCURRENCY are set by the host, GUNICORN_THREADS by the operator;
PROMETHEUS_MULTIPROC_DIR makes /metrics add up every worker's figures.
In production run it behind the buffering front proxy of docs/deploy.md.
"""

import os
import shutil
import tempfile

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads, so one request waiting on the database or a slow client never blocks /health/live
# or the maintenance page; the front proxy (docs/deploy.md) keeps slow bodies away altogether.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# Heroku sends SIGTERM and kills after 30 s: finish in-flight requests well inside that.
graceful_timeout = 25
timeout = 30
keepalive = 5
accesslog = "-"
errorlog = "-"
# Trust no client's forwarding headers, not even over a local or Unix socket: ProxyFix with
# TRUSTED_PROXY_COUNT is the one place that trusts proxies, and a SCRIPT_NAME header must never
# move the links of a page (docs/deploy.md).
forwarded_allow_ips = ""
forwarder_headers = ""
secure_scheme_headers = {}
# The app is built once, in the master: a restart (SIGHUP) then forks new workers at once, with no
# gap in which requests wait for workers to import the app. What belongs to one process starts
# after the fork (post_worker_init): the state refresher, the Redis listener, a fresh database pool.
# New code needs a full restart, as on every Heroku deploy.
preload_app = True
# The Heroku nginx buildpack's contract: gunicorn binds this socket, then touches the file.
NGINX_BUILDPACK_SOCKET = "unix:/tmp/nginx.socket"
NGINX_BUILDPACK_READY = "/tmp/app-initialized"  # noqa: S108 - the path is the buildpack's, on a one-user dyno


def on_starting(server):
    """Give the workers a fresh directory to share their metrics through."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        directory = tempfile.mkdtemp(prefix="pausa-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory, exist_ok=True)


def when_ready(server):
    """Tell the nginx buildpack's start-nginx that gunicorn listens on its socket (docs/deploy.md)."""
    if NGINX_BUILDPACK_SOCKET in server.cfg.bind:
        with open(NGINX_BUILDPACK_READY, "w"):
            pass


def post_worker_init(worker):
    """Follow the maintenance state from boot, before the first request: refresher and subscription."""
    app = getattr(worker, "wsgi", None)
    if app is None or not hasattr(app, "extensions"):
        return
    from app.extensions import db
    from app.gate.inapp import start_refresher

    with app.app_context():
        db.engine.dispose(close=False)  # never share the master's pooled connections with a worker
    start_refresher(app)
    notifier = app.extensions.get("pausa.notifier")
    if notifier is not None:
        notifier.ensure_listening()


def child_exit(server, worker):
    """Drop a dead worker's live gauges from the shared metrics."""
    from app.metrics import child_exit as metrics_child_exit

    metrics_child_exit(server, worker)
