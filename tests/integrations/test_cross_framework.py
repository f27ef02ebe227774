"""One user, one session, four frameworks behind one load balancer (one cookie name, one
server): a session written by Flask is read and changed by Django, Starlette and a plain WSGI
app, then read back by Flask; fifty concurrent requests of one user lose no key; and the
session keeps one lifetime and one cookie policy whichever app touches it."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

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


# -- one lifetime and one cookie policy across the four ------------------------------------

DAY = 24 * 3600


def _lifetime(header: str) -> int | None:
    """A Set-Cookie's lifetime in seconds (None: a browser-session cookie)."""
    attributes = {
        name.strip().lower(): value.strip()
        for name, _, value in (part.partition("=") for part in header.split(";")[1:])
    }
    if "max-age" in attributes:
        return int(attributes["max-age"])
    if "expires" in attributes:
        expires = parsedate_to_datetime(attributes["expires"])
        return round((expires - datetime.now(UTC)).total_seconds())
    return None


def _policy(header: str) -> tuple[str, ...]:
    """The attributes every app must agree on: name, path, SameSite, HttpOnly, Secure."""
    name = header.split("=", 1)[0]
    parts = {part.strip().lower() for part in header.split(";")[1:]}
    keep = [p for p in parts if p.startswith(("path=", "samesite=")) or p in ("httponly", "secure")]
    return (name, *sorted(keep))


class FourApps:
    """A Flask, a Django, a Starlette and a WSGI app behind one cookie name, each with its own
    lifetime setting: Flask 31 days (its default), Django 14 days (its default), Starlette one
    hour, WSGI browser-session cookies."""

    def __init__(self, url: str, django: DjangoClient) -> None:
        self.url = url
        flask_app = flask.Flask(__name__)
        flask_app.secret_key = "tests"
        flask_app.config.update(SESSIONSERVER_URL=url, SESSION_COOKIE_SAMESITE="Lax")
        init_app(flask_app)

        @flask_app.get("/set/<key>/<value>")
        def set_value(key: str, value: str) -> str:
            flask.session[key] = value
            return "ok"

        @flask_app.get("/permanent")
        def permanent() -> str:
            flask.session.permanent = True
            return "ok"

        @flask_app.get("/read")
        def read() -> str:
            return str(dict(flask.session))

        self.flask_app = flask_app
        self.flask = flask_app.test_client()
        self.django = django

        async def star_set(request: Request) -> Response:
            if "blind" not in request.query_params:
                assert request.session.get("nothing") is None  # a read: the session is known
            request.session[request.path_params["key"]] = request.path_params["value"]
            return PlainTextResponse("ok")

        async def star_read(request: Request) -> Response:
            return JSONResponse(dict(request.session))

        starlette = Starlette(
            routes=[Route("/set/{key}/{value}", star_set), Route("/read", star_read)]
        )
        starlette.add_middleware(ASGISessions, url=url, session_cookie=COOKIE, max_age=3600)
        self.starlette = TestClient(starlette)

        @WRequest.application
        def wsgi_view(request: WRequest) -> WResponse:
            session = request.environ["sessionserver.session"]
            _, key, value = request.path.strip("/").split("/")
            if "blind" not in request.args:
                assert session.get("nothing") is None
            session[key] = value
            return WResponse("ok")

        self.wsgi_app = WSGISessions(wsgi_view, url=url, session_cookie=COOKIE, max_age=None)
        self.wsgi = WerkzeugClient(self.wsgi_app)

    def set(self, app: str, sid: str, key: str, value: str, *, blind: bool = False) -> str | None:
        """Set a key through ``app`` with the cookie ``sid`` (after reading the session,
        unless ``blind``); the Set-Cookie sent back."""
        path = f"/set/{key}/{value}" + ("?blind=1" if blind else "")
        if app == "flask":
            self.flask.set_cookie(COOKIE, sid)
            return self.flask.get(path).headers.get("Set-Cookie")
        if app == "django":
            self.django.cookies[COOKIE] = sid
            response = self.django.get(path)
            cookie = response.cookies.get(COOKIE)
            return cookie.output(header="").strip() if cookie is not None else None
        if app == "starlette":
            self.starlette.cookies.set(COOKIE, sid)
            return self.starlette.get(path).headers.get("set-cookie")
        self.wsgi.set_cookie(COOKIE, sid)
        return self.wsgi.get(path).headers.get("Set-Cookie")

    def left(self, sid: str) -> int:
        with SessionClient(self.url) as c:
            return c.expires(sid)

    def close(self) -> None:
        self.flask_app.session_interface.client.close()  # type: ignore[attr-defined]
        self.starlette.close()
        self.wsgi_app.client.close()


