"""Settings of the example site: the one line that matters is SESSION_ENGINE."""

import os

SECRET_KEY = "example-only-change-me"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["django.contrib.sessions"]
MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware"]
ROOT_URLCONF = "site_urls"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

SESSION_ENGINE = "sessionserver.integrations.django"
SESSIONSERVER_URL = os.environ.get("SESSIONSERVER_URL", "sessionserver://127.0.0.1:9090")
SESSION_COOKIE_NAME = "session"  # the same cookie as the other examples: shared sessions
