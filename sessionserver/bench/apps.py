"""The web apps of the HTTP benchmark, one view each that reads and writes the session.

Started by gunicorn (Flask) or uvicorn (Starlette) from ``web.py``; which session store backs
them comes from the environment: ``BENCH_STORE`` is ``sessionserver`` (this project's adapters,
``SESSIONSERVER_URL``), ``sessionserver-autoload`` (the ASGI middleware loading before the
view, as starsessions' autoload does, instead of on first read) or ``redis`` (Flask-Session /
starsessions on ``BENCH_REDIS_URL``, with keys under ``BENCH_PREFIX``).
"""

from __future__ import annotations

import os
from typing import Any


def flask_app() -> Any:
    import flask

    app = flask.Flask("bench")
    app.secret_key = "bench"
    if os.environ.get("BENCH_STORE") == "redis":
        import redis
        from flask_session import Session

        app.config.update(
            SESSION_TYPE="redis",
            SESSION_REDIS=redis.Redis.from_url(os.environ["BENCH_REDIS_URL"]),
            SESSION_KEY_PREFIX=os.environ["BENCH_PREFIX"] + ":",
        )
        Session(app)
    else:
        from sessionserver.integrations.flask import init_app

        app.config["SESSIONSERVER_URL"] = os.environ["SESSIONSERVER_URL"]
        # as many pooled connections as gunicorn's threads (redis-py's pool has no bound)
        app.config["SESSIONSERVER_OPTIONS"] = {"max_connections": 64}
        init_app(app)

    @app.get("/")
    def view() -> str:
        flask.session["n"] = flask.session.get("n", 0) + 1
        return str(flask.session["n"])

    return app


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def view(request: Request) -> PlainTextResponse:
        request.session["n"] = request.session.get("n", 0) + 1
        return PlainTextResponse(str(request.session["n"]))

    app = Starlette(routes=[Route("/", view)])
    if os.environ.get("BENCH_STORE") == "redis":
        from redis.asyncio import Redis
        from starsessions import SessionAutoloadMiddleware, SessionMiddleware
        from starsessions.stores.redis import RedisStore

        store = RedisStore(
            connection=Redis.from_url(os.environ["BENCH_REDIS_URL"]),
            prefix=os.environ["BENCH_PREFIX"] + ":",
        )
        app.add_middleware(SessionAutoloadMiddleware)
        app.add_middleware(SessionMiddleware, store=store, cookie_https_only=False, lifetime=1440)
    else:
        from sessionserver.client import AsyncSessionClient
        from sessionserver.middleware.asgi import SessionMiddleware as ServerSessions

        # a pooled connection per concurrent request, as on the Flask side
        client = AsyncSessionClient(os.environ["SESSIONSERVER_URL"], max_connections=64)
        autoload = os.environ.get("BENCH_STORE") == "sessionserver-autoload"
        app.add_middleware(ServerSessions, client=client, autoload=autoload)
    return app
