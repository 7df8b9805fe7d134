"""gunicorn settings for Heroku-style dynos (`gunicorn -c gunicorn.conf.py wsgi:app`).

Deployment configuration, read from the platform's environment: PORT and
WEB_CONCURRENCY are set by the host; PROMETHEUS_MULTIPROC_DIR makes /metrics
add up every worker's figures.
"""

import os
import shutil
import tempfile

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"
# Heroku sends SIGTERM and kills after 30 s: finish in-flight requests well inside that.
graceful_timeout = 25
timeout = 30
keepalive = 5
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = "*"  # ProxyFix with TRUSTED_PROXY_COUNT decides whom to trust, not gunicorn
# Each worker builds the app after the fork, so per-worker state (the maintenance
# state cache, the Redis listener thread, database pools) is never shared by accident.
preload_app = True


def on_starting(server):
    """Give the workers a fresh directory to share their metrics through."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        directory = tempfile.mkdtemp(prefix="pausa-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory, exist_ok=True)


def post_worker_init(worker):
    """Follow the maintenance state from boot, before the first request: refresher and subscription."""
    app = getattr(worker, "wsgi", None)
    if app is None or not hasattr(app, "extensions"):
        return
    from app.gate import start_refresher

    start_refresher(app)
    notifier = app.extensions.get("pausa.notifier")
    if notifier is not None:
        notifier.ensure_listening()


def child_exit(server, worker):
    """Drop a dead worker's live gauges from the shared metrics."""
    from app.metrics import child_exit as metrics_child_exit

    metrics_child_exit(server, worker)
