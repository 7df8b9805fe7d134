"""The Django host app's WSGI entry point, wrapped in Pausa's gate (what a project's wsgi.py holds)."""

import os
from importlib import import_module

import naming
from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.http import parse_cookie
from pausa_gate import PausaGate

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_host.settings")
application = get_wsgi_application()


def viewer(environ):
    """Read the role from Django's own session, before any view runs."""
    key = parse_cookie(environ.get("HTTP_COOKIE", "")).get(settings.SESSION_COOKIE_NAME)
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)
    return store.get("role")


if os.environ.get("HOST_GATE", "on") != "off":
    application = PausaGate(application, viewer=viewer)
application = naming.wsgi(application)