@pytest.fixture
def four(session_url: str, django_client: DjangoClient) -> Iterator[FourApps]:
    apps = FourApps(session_url, django_client)
    yield apps
    apps.close()


APPS = ("flask", "django", "starlette", "wsgi")


def test_a_session_keeps_the_lifetime_it_was_made_with_whichever_app_touches_it(
    four: FourApps,
) -> None:
    four.django.cookies.pop(COOKIE, None)
    made = four.django.get("/set/who/django")
    sid = made.cookies[COOKIE].value
    assert made.cookies[COOKIE]["max-age"] == 14 * DAY  # Django's SESSION_COOKIE_AGE
    policies = set()
    for app in APPS:
        header = four.set(app, sid, app, "1")
        assert header is not None and header.startswith(f"{COOKIE}={sid}")
        # the cookie goes out with the session's own seconds left: not Flask's 31 days or
        # browser-session cookie, not Starlette's hour, not WSGI's browser-session setting
        lifetime = _lifetime(header)
        assert lifetime is not None and 14 * DAY - 10 <= lifetime <= 14 * DAY, (app, header)
        assert 14 * DAY - 10 <= four.left(sid) <= 14 * DAY  # and it keeps it on the server
        policies.add(_policy(header))
    assert policies == {(COOKIE, "httponly", "path=/", "samesite=lax")}  # one cookie policy


def test_a_browser_session_cookie_stays_one_and_a_lifetime_given_on_purpose_sticks(
    four: FourApps,
) -> None:
    made = four.flask.get("/set/who/flask")  # Flask's default: not permanent
    first: str = made.headers["Set-Cookie"]
    sid = first.split(";")[0].split("=", 1)[1]
    assert _lifetime(first) is None
    for app in ("starlette", "django", "wsgi", "flask"):
        header = four.set(app, sid, app, "1")
        assert header is not None and _lifetime(header) is None, (app, header)
    for app in ("starlette", "wsgi"):
        # a write that did not read cannot tell the kind: the browser keeps its cookie
        assert four.set(app, sid, app, "2", blind=True) is None
    # Flask makes it permanent, on purpose: 31 days on the server and in every app's cookie
    four.flask.set_cookie(COOKIE, sid)
    lifetime = _lifetime(four.flask.get("/permanent").headers["Set-Cookie"])
    assert lifetime is not None and 31 * DAY - 10 <= lifetime <= 31 * DAY  # Expires: to the second
    for app in ("starlette", "django", "wsgi"):
        header = four.set(app, sid, app, "3")
        lifetime = _lifetime(header or "")
        assert lifetime is not None and 31 * DAY - 10 <= lifetime <= 31 * DAY, (app, header)
    assert 31 * DAY - 10 <= four.left(sid) <= 31 * DAY


def test_reading_never_sends_the_cookie_again(four: FourApps) -> None:
    with SessionClient(four.url) as c:
        sid = c.create({"a": '"1"'}, ttl=600)  # a PHP page's, say: ten minutes
    four.starlette.cookies.set(COOKIE, sid)
    assert "set-cookie" not in four.starlette.get("/read").headers
    four.flask.set_cookie(COOKIE, sid)
    assert "Set-Cookie" not in four.flask.get("/read").headers
    four.django.cookies[COOKIE] = sid
    assert COOKIE not in four.django.get("/all").cookies
    assert 590 <= four.left(sid) <= 600
