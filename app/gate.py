"""The gate's Flask adapter: gather request facts, ask the core, answer a block."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from flask import Flask, Response, current_app, g, jsonify, request
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy.exc import OperationalError

from . import htmx
from .extensions import db
from .maintenance.cache import NONE, SnapshotFile, StateCache
from .maintenance.gate import ALLOW, Decision, decide
from .maintenance.state import ANONYMOUS, UNKNOWN_WINDOW_ID, GateState, RequestFacts, Viewer, WindowState
from .maintenance.windows import public_facts, retry_after_seconds, utcnow
from .pubsub import init_pubsub
from .services import bypass as bypass_service
from .services import maintenance as maintenance_service
from .services import tokens as token_service

STATE_CACHE_KEY = "pausa.state_cache"


def init_gate(app: Flask) -> None:
    """Create this worker's state cache and install the gate before every request."""
    config = app.config

    def in_app_context(function):
        def call():
            with app.app_context():
                return function()

        return call

    snapshot_path = config["MAINTENANCE_STATE_FILE"]
    cache = StateCache(
        in_app_context(maintenance_service.read_version),
        in_app_context(maintenance_service.load_gate_state),
        ttl=config["MAINTENANCE_STATE_TTL"],
        snapshot=SnapshotFile(snapshot_path) if snapshot_path else None,
        fail_closed=config["MAINTENANCE_FAIL_MODE"] == "closed",
    )
    app.extensions[STATE_CACHE_KEY] = cache
    if config["MAINTENANCE_GATE"]:
        # First in line: a blocked request should cost as little as possible.
        app.before_request_funcs.setdefault(None, []).insert(0, enforce)
    init_pubsub(app, cache)
    if config["MAINTENANCE_STATE_REFRESH"] == "background":
        # Before the gate: the refresher starts in every worker process (gunicorn's
        # post_worker_init starts it even earlier, before the first request).
        app.before_request_funcs.setdefault(None, []).insert(0, lambda: start_refresher(app))


def start_refresher(app: Flask) -> None:
    """Start this process's state refresher; a worker that knows nothing waits briefly for a state."""
    cache: StateCache = app.extensions[STATE_CACHE_KEY]
    if cache.background or app.config["MAINTENANCE_STATE_REFRESH"] != "background":
        return
    cache.start(wait=app.config["MAINTENANCE_BOOT_WAIT"] if cache.source == NONE else 0.0)


def state_cache() -> StateCache:
    return current_app.extensions[STATE_CACHE_KEY]


def gate_state() -> GateState:
    """Return this worker's cached state (revalidated at most every TTL)."""
    return state_cache().get()


def bearer_token() -> str | None:
    """Return the raw bearer token of this request, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def current_viewer() -> Viewer:
    """Describe who is asking; this may read the user or token from the database."""
    scopes: frozenset[str] = frozenset()
    raw = bearer_token()
    if raw is not None:
        token = token_service.authenticate(raw)
        if token is not None:
            scopes = token.scope_set
    role = current_user.role if current_user.is_authenticated else None
    return Viewer(role=role, token_scopes=scopes)


def decision_for(path: str, method: str = "GET") -> Decision:
    """Run the decision for this request's viewer on any path (the banner asks for the page's)."""
    state = gate_state()
    now = utcnow()
    facts = RequestFacts(path=path, method=method)
    allowlist = current_app.config["MAINTENANCE_ALLOWLIST"]
    decision = decide(facts, ANONYMOUS, request.remote_addr, state, now, allowlist=allowlist)
    if decision.blocked:
        # Who is asking only matters to a block (bypass); reading it may cost a query.
        cookie = request.cookies.get(bypass_service.COOKIE)
        if cookie is not None:  # a bypass link's signed cookie counts only while its link is live
            window_id = bypass_service.cookie_window_id(cookie, state.bypass_links, now)
            facts = replace(facts, bypass_window_id=window_id)
        decision = decide(facts, viewer_without_waiting(state), request.remote_addr, state, now,
                          allowlist=allowlist)
    return decision


def viewer_without_waiting(state: GateState) -> Viewer:
    """Who is asking, unless that means waiting for a database that is failing: then anonymous.

    Roles and tokens live in the database. While it does not answer (the state is stale, or
    the lookup fails), a signed-in user or token holder is decided like anyone else and gets
    the maintenance page at once, instead of holding a thread for the database's timeouts.
    Bypass cookies and IP allowlists still work: they need no database (docs/fail-safe.md).
    """
    if state.stale:
        return ANONYMOUS
    try:
        return current_viewer()
    except OperationalError:
        db.session.rollback()
        return ANONYMOUS


def enforce() -> Response | None:
    """before_request: let the request through, or answer it with the maintenance response."""
    state = gate_state()
    if not state.windows:
        g.maintenance = ALLOW  # steady state: no query, no work
        return None
    decision = decision_for(request.path, request.method)
    g.maintenance = decision
    if decision.blocked:
        return blocked_response(decision)
    return None


def wants_json() -> bool:
    """Tell whether the client asked for JSON (an API path or an Accept preferring it)."""
    if request.path == "/api" or request.path.startswith("/api/"):
        return True
    accept = request.accept_mimetypes
    return accept.quality("application/json") > accept.quality("text/html")


def blocked_response(decision: Decision) -> Response:
    """Answer a blocked request: JSON, an htmx refresh, or the maintenance page in place."""
    from .blueprints.public import render_maintenance_page

    now = utcnow()
    window = decision.window
    if wants_json():
        facts = public_facts(window, now)
        if window is not None and window.id == UNKNOWN_WINDOW_ID:
            facts["message"] = gettext(
                "The service is temporarily unavailable. Please try again in a few minutes."
            )
        response = jsonify(
            error="maintenance",
            message=facts["message"],
            reason=facts["reason"],
            mode=facts["mode"],
            eta=facts["eta"],
            retry_after=facts["retry_after"],
            status_url="/maintenance/status.json",
            draining=decision.draining,
        )
        response.status_code = 503
    elif htmx.is_fragment_request():
        response = htmx.refresh(status=503, body="Maintenance in progress.")
    else:
        response = render_maintenance_page(window, now, status=503, blocked_method=request.method)
    response.headers.extend(block_headers(window, now))
    response.vary.add("Accept")
    response.vary.add("HX-Request")
    return response


def block_headers(window: WindowState | None, now: datetime) -> list[tuple[str, str]]:
    """Return the headers every block carries, so monitors can tell planned maintenance apart."""
    return [
        ("Retry-After", str(retry_after_seconds(window, now))),
        ("Cache-Control", "no-store"),
        ("X-Maintenance", "active"),
    ]
