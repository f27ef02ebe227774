"""Settings for Django's own test runner (``runtests.py --settings=suite_django_settings``):
Django's ``test_sqlite`` settings, with sessions in the session server."""

from __future__ import annotations

import os

DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3"},
    "other": {"ENGINE": "django.db.backends.sqlite3"},
}
SECRET_KEY = "django_tests_secret_key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = False

SESSION_ENGINE = "sessionserver.integrations.django"
SESSIONSERVER_URL = os.environ["SESSIONSERVER_URL"]
