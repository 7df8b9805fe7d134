"""Log in and out, and the guards that the admin pages use."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext
from flask_login import current_user, login_required, login_user, logout_user

from .. import htmx
from ..extensions import limiter, login_manager
from ..maintenance.validation import has_unstorable_text
from ..models import User
from ..security import request_actor, safe_next
from ..services import password_links
from ..services import sessions as session_service
from ..services import users as user_service

bp = Blueprint("auth", __name__, url_prefix="/auth")


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """Sign the request in only while its session is live; an admin's only from the same client.

    A remember-me cookie carries no session key, so it never brings a session back.
    """
    found = session_service.live_session(user_id, session.get(session_service.COOKIE_KEY))
    if found is None:
        return None
    user, record = found
    # "Strong" protection for admins: a cookie replayed from another IP or browser ends the
    # session for everyone holding it. Other roles may roam (mobile networks change IPs).
    client = (request.remote_addr, request.user_agent.string)
    if user.is_admin and not session_service.same_client(record, *client):
        session_service.end_for_client_change(record, user, request_actor(user.email))
        return None
    return user


def _current_path() -> str:
    """Return the page the user is on: htmx tells us, otherwise it is this request."""
    if htmx.is_fragment_request() and request.headers.get("HX-Current-URL"):
        parts = urlsplit(request.headers["HX-Current-URL"])
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return request.full_path.rstrip("?")


@login_manager.unauthorized_handler
def unauthorized() -> Response:
    """Send people to the login page the way their client understands."""
    login_url = url_for("auth.login", next=safe_next(_current_path()))
    if request.path.startswith("/api/"):
        response = Response('{"error":"unauthorized"}', 401, mimetype="application/json")
        response.headers["WWW-Authenticate"] = 'Bearer realm="pausa"'
        return response
    if htmx.is_fragment_request():
        return htmx.redirect(login_url, status=401)
    return redirect(login_url)


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Let only admins in; audit everyone else who is logged in and tries."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return unauthorized()
        if not current_user.is_admin:
            user_service.note_denied(current_user, request_actor(), request.path, request.method)
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login() -> Response | str:
    """Show the login form and sign people in; the same answer for every failure."""
    next_url = safe_next(request.values.get("next"), url_for("site.home"))
    if request.method == "POST":
        email = request.form.get("email", "")[:254]
        password = request.form.get("password", "")[:1024]
        if has_unstorable_text(email):  # no address has one; the database could not even look it up
            return Response(
                render_template(
                    "auth/login.html", next_url=next_url, email="",
                    error=gettext("Enter a valid email address, like name@example.com."),
                ),
                status=400,
            )
        user = user_service.authenticate(email, password, request_actor(email or "anonymous"))
        if user is not None:
            raw_key = session_service.open_session(user, request_actor(user.email))
            session[session_service.COOKIE_KEY] = raw_key
            login_user(user)
            if next_url == url_for("site.home") and user.is_admin:
                next_url = url_for("admin.dashboard")
            return redirect(next_url)
        return Response(
            render_template(
                "auth/login.html", next_url=next_url, email=email,
                error=gettext("The email or password is not right."),
            ),
            status=401,
        )
    return render_template("auth/login.html", next_url=next_url, email="", error=None)


@bp.post("/logout")
def logout() -> Response:
    """Sign out (a POST with CSRF, so a link elsewhere cannot log people out) and end the session."""
    if current_user.is_authenticated:
        session_service.end_session(session.get(session_service.COOKIE_KEY), request_actor())
    _forget_session()
    flash(gettext("You are signed out."))
    return redirect(url_for("site.home"))


@bp.post("/sign-out-everywhere")
@login_required
def sign_out_everywhere() -> Response:
    """End every session of the signed-in user, on every device, this one included."""
    session_service.sign_out_everywhere(current_user.email, request_actor())
    _forget_session()
    flash(gettext("You are signed out on every device."))
    return redirect(url_for("auth.login"))


def _forget_session() -> None:
    logout_user()
    session.pop(session_service.COOKIE_KEY, None)


@bp.route("/set-password/<token>", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def set_password(token: str) -> Response | str:
    """Let the holder of a one-time link (`flask users bootstrap --link`) choose a password, then sign in."""
    try:
        user = password_links.user_for(token[:2048])
    except password_links.LinkUnusable as error:
        return _unusable_link(error)
    if request.method == "GET":
        return _set_password_page(user.email, None, 200)
    password = request.form.get("password", "")[:1024]
    if len(password) < user_service.MIN_PASSWORD_LENGTH:
        error = gettext(
            "The password needs at least %(count)d characters.", count=user_service.MIN_PASSWORD_LENGTH
        )
        return _set_password_page(user.email, error, 400)
    if password != request.form.get("password_confirmation", "")[:1024]:
        return _set_password_page(user.email, gettext("The two passwords are not the same."), 400)
    try:
        user = password_links.set_password(token[:2048], password, request_actor(user.email))
    except password_links.LinkUnusable as error:
        return _unusable_link(error)
    raw_key = session_service.open_session(user, request_actor(user.email))
    session[session_service.COOKIE_KEY] = raw_key
    login_user(user)
    flash(gettext("Your password is set and you are signed in."))
    return redirect(url_for("admin.dashboard") if user.is_admin else url_for("site.home"))


def _set_password_page(email: str, error: str | None, status: int) -> Response:
    page = render_template(
        "auth/set_password.html", email=email, error=error, min_length=user_service.MIN_PASSWORD_LENGTH
    )
    return _private(Response(page, status=status))


def _private(response: Response) -> Response:
    """Keep a page whose address is a credential out of caches and of other sites' Referer."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _unusable_link(error: Exception) -> Response:
    """Explain a link that cannot be used (400 forged, 410 expired or used); nothing changes."""
    gone = isinstance(error, password_links.LinkGone)
    if gone:
        problem = gettext(
            "This link has expired or was already used. Ask an admin for a new one "
            "(flask users set-password EMAIL --link)."
        )
    else:
        problem = gettext("This link is not valid. Check that it was copied whole.")
    page = render_template("auth/set_password.html", problem=problem)
    return _private(Response(page, status=410 if gone else 400))
