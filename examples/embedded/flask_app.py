"""Put a Flask app under Pausa's control: the three lines are marked below.

    pip install ./gate                       # or pausa-gate from your package index
    export PAUSA_URL=https://pausa.example.com
    export PAUSA_TOKEN=pausa_...             # flask tokens create my-shop --scope gate  (on Pausa)
    export PAUSA_STATE_FILE=/var/lib/my-shop/pausa-feed.json   # optional: enforced on boot if Pausa is down
"""

from flask import Flask, session
from pausa_gate import PausaGate  # 1
from werkzeug.middleware.proxy_fix import ProxyFix

app = Flask(__name__)
app.secret_key = "change me"


@app.get("/")
def home():
    return "Hello from the shop"


def viewer(environ):
    """Tell the gate who is asking, so your own staff pass as the window allows (None: anonymous)."""
    with app.request_context(environ):
        return session.get("role")  # 2  (or: current_user.role if current_user.is_authenticated else None)


app.wsgi_app = PausaGate(app.wsgi_app, viewer=viewer)  # 3
# Behind a load balancer, keep ProxyFix outside the gate, so a window's IP allowlist sees the client's IP.
app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
