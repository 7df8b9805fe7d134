"""The gate's Flask side: the per-worker state cache, `before_request`, and who is asking."""

from __future__ import annotations

from dataclasses import replace

from flask import Flask, Response, current_app, g, request
from flask_login import current_user
from pausa_gate import answers
from pausa_gate.asking import Ask, ask_from_environ, parse_networks
from pausa_gate.cache import NONE, SnapshotFile, StateCache
from pausa_gate.decision import ALLOW, Decision, decide_ask
from pausa_gate.state import ANONYMOUS, GateState, Viewer
from pausa_gate.windows import utcnow
from sqlalchemy.exc import OperationalError

from ..extensions import FEED_KEY, GATE_KEY, STATE_CACHE_KEY, db
from ..services import offline
from ..services import state as state_service
from ..services import tokens as token_service
from .feed import FeedCache
from .notifier import init_notifier
from .pages import Pages


class Gate:
    """What every entry point of one app shares: settings, renderings and the cookie checker."""

    def __init__(self, app: Flask):
        config = app.config
        self.prefix = config["GATE_PUBLIC_PREFIX"]
        # Pausa's own pages: its always-allowed paths, the visitors' prefix, the public status page
        # and its feeds (calendars keep reading them during a window: docs/status.md) and the allowlist.
        self.allowlist = (*config["MAINTENANCE_ALLOWLIST"], self.prefix, "/status")
        # The system behind the edge gate: its own allowlist and the prefix, nothing of Pausa's.
        self.edge_allowlist = (*config["MAINTENANCE_ALLOWLIST"], self.prefix)
        self.trusted_proxies = parse_networks(config["GATE_TRUSTED_PROXIES"])
        self.pages = Pages(app)
        self.status_url = config["SCRIPT_NAME"] + self.prefix + "/status.json"
        self.edge_status_url = self.prefix + "/status.json"


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
        in_app_context(state_service.read_version),
        in_app_context(state_service.load_gate_state),
        ttl=config["MAINTENANCE_STATE_TTL"],
        snapshot=SnapshotFile(snapshot_path) if snapshot_path else None,
        fail_closed=config["MAINTENANCE_FAIL_MODE"] == "closed",
    )
    app.extensions[STATE_CACHE_KEY] = cache
    app.extensions[GATE_KEY] = Gate(app)
    app.extensions[FEED_KEY] = FeedCache(app)
    if config["MAINTENANCE_GATE"]:
        # First in line: a blocked request should cost as little as possible.
        app.before_request_funcs.setdefault(None, []).insert(0, enforce)
    init_notifier(app, cache, on_database_back=in_app_context(offline.replay))
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


def gate() -> Gate:
    return current_app.extensions[GATE_KEY]


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


def this_request(path: str | None = None, method: str | None = None) -> Ask:
    """Describe the request being answered (or the page it asks about, for the banner)."""
    ask = ask_from_environ(request.environ, path if path is not None else request.path)
    return ask if method is None else replace(ask, method=method)


def decision_for(path: str, method: str = "GET") -> Decision:
    """Run the decision for this request's viewer on any path (the banner asks for the page's)."""
    return decide_in_app(this_request(path, method), gate_state())


def decide_in_app(ask: Ask, state: GateState) -> Decision:
    """Decide for a request to Pausa itself: anonymously first, then for who is asking."""
    return decide_ask(ask, state, utcnow(), allowlist=gate().allowlist,
                      viewer=lambda: viewer_without_waiting(state))


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
    ask = this_request()
    decision = decide_in_app(ask, state)
    g.maintenance = decision
    if decision.blocked:
        return response_for(answers.block(ask, decision, utcnow(), gate().pages, gate().status_url))
    return None


def response_for(answer: answers.Answer | None) -> Response:
    """Turn a framework-free answer into a Flask response."""
    assert answer is not None  # rendering was allowed, so there is always an answer
    response = Response(answer.body, status=answer.status)
    for name, value in answer.headers:
        if name == "Vary":
            for field in value.split(","):
                response.vary.add(field.strip())
        else:
            response.headers[name] = value
    return response


def wants_json() -> bool:
    """Tell whether this request's client asked for JSON (an API path or an Accept preferring it)."""
    return this_request().wants_json
