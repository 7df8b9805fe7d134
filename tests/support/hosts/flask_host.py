"""A Flask host app under Pausa's embedded gate (served by gunicorn in the tests and the bench)."""

from __future__ import annotations

import os

import naming
from flask import Flask, jsonify, request, session
from pausa_gate import PausaGate, Viewer

app = Flask(__name__)
app.secret_key = "flask-host-secret"

PAGE = """<!doctype html>
<html><head><title>Flask host</title>
<script src="/_pausa/static/js/watch.js" defer></script></head>
<body><h1>Flask host home</h1><p>Signed in as: {role}</p>
<form method="post" action="/form"><input name="note"><button>Save</button></form></body></html>
"""


@app.get("/")
def home():
    return PAGE.format(role=session.get("role", "nobody"))


@app.post("/form")
def form():
    return f"saved {request.form.get('note', '')}"


@app.get("/api/items")
def items():
    return jsonify(items=["a", "b"], host="flask")


@app.post("/webhooks/payment")
def webhook():
    return jsonify(received=True, host="flask")


@app.get("/login")
def login():
    session["role"] = request.args["role"]
    return f"signed in as {session['role']}"


def viewer(environ: dict) -> Viewer:
    """Read the role from the app's own session (a signed cookie), as a view would."""
    with app.request_context(environ):
        role = session.get("role")
    if role == "explode":  # lets the tests prove a failing viewer() counts as anonymous
        raise RuntimeError("the host app's viewer failed")
    return Viewer(role=role)


if os.environ.get("HOST_GATE", "on") != "off":
    # The "three lines": import, wrap, (PAUSA_URL, PAUSA_TOKEN, PAUSA_STATE_FILE from the environment).
    app.wsgi_app = PausaGate(app.wsgi_app, viewer=viewer)
app.wsgi_app = naming.wsgi(app.wsgi_app)
