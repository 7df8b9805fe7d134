"""Standing subscriptions on the status page: subscribe, confirm (double opt-in), one-click unsubscribe.

Mounted at /status and, like the public blueprint, under the visitors' prefix (GATE_PUBLIC_PREFIX).
The status page itself is another blueprint's (app/blueprints/status.py); it includes our form,
templates/status/partials/subscribe.html. The rules: docs/notices.md.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, render_template, request, url_for
from flask_babel import get_locale, gettext

from .. import htmx
from ..extensions import csrf, limiter
from ..mail import email_enabled
from ..security import same_site
from ..services import subscriptions as subscription_service

bp = Blueprint("standing", __name__, url_prefix="/status")
PAGE = "standing/subscribe.html"
PARTIAL = "status/partials/subscribe.html"
UNSUBSCRIBE_PAGE = "public/unsubscribe.html"  # shared with the public blueprint's unsubscribe link


def subscribe_url() -> str:
    """The subscribe form's address, under the visitors' prefix when the page was served there."""
    visitor = (request.blueprint or "").startswith("visitor")
    return url_for(f"{'visitor_standing' if visitor else 'standing'}.subscribe")


def _answer(status: int = 200, **context: object) -> Response:
    return htmx.form_answer(PAGE, PARTIAL, status, subscribe_url=subscribe_url(), **context)


def _limit() -> str:
    return current_app.config["SUBSCRIBE_RATE_LIMIT"]


@bp.errorhandler(429)
def rate_limited(error: Exception) -> Response:
    """Only the subscribe form is rate limited here: answer in its own words, where the form is."""
    return htmx.too_many_tries(
        PAGE, PARTIAL, error, error_name="standing_error", email_name="standing_email",
        subscribe_url=subscribe_url(),
    )


@bp.post("/subscribe")
@limiter.limit(_limit, methods=["POST"])
def subscribe() -> Response:
    """Ask for notices about every window; the same answer whatever the address's state."""
    if not same_site():
        abort(403, description=gettext("This form can only be sent from this site."))
    if not email_enabled():
        abort(404, description=gettext("Email notifications are switched off on this site."))
    email = request.form.get("email", "")
    try:
        address = subscription_service.subscribe_standing(email, str(get_locale()))
    except subscription_service.InvalidEmail:
        return _answer(
            422,
            standing_error=gettext("Enter a valid email address, like name@example.com."),
            standing_email=email[:254],
        )
    return _answer(standing_subscribed=address)


# The status page is public, cached and shared: it cannot carry a per-session CSRF token, and this
# endpoint uses no credentials (no session, no login). Cross-site posts are refused by same_site().
csrf.exempt(subscribe)


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str) -> Response:
    """GET asks (mail scanners open every link: that must not opt anyone in); POST confirms.

    A second POST says the same. A bad, expired or withdrawn link confirms nothing.
    """
    if request.method == "POST":
        if not same_site():
            abort(403, description=gettext("This form can only be sent from this site."))
        done = subscription_service.confirm_standing(token) is not None
        state = "done" if done else "bad"
    else:
        state = "ask" if subscription_service.read_confirm_token(token) is not None else "bad"
    response = Response(
        render_template("standing/confirm.html", state=state), status=400 if state == "bad" else 200
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# The encrypted token is the only credential (like unsubscribe's); cross-site posts are refused above.
csrf.exempt(confirm)


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> Response:
    """GET asks to confirm (mail scanners prefetch links); POST unsubscribes, with or without the
    form: RFC 8058's one-click POST (`List-Unsubscribe=One-Click`) from a mail client."""
    subscriber_id = subscription_service.read_standing_unsubscribe_token(token)
    if subscriber_id is None:
        abort(400, description=gettext(
            "This unsubscribe link is not valid. Copy the whole link from the email."
        ))
    done = False
    if request.method == "POST":
        if not subscription_service.unsubscribe_standing(subscriber_id):
            abort(404, description=gettext("This subscription no longer exists."))
        done = True
    html = render_template(
        UNSUBSCRIBE_PAGE, done=done, action=request.path,
        question=gettext("Stop every maintenance notice to this address?"),
        done_text=gettext(
            "You will get no more maintenance notices. Your address has been removed; only a one-way"
            " fingerprint of it is kept, so that a new subscription starts over."
        ),
    )
    response = Response(html)
    response.headers["Cache-Control"] = "no-store"
    return response


# The encrypted token is the only credential, and mail clients POST it without cookies (RFC 8058).
csrf.exempt(unsubscribe)
