"""One user, one session, four frameworks behind one load balancer (one cookie name, one
server): a session written by Flask is read and changed by Django, Starlette and a plain WSGI
app, then read back by Flask.  And fifty concurrent requests of one user lose no key."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator

import flask
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
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
from sessionserver.integrations.flask import init_app, logout_everywhere  # noqa: E402
from sessionserver.middleware.asgi import SessionMiddleware as ASGISessions  # noqa: E402
from sessionserver.middleware.wsgi import SessionMiddleware as WSGISessions  # noqa: E402

COOKIE = "session"


@pytest.fixture
def flask_app(session_url: str) -> Iterator[flask.Flask]:
    app = flask.Flask(__name__)
    app.secret_key = "tests"
    app.config["SESSIONSERVER_URL"] = session_url
    init_app(app)

    @app.get("/login/<user>")
    def login(user: str) -> str:
        flask.session.regenerate()  # type: ignore[attr-defined]
        flask.session["_user_id"] = user
        flask.session["cart"] = ["apple"]
        return "ok"

    @app.get("/all")
    def everything() -> flask.Response:
        return flask.jsonify(dict(flask.session))

    @app.get("/add/<int:i>")
    def add(i: int) -> str:
        flask.session[f"k{i}"] = len(flask.session)  # reads (loads), then writes its own key
        return "ok"

    @app.get("/logout-everywhere")
    def end_all() -> str:
        return str(logout_everywhere(flask.session["_user_id"]))

    yield app
    app.session_interface.client.close()  # type: ignore[attr-defined]


@pytest.fixture
def django_client(session_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[DjangoClient]:
    monkeypatch.setattr(settings, "SESSIONSERVER_URL", session_url)
    monkeypatch.setattr(settings, "SESSION_COOKIE_NAME", COOKIE)
    yield DjangoClient()
    for client in django_engine._clients.values():
        if isinstance(client, SessionClient):
            client.close()
    django_engine._clients.clear()


async def starlette_add(request: Request) -> Response:
    request.session["cart"] = [*request.session["cart"], "plum"]
    return PlainTextResponse("ok")


async def starlette_all(request: Request) -> Response:
    return JSONResponse(dict(request.session))


@WRequest.application
def wsgi_view(request: WRequest) -> WResponse:
    session = request.environ["sessionserver.session"]
    session["visits"] = session.get("visits", 0) + 1
    return WResponse(str(sorted(session)))


def test_one_session_across_four_frameworks(
    flask_app: flask.Flask, django_client: DjangoClient, session_url: str
) -> None:
    web = flask_app.test_client()
    web.get("/login/alice")
    sid = web.get_cookie(COOKIE).value  # type: ignore[union-attr]

    django_client.cookies[COOKIE] = sid
    assert django_client.get("/cart/pear").status_code == 200

    starlette = Starlette(routes=[Route("/add", starlette_add), Route("/all", starlette_all)])
    starlette.add_middleware(ASGISessions, url=session_url, session_cookie=COOKIE)
    with TestClient(starlette) as asgi:
        asgi.cookies.set(COOKIE, sid)
        asgi.get("/add")
        assert asgi.get("/all").json()["cart"] == ["apple", "pear", "plum"]

    wsgi = WSGISessions(wsgi_view, url=session_url, session_cookie=COOKIE)
    w = WerkzeugClient(wsgi)
    w.set_cookie(COOKIE, sid)
    assert w.get("/").text == "['_user_id', 'cart', 'visits']"
    wsgi.client.close()

    assert web.get("/all").json == {
        "_user_id": "alice",
        "cart": ["apple", "pear", "plum"],
        "visits": 1,
    }
    # and a PHP page on the text protocol reads the same keys, as JSON
    with SessionClient(session_url) as c:
        assert c.read(sid)["cart"] == b'["apple","pear","plum"]'


def test_fifty_concurrent_requests_lose_no_key(flask_app: flask.Flask) -> None:
    first = flask_app.test_client()
    first.get("/login/bob")
    sid = first.get_cookie(COOKIE).value  # type: ignore[union-attr]
    errors: list[BaseException] = []

    def request(i: int) -> None:
        try:
            client = flask_app.test_client()
            client.set_cookie(COOKIE, sid)
            assert client.get(f"/add/{i}").status_code == 200
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=request, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    data = first.get("/all").json or {}
    assert {f"k{i}" for i in range(50)} <= set(data)


def test_fifty_concurrent_asgi_requests_lose_no_key(session_url: str) -> None:
    async def add(request: Request) -> Response:
        request.session[request.path_params["key"]] = len(request.session)
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/add/{key}", add)])
    app.add_middleware(ASGISessions, url=session_url)

    async def run() -> set[str]:
        with SessionClient(session_url) as c:
            sid = c.create({"start": "0"})
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", cookies={COOKIE: sid}
        ) as client:
            replies = await asyncio.gather(*(client.get(f"/add/k{i}") for i in range(50)))
        assert all(r.status_code == 200 for r in replies)
        with SessionClient(session_url) as c:
            return set(c.read(sid))

    assert {f"k{i}" for i in range(50)} <= asyncio.run(run())


def test_log_out_everywhere_from_flask_and_django(
    flask_app: flask.Flask, django_client: DjangoClient, session_url: str
) -> None:
    from sessionserver.integrations.django import SessionStore, user_sessions
    from sessionserver.integrations.django import logout_everywhere as django_logout_everywhere

    stores = [SessionStore() for _ in range(3)]
    for store in stores:
        store["_auth_user_id"] = "5"  # what django.contrib.auth.login writes
        store.save()
    assert sorted(user_sessions(5)) == sorted(s.session_key for s in stores)
    assert django_logout_everywhere(5, keep=stores[0].session_key) == 2
    assert user_sessions(5) == [stores[0].session_key]

    phone, laptop = flask_app.test_client(), flask_app.test_client()
    phone.get("/login/carol")
    laptop.get("/login/carol")
    assert laptop.get("/logout-everywhere").text == "1"  # the phone's session
    assert phone.get("/all").json == {}
    assert (laptop.get("/all").json or {})["_user_id"] == "carol"
    with SessionClient(session_url) as c:
        assert len(c.user_sessions("carol")) == 1
