"""Loaded into Starlette's own test run (``-p suite_starlette``): its ``SessionMiddleware`` is
this project's, talking to the daemon at ``SESSIONSERVER_URL``.

The test module imports ``SessionMiddleware`` from ``starlette.middleware.sessions`` when it is
collected, after this plugin has put ours there.  Starlette's takes a ``secret_key`` to sign its
cookie; ours keeps the data on the server and needs none, so it is dropped here.
"""

from __future__ import annotations

import os
from typing import Any

import starlette.middleware.sessions

from sessionserver.middleware.asgi import SessionMiddleware

URL = os.environ["SESSIONSERVER_URL"]


class SuiteSessionMiddleware(SessionMiddleware):
    def __init__(self, app: Any, secret_key: object = None, **options: Any) -> None:
        super().__init__(app, URL, **options)


starlette.middleware.sessions.SessionMiddleware = SuiteSessionMiddleware  # type: ignore[misc,assignment]
