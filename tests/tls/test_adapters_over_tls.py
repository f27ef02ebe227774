"""The adapters take a URL, so ``sessionservers://`` carries them over TLS: WSGI, and ASGI on
asyncio and on trio."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from werkzeug.test import Client
from werkzeug.wrappers import Request as WsgiRequest
from werkzeug.wrappers import Response as WsgiResponse

from middleware.asgi import SessionMiddleware as AsgiSessions
from middleware.wsgi import SessionMiddleware as WsgiSessions
from sessionserver.bench.certs import Certificates

from ..helpers import Daemon


def url(daemon: Daemon, certs: Certificates) -> str:
    return f"sessionservers://127.0.0.1:{daemon.port}?ca={certs.ca}"


def test_wsgi_over_tls(tls_daemon: Daemon, certs: Certificates) -> None:
    @WsgiRequest.application
    def count(request: WsgiRequest) -> WsgiResponse:
        session = request.environ["sessionserver.session"]
        session["n"] = session.get("n", 0) + 1
        return WsgiResponse(str(session["n"]))

    app = WsgiSessions(count, url=url(tls_daemon, certs))
    try:
        c = Client(app)
        assert [c.get("/").text for _ in range(3)] == ["1", "2", "3"]
    finally:
        app.client.close()


@pytest.mark.anyio
async def test_asgi_over_tls(tls_daemon: Daemon, certs: Certificates) -> None:
    async def count(request: Request) -> PlainTextResponse:
        request.session["n"] = request.session.get("n", 0) + 1
        return PlainTextResponse(str(request.session["n"]))

    app = Starlette(
        routes=[Route("/", count)],
        middleware=[Middleware(AsgiSessions, url=url(tls_daemon, certs))],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        assert [(await c.get("/")).text for _ in range(3)] == ["1", "2", "3"]
