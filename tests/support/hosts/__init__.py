"""Three small host apps the embedded gate's tests and bench run under real servers.

Each has a home page, a form POST, an /api route, an allowlisted /webhooks route
and /login?role=... (the role goes into the app's own session; its viewer()
reads it back). HOST_GATE=off serves the app without the gate (the bench's
baseline). Their directory is put on PYTHONPATH, so they import as
`flask_host`, `django_host.wsgi` and `starlette_host`.
"""
