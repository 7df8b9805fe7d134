"""A Django project's wsgi.py under Pausa's control: the three lines are marked below.

Set PAUSA_URL, PAUSA_TOKEN (a token with the `gate` scope) and, optionally,
PAUSA_STATE_FILE and PAUSA_FAIL_MODE in the environment, as for any setting.
"""

import os
from importlib import import_module

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.http import parse_cookie
from pausa_gate import PausaGate  # 1

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
application = get_wsgi_application()


def viewer(environ):
    """Return the signed-in user's role: the gate runs before Django, so it reads the session itself."""
    from django.contrib.auth import get_user_model

    key = parse_cookie(environ.get("HTTP_COOKIE", "")).get(settings.SESSION_COOKIE_NAME)
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)
    user_id = session.get("_auth_user_id")  # what django.contrib.auth keeps in the session
    if user_id is None:
        return None
    user = get_user_model().objects.filter(pk=user_id).first()  # only asked when a window blocks
    return "admin" if user is not None and user.is_superuser else getattr(user, "role", None)  # 2


application = PausaGate(application, viewer=viewer)  # 3
