"""Serve the sample protected app: a home page, an account form and a small JSON API.

The blueprint keeps its name, "site", so its endpoints (`site.home`, …) and latency group stay.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext
from flask_login import current_user, login_required
from sqlalchemy import select

from ..extensions import db
from ..inputs import read_body
from ..maintenance.validation import INVALID_TEXT, BodyError, has_unstorable_text, parse_json
from .models import DemoItem

bp = Blueprint("site", __name__)  # the name the endpoints and the metrics' latency group use

NOTE_MAX = 200


@bp.get("/")
def home() -> str:
    return render_template("demo/home.html")


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account() -> Response | str:
    """Let a signed-in user save a short note (a write that maintenance can block)."""
    error = None
    if request.method == "POST":
        note = request.form.get("note", "").strip()
        if has_unstorable_text(note):
            error = gettext("Remove the invalid characters (such as a NUL byte).")
        elif len(note) > NOTE_MAX:
            error = gettext("At most %(count)s characters.", count=NOTE_MAX)
        else:
            session["note"] = note
            flash(gettext("Saved."))
            return redirect(url_for("site.account"))
    status = 400 if error else 200
    return Response(render_template("demo/account.html", error=error), status=status)


@bp.get("/api/v1/ping")
def ping() -> Response:
    return jsonify(ok=True, user=current_user.email if current_user.is_authenticated else None)


@bp.route("/api/v1/items", methods=["GET", "POST"])
def items() -> tuple[Response, int] | Response:
    """List the demo items, or add one."""
    if request.method == "POST":
        try:
            payload = parse_json(read_body()) if request.is_json else None
        except BodyError as error:
            return jsonify(error="validation", fields={"body": f"{str(error).capitalize()}."}), 400
        name = payload.get("name") if isinstance(payload, dict) else None
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            return jsonify(error="validation", fields={"name": "Give a name of 1-100 characters."}), 400
        if has_unstorable_text(name):
            return jsonify(error="validation", fields={"name": INVALID_TEXT}), 400
        item = DemoItem(name=name.strip())
        db.session.add(item)
        db.session.commit()
        return jsonify(id=item.id, name=item.name), 201
    rows = db.session.scalars(select(DemoItem).order_by(DemoItem.id).limit(100))
    return jsonify(items=[{"id": row.id, "name": row.name} for row in rows])
