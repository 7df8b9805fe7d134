"""What end users see: the maintenance page, its status poll and the banner on every page."""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, render_template, request
from flask_babel import get_locale
from pausa_gate.decision import banner_facts
from pausa_gate.state import WindowState
from pausa_gate.windows import public_facts, upcoming_window, utcnow, window_in_effect

from .. import htmx
from ..extensions import csrf, limiter
from ..gate.inapp import decision_for, gate, gate_state
from ..gate.pages import PARTIAL
from ..mail import email_enabled

# Mounted twice: at /maintenance for Pausa's own pages, and as `visitor` under the public prefix
# (GATE_PUBLIC_PREFIX, /_pausa) that a reverse proxy routes to Pausa from the system it protects.
# Its static folder is the app's, so the maintenance page's assets are served under both.
bp = Blueprint("public", __name__, url_prefix="/maintenance", static_folder="../../static",
               static_url_path="/static")


def render_maintenance_page(
    window: WindowState | None, now: datetime, status: int = 200, blocked_method: str = "GET"
) -> Response:
    """Render the whole maintenance page (at /maintenance and under the visitors' prefix)."""
    blocked_write = blocked_method.upper() not in ("GET", "HEAD", "OPTIONS")
    html = gate().pages.page(window, now, str(get_locale()), blocked_write=blocked_write)
    return htmx.vary(Response(html, status=status))


@bp.get("")
def page() -> Response:
    """Show the maintenance page, or say that everything is running."""
    now = utcnow()
    response = render_maintenance_page(window_in_effect(gate_state(), now), now)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/status")
def status() -> Response:
    """Answer the page's poll: the status partial, or a reload once the window has ended."""
    now = utcnow()
    window = window_in_effect(gate_state(), now)
    came_from_block = request.args.get("active") == "1"
    if not htmx.is_fragment_request():
        response = render_maintenance_page(window, now)
    elif window is None and came_from_block:
        # Reload the URL the user was on: the page was rendered there in place.
        response = htmx.refresh()
    else:
        html = gate().pages.get(PARTIAL, window, now, str(get_locale()))
        response = htmx.vary(Response(html))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/status.json")
def status_json() -> Response:
    """Give the same facts as JSON, with an ETag for cheap conditional polling."""
    now = utcnow()
    state = gate_state()
    window = window_in_effect(state, now)
    upcoming = upcoming_window(state, now)
    body = {
        "active": window is not None,
        "window": public_facts(window, now) if window else None,
        "upcoming": public_facts(upcoming, now) if upcoming else None,
        "version": state.version,
    }
    response = Response(
        json.dumps(body, separators=(",", ":")), mimetype="application/json"
    )
    response.headers["Cache-Control"] = "no-cache"
    response.add_etag()
    return response.make_conditional(request)


@bp.get("/banner")
def banner() -> Response:
    """Answer every page's banner poll; reload the page if it has just become blocked."""
    page_path = urlsplit(request.headers.get("HX-Current-URL", "")).path or "/"
    decision = decision_for(page_path, "GET")
    if decision.blocked:
        response = htmx.refresh()
    else:
        response = htmx.render(
            "public/partials/banner.html",
            "public/partials/banner.html",
            banner=banner_facts(decision, utcnow()),
            banner_seconds=current_app.config["BANNER_POLL_SECONDS"],
        )
    response.headers["Cache-Control"] = "no-store"
    return response


# Subscribers: "email me when it's back", and the one-click unsubscribe link.

SUBSCRIBE_PAGE = "public/subscribe.html"
# The maintenance page offers the form only when the site sends email.
bp.app_template_global("email_enabled")(email_enabled)
SUBSCRIBE_PARTIAL = "public/partials/subscribe.html"


