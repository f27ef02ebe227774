"""Django's ``SessionTestsMixin`` against this project's engine, as Django runs it against its
own backends: once as is and once with ``USE_TZ`` (as ``DatabaseSessionWithTimeZoneTests``).

Run by Django's ``runtests.py`` from its sdist, which puts its tests folder (and so
``sessions_tests``) on the path; the mixin's tests are Django's, unchanged.
"""

from __future__ import annotations

from django.test import SimpleTestCase, override_settings
from sessions_tests.tests import SessionTestsMixin

from sessionserver.integrations.django import SessionStore


class SessionServerTests(SessionTestsMixin, SimpleTestCase):
    backend = SessionStore


@override_settings(USE_TZ=True)
class SessionServerWithTimeZoneTests(SessionServerTests):
    pass
