"""Commands each adapter sends per kind of request, counted by the daemon (``stats``
``commands_total`` before and after; the second ``stats`` counts itself)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from typing import Any

import flask
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from werkzeug.test import Client as WerkzeugClient
from werkzeug.wrappers import Request as WRequest
from werkzeug.wrappers import Response as WResponse

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.integrations.django_settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.test import Client as DjangoClient  # noqa: E402

from sessionserver import SessionClient  # noqa: E402
from sessionserver.integrations import django as django_engine  # noqa: E402
from sessionserver.integrations.flask import init_app  # noqa: E402
from sessionserver.middleware.asgi import SessionMiddleware as ASGISessions  # noqa: E402
from sessionserver.middleware.wsgi import SessionMiddleware as WSGISessions  # noqa: E402


@pytest.fixture
def count(session_url: str) -> Iterator[Callable[[Callable[[], Any]], int]]:
    with SessionClient(session_url) as c:

        def commands(request: Callable[[], Any]) -> int:
            before = int(c.stats()["commands_total"])
            request()
            return int(c.stats()["commands_total"]) - before - 1

        yield commands


def _flask_app(session_url: str, **config: Any) -> flask.Flask:
    app = flask.Flask(__name__)
    app.secret_key = "tests"
    app.config.update(SESSIONSERVER_URL=session_url, **config)
    init_app(app)
    app.add_url_rule("/plain", "plain", lambda: "")
    app.add_url_rule("/read", "read", lambda: str(flask.session.get("a")))
    values = itertools.count()
    app.add_url_rule("/write", "write", lambda: flask.session.update(b=next(values)) or "")
    app.add_url_rule("/both", "both", lambda: flask.session.update(c=flask.session.get("a")) or "")

    @app.get("/permanent")
    def permanent() -> str:
        flask.session.permanent = True
        return ""

    return app


def test_flask(session_url: str, count: Callable[[Callable[[], Any]], int]) -> None:
    app = _flask_app(session_url, SESSION_REFRESH_EACH_REQUEST=False)
    web = app.test_client()
    try:
        assert count(lambda: web.get("/plain")) == 0  # no cookie
        assert count(lambda: web.get("/write")) == 1  # a new session: one create
        assert web.get_cookie("session") is not None
        assert count(lambda: web.get("/plain")) == 0  # a cookie, untouched
        assert count(lambda: web.get("/read")) == 1
        # Flask sends the cookie again on a change, permanent or not: knowing takes the read
        assert count(lambda: web.get("/write")) == 2
        assert count(lambda: web.get("/permanent")) == 1  # ... unless the app says
        assert count(lambda: web.get("/both")) == 2  # read, then one write
    finally:
        app.session_interface.client.close()  # type: ignore[attr-defined]


def test_flask_refreshing_each_request(
    session_url: str, count: Callable[[Callable[[], Any]], int]
) -> None:
    """Flask's default: the cookie of a permanent session goes out on every request, so an
    untouched request with a cookie reads the session to know whether it is one."""
    app = _flask_app(session_url)
    web = app.test_client()
    try:
        assert count(lambda: web.get("/plain")) == 0  # no cookie
        assert count(lambda: web.get("/write")) == 1
        assert count(lambda: web.get("/plain")) == 1  # the read that tells
        assert count(lambda: web.get("/read")) == 1
        assert count(lambda: web.get("/write")) == 2
        assert count(lambda: web.get("/both")) == 2
    finally:
        app.session_interface.client.close()  # type: ignore[attr-defined]


def test_wsgi(session_url: str, count: Callable[[Callable[[], Any]], int]) -> None:
    @WRequest.application
    def view(request: WRequest) -> WResponse:
        session = request.environ["sessionserver.session"]
        if request.path == "/read":
            return WResponse(str(session.get("a")))
        if request.path == "/write":
            session["b"] = 1
        if request.path == "/both":
            session["c"] = session.get("a", 0)
        return WResponse("")

    app = WSGISessions(view, url=session_url)
    web = WerkzeugClient(app)
    try:
        assert count(lambda: web.get("/plain")) == 0
        assert count(lambda: web.get("/write")) == 1
        assert web.get_cookie("session") is not None
        assert count(lambda: web.get("/plain")) == 0
        assert count(lambda: web.get("/read")) == 1
        assert count(lambda: web.get("/write")) == 1
        assert count(lambda: web.get("/both")) == 2
    finally:
        app.client.close()


def test_django(
    session_url: str, count: Callable[[Callable[[], Any]], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "SESSIONSERVER_URL", session_url)
    web = DjangoClient()
    try:
        assert count(lambda: web.get("/plain")) == 0
        assert count(lambda: web.get("/set/b/1")) == 1  # a new session: one create
        assert count(lambda: web.get("/plain")) == 0  # Django loads lazily too
        assert count(lambda: web.get("/all")) == 1
        assert count(lambda: web.get("/set/b/2")) == 2  # SessionBase loads before a write
    finally:
        for client in django_engine._clients.values():
            if isinstance(client, SessionClient):
                client.close()
        django_engine._clients.clear()


async def _plain(request: Request) -> Response:
    return PlainTextResponse("")


async def _read(request: Request) -> Response:
    return PlainTextResponse(str(request.session.get("a")))


async def _write(request: Request) -> Response:
    request.session["b"] = 1
    return PlainTextResponse("")


async def _both(request: Request) -> Response:
    request.session["c"] = request.session.get("a", 0)
    return PlainTextResponse("")


def _sync_read(request: Request) -> Response:  # a sync view: run in a worker thread
    return PlainTextResponse(str(request.session.get("a")))


def test_asgi(session_url: str, count: Callable[[Callable[[], Any]], int]) -> None:
    routes = [
        Route("/plain", _plain),
        Route("/read", _read),
        Route("/write", _write),
        Route("/both", _both),
        Route("/sync-read", _sync_read),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(ASGISessions, url=session_url)
    with TestClient(app) as web:
        assert count(lambda: web.get("/plain")) == 0
        assert count(lambda: web.get("/write")) == 1  # a new session: one create
        assert count(lambda: web.get("/plain")) == 0  # a cookie, untouched: loads nothing
        assert count(lambda: web.get("/read")) == 1
        assert count(lambda: web.get("/sync-read")) == 1
        assert count(lambda: web.get("/write")) == 1  # a blind write
        assert count(lambda: web.get("/both")) == 2  # read, then one write


def test_asgi_autoload(session_url: str, count: Callable[[Callable[[], Any]], int]) -> None:
    """``autoload`` loads before the view on the paths it names, as starsessions' does: one
    command more for a cookie-bearing request that never reads the session there, and the
    same count as lazy loading everywhere else."""
    routes = [Route("/plain", _plain), Route("/read", _read), Route("/write", _write)]
    routes += [Route("/api/plain", _plain), Route("/api/both", _both)]
    app = Starlette(routes=routes)
    app.add_middleware(ASGISessions, url=session_url, autoload=[r"/api/"])
    with TestClient(app) as web:
        assert count(lambda: web.get("/api/plain")) == 0  # no cookie: nothing to load
        assert count(lambda: web.get("/write")) == 1
        assert count(lambda: web.get("/api/plain")) == 1  # loaded, though never read
        assert count(lambda: web.get("/plain")) == 0  # not a path it names: lazy
        assert count(lambda: web.get("/read")) == 1
        assert count(lambda: web.get("/api/both")) == 2  # the load, then one write


def test_a_write_after_a_read_does_not_ask_the_seconds_left_again(session_url: str) -> None:
    """The read of the request said what the session has left; its write slides the same
    idle lifetime, so it is a plain ``write`` and the cookie carries what the read said."""
    sent: list[str] = []

    class Watched(SessionClient):
        def write_with_ttl(self, *args: Any, **kwargs: Any) -> int:
            sent.append("write withttl")
            return super().write_with_ttl(*args, **kwargs)

        def write(self, *args: Any, **kwargs: Any) -> None:
            sent.append("write")
            super().write(*args, **kwargs)

    @WRequest.application
    def view(request: WRequest) -> WResponse:
        session = request.environ["sessionserver.session"]
        session["n"] = session.get("n", 0) + 1
        return WResponse(str(session["n"]))

    client = Watched(session_url)
    app = WSGISessions(view, client=client, max_age=600)
    web = WerkzeugClient(app)
    try:
        assert web.get("/").text == "1"  # a new session: one create
        sid = web.get_cookie("session")
        assert sid is not None
        client.write(sid.value, ttl=300)  # its own lifetime, given elsewhere
        sent.clear()
        response = web.get("/")
        assert response.text == "2"
        assert sent == ["write"]
        assert "Max-Age=300" in response.headers["Set-Cookie"]  # the session's, not 600
    finally:
        client.close()
