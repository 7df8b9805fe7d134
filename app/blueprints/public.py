"""What end users see: the maintenance page, its status poll and the banner on every page."""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, render_template, request, url_for
from flask_babel import get_locale, gettext
from pausa_gate.decision import banner_facts
from pausa_gate.state import WindowState
from pausa_gate.windows import public_facts, upcoming_facts, upcoming_window, utcnow, window_in_effect

from .. import htmx
from ..extensions import csrf, limiter
from ..gate.inapp import decision_for, gate, gate_state
from ..gate.pages import PARTIAL
from ..mail import email_enabled
from ..security import referring_page, safe_next, same_site
from ..services import NotFound
from ..services import subscriptions as subscription_service

# Mounted twice: at /maintenance for Pausa's own pages, and as `visitor` under the public prefix
# (GATE_PUBLIC_PREFIX, /_pausa) that a reverse proxy routes to Pausa from the system it protects.
# Its static folder is the app's, so the maintenance page's assets are served under both.
bp = Blueprint("public", __name__, url_prefix="/maintenance", static_folder="../../static",
               static_url_path="/static")


def render_maintenance_page(
    window: WindowState | None, now: datetime, status: int = 200, blocked_method: str = "GET",
    upcoming: WindowState | None = None,
) -> Response:
    """Render the whole maintenance page (at /maintenance and under the visitors' prefix)."""
    blocked_write = blocked_method.upper() not in ("GET", "HEAD", "OPTIONS")
    html = gate().pages.page(window, now, str(get_locale()), blocked_write=blocked_write, upcoming=upcoming)
    return htmx.vary(Response(html, status=status))


def _now_and_next(now: datetime) -> tuple[WindowState | None, WindowState | None]:
    """Return the window in effect, and else the announced one still to come (the page tells of it)."""
    state = gate_state()
    window = window_in_effect(state, now)
    return window, None if window is not None else upcoming_window(state, now)


@bp.get("")
def page() -> Response:
    """Show the maintenance page, the maintenance planned next, or that everything is running."""
    now = utcnow()
    window, upcoming = _now_and_next(now)
    response = render_maintenance_page(window, now, upcoming=upcoming)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/status")
def status() -> Response:
    """Answer the page's poll: the status partial, or a reload once the window has ended."""
    now = utcnow()
    window, upcoming = _now_and_next(now)
    came_from_block = request.args.get("active") == "1"
    if not htmx.is_fragment_request():
        response = render_maintenance_page(window, now, upcoming=upcoming)
    elif window is None and came_from_block:
        # Reload the URL the user was on: the page was rendered there in place.
        response = htmx.refresh()
    else:
        html = gate().pages.get(PARTIAL, window, now, str(get_locale()), upcoming=upcoming)
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
        # Counts to its start (seconds_remaining, seconds_until_start); seconds_until_eta to its ETA.
        "upcoming": upcoming_facts(upcoming, now) if upcoming else None,
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
# A longer way back is no page a visitor was on; the subscribe page then links to the maintenance page.
MAX_BACK_LENGTH = 2000
# One page for both unsubscribe links (this one and standing notices'): the view gives its words.
UNSUBSCRIBE_PAGE = "public/unsubscribe.html"


def _subscribe_answer(status: int = 200, **context: object) -> Response:
    """The confirmation or the form with its error: a fragment for htmx, else a small page."""
    return htmx.form_answer(
        SUBSCRIBE_PAGE, SUBSCRIBE_PARTIAL, status, subscribe_back=_page_they_were_on(), **context
    )


def _window_taking_subscribers(now: datetime) -> tuple[WindowState | None, str | None]:
    """Return the window that takes subscribers, or None and the words saying why there is none.

    The maintenance page's rule: only a window the database holds (id > 0), not the fail mode's
    stand-in (-1) nor one started while the database was down (-2 and below).
    """
    state = gate_state()
    window = window_in_effect(state, now)
    if window is not None and window.id > 0:
        return window, None
    if window is not None:
        return None, gettext("Email sign-up is not available right now. Please try again in a few minutes.")
    if upcoming_window(state, now) is not None:
        return None, gettext("Maintenance has not started yet: once it starts, this page can email you "
                             "when the site is back.")
    return None, gettext("Maintenance is over: there is nothing to wait for.")


