"""Health checks for load balancers and monitors; never gated."""

from __future__ import annotations

import time

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from ..extensions import db
from ..gate import state_cache

bp = Blueprint("health", __name__, url_prefix="/health")


@bp.get("/live")
def live() -> Response:
    """Answer 200 while the process can serve requests."""
    response = jsonify(status="ok")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/ready")
def ready() -> tuple[Response, int]:
    """Report whether the database answers and the gate's state is fresh; 503 when not."""
    checks: dict[str, dict] = {}
    started = time.perf_counter()
    try:
        db.session.execute(text("SELECT 1"))
        db.session.commit()
        checks["database"] = {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}
    except Exception as error:  # report any failure; a health check must not raise
        db.session.rollback()
        checks["database"] = {"ok": False, "error": type(error).__name__}
    cache = state_cache()
    state = cache.get()
    checks["maintenance_state"] = {
        "ok": not state.stale,
        "version": state.version,
        "error": cache.last_error,
    }
    healthy = all(check["ok"] for check in checks.values())
    response = jsonify(status="ok" if healthy else "unavailable", checks=checks)
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if healthy else 503
