"""A small shop that is not Pausa: the protected app of the edge recipes (examples/edge).

Run it with `gunicorn -b 127.0.0.1:8001 shop:app` from examples/shop. It knows nothing about
maintenance: the reverse proxy asks Pausa about every request before the shop sees it. Its
pages include Pausa's watch.js, so an open page turns into the maintenance page when a window
starts. Everything is kept in memory, per process.
"""

from __future__ import annotations

import html
import itertools
import os
import threading

from flask import Flask, Response, jsonify, request

app = Flask(__name__)

# One lock for the in-memory data: gunicorn's threaded workers may serve requests at once.
_lock = threading.Lock()
_order_ids = itertools.count(1)
_orders: list[dict] = [{"id": next(_order_ids), "item": "Espresso beans", "quantity": 1}]
_account = {"name": ""}
_payments: list[dict] = []

NAME_MAX = 100
# How often an open page asks Pausa whether maintenance started; the tests make it quicker.
WATCH_POLL_SECONDS = int(os.environ.get("SHOP_WATCH_POLL_SECONDS", "15"))
# The script Pausa serves under its public prefix; the proxy routes /_pausa/ to Pausa.
WATCH_SCRIPT = (
    f'<script src="/_pausa/static/js/watch.js" defer data-poll-seconds="{WATCH_POLL_SECONDS}"></script>'
)


def page(title: str, body: str, status: int = 200) -> Response:
    """Wrap a body in the shop's layout, with the maintenance watcher."""
    document = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} · Corner Shop</title>
{WATCH_SCRIPT}
</head>
<body>
<nav><a href="/">Corner Shop</a> · <a href="/account">Account</a> · <a href="/api/orders">Orders (JSON)</a>
· <a href="/admin">Shop admin</a></nav>
<main>
<h1>{html.escape(title)}</h1>
{body}
</main>
</body>
</html>
"""
    return Response(document, status=status, mimetype="text/html")


@app.get("/")
def home() -> Response:
    """Show the home page, linking to the rest of the shop."""
    return page("Welcome to the Corner Shop", """<p>Fresh coffee, delivered.</p>
<ul>
<li><a href="/account">Your account</a> (a form that saves)</li>
<li><a href="/api/orders">Orders</a> (a JSON API: GET lists, POST creates)</li>
<li><a href="/admin">The shop's admin</a></li>
</ul>""")


@app.route("/account", methods=["GET", "POST"])
def account() -> Response:
    """Show the account form, or save the name it posts."""
    notice = ""
    status = 200
    if request.method == "POST":
        name = request.form.get("name", "").strip()
        if not name or len(name) > NAME_MAX:
            notice = f'<p class="error" role="alert">Give a name of 1-{NAME_MAX} characters.</p>'
            status = 400
        else:
            with _lock:
                _account["name"] = name
            notice = f'<p class="saved" role="status">Saved: {html.escape(name)}</p>'
    with _lock:
        current = _account["name"]
    return page("Your account", f"""{notice}
<form method="post" action="/account">
<label for="name">Name</label>
<input id="name" name="name" type="text" maxlength="{NAME_MAX}" value="{html.escape(current)}">
<button type="submit">Save</button>
</form>""", status)


@app.route("/api/orders", methods=["GET", "POST"])
def orders() -> tuple[Response, int] | Response:
    """List the orders, or create one from a JSON body."""
    if request.method == "POST":
        payload = request.get_json(silent=True)
        item = payload.get("item") if isinstance(payload, dict) else None
        quantity = payload.get("quantity", 1) if isinstance(payload, dict) else None
        if not isinstance(item, str) or not item.strip() or len(item) > NAME_MAX:
            return jsonify(error="validation", field="item"), 400
        if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= 100:
            return jsonify(error="validation", field="quantity"), 400
        with _lock:
            order = {"id": next(_order_ids), "item": item.strip(), "quantity": quantity}
            _orders.append(order)
        return jsonify(order), 201
    with _lock:
        return jsonify(orders=list(_orders))


@app.post("/webhooks/payments")
def payment_webhook() -> Response:
    """Acknowledge a payment provider's event (allowlisted in Pausa: never blocked)."""
    payload = request.get_json(silent=True)
    event_id = payload.get("id") if isinstance(payload, dict) else None
    with _lock:
        _payments.append({"id": event_id})
    return jsonify(received=True, id=event_id)


@app.get("/healthz")
def healthz() -> Response:
    """Answer the load balancer's health check (allowlisted in Pausa: never blocked)."""
    return jsonify(status="ok")


@app.get("/admin")
def admin() -> Response:
    """Show the shop's own admin page (not Pausa's: blocked during maintenance unless allowlisted)."""
    with _lock:
        count, payments = len(_orders), len(_payments)
    return page("Shop admin", f"<p>{count} orders, {payments} payment events received.</p>")