def _page_they_were_on() -> str | None:
    """Return the page of this site the visitor came from, to go back to; never another site's.

    The form's `next` (a POST), else the GET's `next` (the language switcher's way back here), else
    its Referer on this host or GATE_SITE_URL's (checked like the language switcher's way back).
    """
    target = request.form.get("next") if request.method == "POST" else request.args.get("next")
    target = safe_next(target, "")
    if not target and request.method == "GET":
        target = referring_page((urlsplit(current_app.config.get("GATE_SITE_URL") or "").netloc,))
    subscribe_pages = {url_for("public.subscribe_page"), url_for("visitor.subscribe_page")}
    if not target or len(target) > MAX_BACK_LENGTH or urlsplit(target).path in subscribe_pages:
        return None
    return target


def _subscribe_limit() -> str:
    return current_app.config["SUBSCRIBE_RATE_LIMIT"]


@bp.errorhandler(429)
def subscribe_rate_limited(error: Exception) -> Response:
    """Only /maintenance/subscribe is rate limited here: answer in its own words, where the form is."""
    return htmx.too_many_tries(
        SUBSCRIBE_PAGE, SUBSCRIBE_PARTIAL, error, error_name="subscribe_error", email_name="subscribe_email",
        subscribe_back=_page_they_were_on(),
    )


@bp.get("/subscribe")
def subscribe_page() -> Response:
    """Show the form on a page of its own: without JavaScript the maintenance page reloads and wipes it."""
    if not email_enabled():
        abort(404, description=gettext("Email notifications are switched off on this site."))
    _, closed = _window_taking_subscribers(utcnow())
    html = render_template(SUBSCRIBE_PAGE, subscribe_closed=closed, subscribe_back=_page_they_were_on())
    response = Response(html)
    # Never shared: the way back is this visitor's own page.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/subscribe")
@limiter.limit(_subscribe_limit, methods=["POST"])
def subscribe() -> Response:
    """Subscribe an address to the end of the window in effect; a repeat answers exactly the same."""
    if not same_site():
        abort(403, description=gettext("This form can only be sent from this site."))
    if not email_enabled():
        # MAIL_BACKEND=disabled: the page offers no form; a stale page or a script gets a plain no.
        abort(404, description=gettext("Email notifications are switched off on this site."))
    email = request.form.get("email", "")
    window, closed = _window_taking_subscribers(utcnow())
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
            422, subscribe_error=closed or gettext("Maintenance is over: there is nothing to wait for."),
            subscribe_email=email[:254],
        )
    return _subscribe_answer(
        subscribed=subscription.email,
        unsubscribe_link=subscription_service.unsubscribe_url(subscription.subscriber_id),
    )


# Anonymous and cookie-free on purpose: the maintenance page is rendered once a second and shared by
# every visitor, so it cannot carry a per-session CSRF token; the endpoint uses no credentials (no
# session, no login), so CSRF would protect nothing. Cross-site posts are refused by same_site().
csrf.exempt(subscribe)


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> Response:
    """GET asks to confirm (mail scanners prefetch links: it changes nothing); POST unsubscribes."""
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
    html = render_template(
        UNSUBSCRIBE_PAGE, done=done, action=url_for("public.unsubscribe", token=token),
        question=gettext("Stop the email that tells you the site is back?"),
        done_text=gettext("You will not get the “we’re back” email."),
    )
    response = Response(html)
    response.headers["Cache-Control"] = "no-store"
    return response


# The signed token is the only credential, and mail clients POST it without cookies
# (RFC 8058 one-click unsubscribe): CSRF adds nothing here.
csrf.exempt(unsubscribe)
