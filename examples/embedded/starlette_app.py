"""A Starlette or FastAPI app under Pausa's control: the three lines are marked below.

    pip install ./gate
    PAUSA_URL=https://pausa.example.com PAUSA_TOKEN=pausa_... uvicorn starlette_app:app

A blocked websocket is closed with code 1013 ("try again later"); lifespan events pass through.
"""

from pausa_gate.asgi import PausaGateASGI  # 1
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def home(request):
    return PlainTextResponse("Hello from the API")


def viewer(scope):
    """Read the role your login put in the session (the gate sits inside SessionMiddleware)."""
    return scope.get("session", {}).get("role")  # 2


app = Starlette(
    routes=[Route("/", home)],
    middleware=[
        Middleware(SessionMiddleware, secret_key="change me"),
        Middleware(PausaGateASGI, viewer=viewer),  # 3
    ],
)

# FastAPI is the same: app = FastAPI(); app.add_middleware(PausaGateASGI, viewer=viewer)
# (added after SessionMiddleware, so it runs inside it).
