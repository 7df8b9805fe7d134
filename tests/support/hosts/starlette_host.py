"""A Starlette host app under Pausa's embedded ASGI gate (served by uvicorn in the tests)."""

from __future__ import annotations

import contextlib
import os
from urllib.parse import parse_qs

import naming
from pausa_gate.asgi import PausaGateASGI
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute

STARTED = {"lifespan": False}


async def home(request):
    role = request.session.get("role", "nobody")
    return HTMLResponse(f"<!doctype html><html><body><h1>Starlette host home</h1><p>Signed in as: {role}</p>"
                        f"<p>lifespan ran: {STARTED['lifespan']}</p></body></html>")


async def form(request):
    # Parsed by hand: Starlette's request.form() needs python-multipart, one more package for one field.
    data = parse_qs((await request.body()).decode())
    return PlainTextResponse(f"saved {data.get('note', [''])[0]}")


async def items(request):
    return JSONResponse({"items": ["a", "b"], "host": "starlette"})


async def webhook(request):
    return JSONResponse({"received": True, "host": "starlette"})


async def login(request):
    request.session["role"] = request.query_params["role"]
    return PlainTextResponse(f"signed in as {request.session['role']}")


async def echo(websocket):
    await websocket.accept()
    await websocket.send_text("hello from the host app")
    await websocket.close()


@contextlib.asynccontextmanager
async def lifespan(app):
    STARTED["lifespan"] = True  # proves the gate passes lifespan events through
    yield


def viewer(scope):
    """Read the role from the session the outer SessionMiddleware put in the scope."""
    return scope.get("session", {}).get("role")


middleware = [Middleware(SessionMiddleware, secret_key="starlette-host-secret")]
if os.environ.get("HOST_GATE", "on") != "off":
    # Inside the session middleware, so viewer() reads the session like any view.
    middleware.append(Middleware(PausaGateASGI, viewer=viewer))

starlette_app = Starlette(
    routes=[
        Route("/", home),
        Route("/form", form, methods=["POST"]),
        Route("/api/items", items),
        Route("/webhooks/payment", webhook, methods=["POST"]),
        Route("/login", login),
        WebSocketRoute("/ws", echo),
    ],
    middleware=middleware,
    lifespan=lifespan,
)
app = naming.asgi(starlette_app)
