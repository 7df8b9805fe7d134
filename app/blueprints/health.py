"""Health checks for load balancers and monitors; never gated."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from ..gate.inapp import state_cache
from ..services import health as health_service

bp = Blueprint("health", __name__, url_prefix="/health")


@bp.get("/live")
def live() -> Response:
    """Answer 200 while the process can serve requests."""
    response = jsonify(status="ok")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/ready")
def ready() -> tuple[Response, int]:
    """Report the database, Redis, the worker, queues and the gate's state; 503 when a critical one fails.

    Maintenance does not make an instance unready: it must keep answering the 503 page.
    """
    report = health_service.readiness(state_cache())
    response = jsonify(status=report.status, checks=report.checks)
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if report.healthy else 503
