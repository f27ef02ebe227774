"""Settings of the account site: its sessions in the session server, under the cookie the
Flask shop and the FastAPI cart use too (name ``session``, path ``/``, SameSite Lax)."""

import os

SECRET_KEY = os.environ.get("SECRET_KEY", "example only: set SECRET_KEY")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["django.contrib.sessions"]
MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware"]
ROOT_URLCONF = "examples.cluster.account.urls"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

SESSION_ENGINE = "sessionserver.integrations.django"
SESSIONSERVER_URL = os.environ.get("SESSIONSERVER_URL", "sessionserver://127.0.0.1:9090")
SESSION_COOKIE_NAME = "session"
