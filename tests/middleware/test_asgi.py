"""sessionserver.middleware.asgi through Starlette's TestClient, and FastAPI through httpx's ASGI
transport."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import httpx
import pytest
from fastapi import FastAPI, Request
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from sessionserver import SessionClient
from sessionserver.exceptions import ConnectError
from sessionserver.middleware.asgi import SessionMiddleware, load_session


async def set_value(request: Request) -> Response:
    request.session[request.path_params["key"]] = request.path_params["value"]
    return PlainTextResponse("ok")


async def get_all(request: Request) -> Response:
    return JSONResponse(dict(request.session))


async def append(request: Request) -> Response:
    request.session["cart"].append(len(request.session["cart"]))
    return PlainTextResponse("ok")


async def plain(request: Request) -> Response:
    return PlainTextResponse("no session")


async def login(request: Request) -> Response:
    request.session.regenerate()  # type: ignore[attr-defined]
    request.session["user"] = "alice"
    return PlainTextResponse("ok")


async def logout(request: Request) -> Response:
    request.session.invalidate()  # type: ignore[attr-defined]
    return PlainTextResponse("ok")


async def clear(request: Request) -> Response:
    request.session.clear()
    return PlainTextResponse("ok")


async def boom(request: Request) -> Response:
    request.session["lost"] = "yes"
    return PlainTextResponse("boom", status_code=503)


ROUTES = [
    Route("/set/{key}/{value}", set_value),
    Route("/all", get_all),
    Route("/plain", plain),
    Route("/append", append),
    Route("/login", login),
    Route("/logout", logout),
    Route("/clear", clear),
    Route("/boom", boom),
]


def make_app(url: str, **options: object) -> Starlette:
    app = Starlette(routes=ROUTES)
    app.add_middleware(SessionMiddleware, url=url, **options)  # type: ignore[arg-type]
    return app


@pytest.fixture
def client(session_url: str) -> Iterator[TestClient]:
    with TestClient(make_app(session_url)) as c:  # with lifespan: one pool for all requests
        yield c


def test_round_trip_set_cookie_only_when_modified(client: TestClient, session_url: str) -> None:
    r = client.get("/set/user/42")
    header = r.headers["set-cookie"]
    sid = client.cookies["session"]
    assert header == f"session={sid}; Max-Age=1209600; path=/; httponly; samesite=lax"
    assert r.headers["vary"] == "Cookie"
    r = client.get("/all")
    assert r.json() == {"user": "42"}
    assert "set-cookie" not in r.headers and r.headers["vary"] == "Cookie"
    r = client.get("/plain")
    assert "set-cookie" not in r.headers and "vary" not in r.headers
    with SessionClient(session_url) as c:
        assert c.read(sid) == {"user": b'"42"'}
        assert c.expires(sid) == 1209600  # max_age is the server-side lifetime too


def test_changes_inside_values_are_saved(client: TestClient, session_url: str) -> None:
    with SessionClient(session_url) as c:
        sid = c.create({"cart": "[]"})
    client.cookies.set("session", sid)
    client.get("/append")
    client.get("/append")
    assert client.get("/all").json() == {"cart": [0, 1]}


def test_options_like_starlettes(session_url: str) -> None:
    app = make_app(
        session_url,
        session_cookie="sid",
        max_age=None,
        path="/app",
        same_site="strict",
        https_only=True,
        domain="example.com",
        partitioned=True,
    )
    with TestClient(app, base_url="https://example.com") as c:
        header = c.get("/set/a/1").headers["set-cookie"]
    assert header.startswith("sid=") and "Max-Age" not in header
    assert (
        "; path=/app; domain=example.com; httponly; samesite=strict; secure; partitioned" in header
    )


def test_login_logout_clear_and_no_save_on_5xx(client: TestClient, session_url: str) -> None:
    client.get("/set/cart/3")
    before = client.cookies["session"]
    client.get("/login")
    after = client.cookies["session"]
    assert after != before
    assert client.get("/all").json() == {"cart": "3", "user": "alice"}
    assert client.get("/boom").status_code == 503
    assert client.get("/all").json() == {"cart": "3", "user": "alice"}
    r = client.get("/logout")
    assert "expires=Thu, 01 Jan 1970" in r.headers["set-cookie"]
    with SessionClient(session_url) as c:
        for sid in (before, after):
            with pytest.raises(Exception, match="Could not open session"):
                c.peek(sid)
    client.get("/set/a/1")
    assert "expires=Thu, 01 Jan 1970" in client.get("/clear").headers["set-cookie"]


def test_without_lifespan_each_request_closes_its_connections(session_url: str) -> None:
    c = TestClient(make_app(session_url))  # every request in a new event loop
    c.get("/set/a/1")
    assert c.get("/all").json() == {"a": "1"}


def test_fastapi_through_httpx(session_url: str) -> None:
    app = FastAPI()
    app.add_middleware(SessionMiddleware, url=session_url)

    @app.get("/count")
    async def count(request: Request) -> dict[str, int]:
        request.session["n"] = request.session.get("n", 0) + 1
        return {"n": request.session["n"]}

    async def run() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            seen = [(await c.get("/count")).json()["n"] for _ in range(3)]
        return seen

    import asyncio

    assert asyncio.run(run()) == [1, 2, 3]


def test_unreachable_server_is_a_clear_error() -> None:
    with TestClient(make_app("sessionserver://127.0.0.1:1")) as c:
        c.cookies.set("session", "0123456789abcdef0123456789abcdef")
        with pytest.raises(ConnectError, match=r"127\.0\.0\.1:1"):
            c.get("/all")
        # a route that does not read the session does not care that the server is away
        assert c.get("/plain").status_code == 200


def test_autoload_reads_without_a_portal_and_keeps_the_rules(session_url: str) -> None:
    """With ``autoload=True`` the session is there before the view: a read in a task of its
    own needs no ``load_session``, and the saving rules are the lazy session's (no cookie and
    no ``Vary`` for a request that did not touch it, nothing saved on a 5xx)."""

    async def in_a_task(request: Request) -> Response:
        seen: list[object] = []

        async def child() -> None:
            seen.append(dict(request.session))

        async with anyio.create_task_group() as tg:
            tg.start_soon(child)
        return JSONResponse(seen[0])

    app = Starlette(routes=[*ROUTES, Route("/task", in_a_task)])
    app.add_middleware(SessionMiddleware, url=session_url, autoload=True)
    with TestClient(app) as c:
        first = c.get("/set/a/1")
        assert "set-cookie" in first.headers and first.headers["vary"] == "Cookie"
        assert c.get("/task").json() == {"a": "1"}
        untouched = c.get("/plain")
        assert "set-cookie" not in untouched.headers and "vary" not in untouched.headers
        assert c.get("/boom").status_code == 503
        assert c.get("/all").json() == {"a": "1"}


def test_autoload_needs_the_server_on_the_paths_it_names() -> None:
    app = make_app("sessionserver://127.0.0.1:1", autoload=r"/all")  # one pattern
    with TestClient(app) as c:
        c.cookies.set("session", "0123456789abcdef0123456789abcdef")
        with pytest.raises(ConnectError, match=r"127\.0\.0\.1:1"):
            c.get("/all")
        assert c.get("/plain").status_code == 200  # a path it does not name stays lazy


def test_a_session_read_in_a_task_of_its_own_needs_load_session(session_url: str) -> None:
    async def in_a_task(request: Request) -> Response:
        seen: list[object] = []

        async def child(load: bool) -> None:
            if load:
                await load_session(request)
            seen.append(dict(request.session))

        async with anyio.create_task_group() as tg:
            tg.start_soon(child, request.query_params.get("load") == "1")
        return JSONResponse(seen[0])

    app = Starlette(routes=[*ROUTES, Route("/task", in_a_task)])
    app.add_middleware(SessionMiddleware, url=session_url)
    with TestClient(app) as c:
        c.get("/set/a/1")
        assert c.get("/task?load=1").json() == {"a": "1"}
        with pytest.raises(ExceptionGroup) as raised:
            c.get("/task")
        (error,) = raised.value.exceptions
        assert isinstance(error, RuntimeError) and "load_session" in str(error)


def test_a_cookie_sent_again_carries_the_sessions_own_lifetime(session_url: str) -> None:
    with SessionClient(session_url) as c:
        sid = c.create({"cart": "[]"}, ttl=7200)  # made by another app, with its lifetime
    with TestClient(make_app(session_url, max_age=60)) as web:
        web.cookies.set("session", sid)
        assert "set-cookie" not in web.get("/all").headers  # read only: not sent again
        header = web.get("/append").headers["set-cookie"]  # read, then changed
        assert header == f"session={sid}; Max-Age=7200; path=/; httponly; samesite=lax"
        # a write that never read cannot tell which kind of cookie the session has, so the
        # browser keeps the one it has
        assert "set-cookie" not in web.get("/set/b/2").headers
    with SessionClient(session_url) as c:
        assert c.expires(sid) == 7200  # and it keeps that lifetime on the server
        assert c.read(sid) == {"cart": b"[0]", "b": b'"2"'}
