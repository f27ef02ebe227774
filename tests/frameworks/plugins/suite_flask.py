"""Loaded into Flask's own test run (``-p suite_flask``): every Flask app keeps its sessions in
the session server.

Flask's default interface is a class attribute of ``Flask``, shared by every app; this puts
ours in its place, so the suite's own ``app`` fixtures run against the daemon at
``SESSIONSERVER_URL`` without a line of them changed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import flask
import pytest

from sessionserver.integrations.flask import SessionServerInterface

interface = SessionServerInterface(os.environ["SESSIONSERVER_URL"])
flask.Flask.session_interface = interface


@pytest.fixture(scope="session", autouse=True)
def _close_the_client() -> Iterator[None]:
    yield
    interface.client.close()