def _same_site() -> bool:
    """Tell whether a POST came from a page of this site (or GATE_SITE_URL's): Origin, else Referer.

    A request with neither (curl, a privacy extension) is let through: it carries no
    credentials this endpoint uses, and browsers send Origin on every cross-site POST.
    """
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if source is None:
        return True
    origin = urlsplit(source).netloc.lower()
    # The form is also served on the protected system's own site, under the visitors' prefix.
    site = urlsplit(current_app.config.get("GATE_SITE_URL") or "").netloc.lower()
    return origin == request.host.lower() or (bool(site) and origin == site)


def _subscribe_answer(status: int = 200, **context: object) -> Response:
    """The confirmation or the form with its error: a fragment for htmx, else a small page."""
    response = htmx.render(SUBSCRIBE_PAGE, SUBSCRIBE_PARTIAL, status=status, **context)
    response.headers["Cache-Control"] = "no-store"
    return response


def _subscribe_limit() -> str:
    return current_app.config["SUBSCRIBE_RATE_LIMIT"]


@bp.errorhandler(429)
def subscribe_rate_limited(error: Exception) -> Response:
    """Only /maintenance/subscribe is rate limited here: answer in its own words, where the form is."""
    from flask_babel import gettext

    response = _subscribe_answer(
        429,
        subscribe_error=gettext(
            "That was a lot of tries in a short time. Please wait a minute and try again."
        ),
        subscribe_email=request.form.get("email", "")[:254],
    )
    retry_after = getattr(error, "retry_after", None)
    response.headers["Retry-After"] = str(int(retry_after)) if retry_after else "60"
    return response


@bp.post("/subscribe")
@limiter.limit(_subscribe_limit, methods=["POST"])
def subscribe() -> Response:
    """Subscribe an address to the end of the window in effect; a repeat answers exactly the same."""
    from flask import abort
    from flask_babel import gettext

    from ..services import NotFound
    from ..services import subscriptions as subscription_service

    if not _same_site():
        abort(403, description=gettext("This form can only be sent from this site."))
    if not email_enabled():
        # MAIL_BACKEND=disabled: the page offers no form; a stale page or a script gets a plain no.
        abort(404, description=gettext("Email notifications are switched off on this site."))
    email = request.form.get("email", "")
    window = window_in_effect(gate_state(), utcnow())
    try:
        if window is None:
            raise NotFound("no window")
        subscription = subscription_service.subscribe(window.id, email, str(get_locale()))
    except subscription_service.InvalidEmail:
        return _subscribe_answer(
            422,
            subscribe_error=gettext("Enter a valid email address, like name@example.com."),
            subscribe_email=email[:254],
        )
    except NotFound:
        return _subscribe_answer(
            422, subscribe_error=gettext("Maintenance is over: there is nothing to wait for."),
            subscribe_email=email[:254],
        )
    return _subscribe_answer(
        subscribed=subscription.email,
        unsubscribe_link=subscription_service.unsubscribe_url(subscription.subscriber_id),
    )


# Anonymous and cookie-free on purpose: the maintenance page is rendered once a second and shared by
# every visitor, so it cannot carry a per-session CSRF token; the endpoint uses no credentials (no
# session, no login), so CSRF would protect nothing. Cross-site posts are refused by _same_site().
csrf.exempt(subscribe)


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> Response:
    """GET asks to confirm (mail scanners prefetch links: it changes nothing); POST unsubscribes."""
    from flask import abort
    from flask_babel import gettext

    from ..services import subscriptions as subscription_service

    subscriber_id = subscription_service.read_unsubscribe_token(token)
    if subscriber_id is None:
        abort(400, description=gettext(
            "This unsubscribe link is not valid. Copy the whole link from the email."
        ))
    done = False
    if request.method == "POST":
        if not subscription_service.unsubscribe(subscriber_id):
            abort(404, description=gettext("This subscription no longer exists."))
        done = True
    response = Response(render_template("public/unsubscribe.html", token=token, done=done))
    response.headers["Cache-Control"] = "no-store"
    return response


# The signed token is the only credential, and mail clients POST it without cookies
# (RFC 8058 one-click unsubscribe): CSRF adds nothing here.
csrf.exempt(unsubscribe)
