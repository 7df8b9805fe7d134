"""The smallest Django settings a host app with sessions needs: no database at all."""

SECRET_KEY = "django-host-secret"  # noqa: S105 - a test host app
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "django_host.urls"
INSTALLED_APPS = ["django.contrib.sessions"]
MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware"]
# Signed-cookie sessions: the role a visitor signed in with needs no database.
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
DATABASES: dict = {}
USE_TZ = True
