"""sessionserver.middleware.wsgi through werkzeug's test client."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from sessionserver import SessionClient
from sessionserver.middleware.wsgi import SessionMiddleware


@Request.application
def view(request: Request) -> Response:
    session = request.environ["sessionserver.session"]
    path = request.path.strip("/").split("/")
    if path[0] == "set":
        session[path[1]] = path[2]
    elif path[0] == "incr":
        session["n"] = session.get("n", 0) + 1
    elif path[0] == "login":
        session.regenerate()
        session["user"] = "alice"
    elif path[0] == "logout":
        session.invalidate()
    elif path[0] == "boom":
        session["lost"] = "yes"
        return Response("boom", status=500)
    elif path[0] == "plain":
        return Response("no session")
    return Response(repr(sorted(dict(session).items())))


@pytest.fixture
def app(session_url: str) -> Iterator[SessionMiddleware]:
    wrapped = SessionMiddleware(view, url=session_url)
    yield wrapped
    wrapped.client.close()


def test_round_trip(app: SessionMiddleware, session_url: str) -> None:
    c = Client(app)
    r = c.get("/set/user/42")
    assert r.headers["Vary"] == "Cookie"
    sid = c.get_cookie("session").value  # type: ignore[union-attr]
    assert r.headers["Set-Cookie"].startswith(f"session={sid}; Max-Age=1209600")
    r = c.get("/incr")
    assert r.text == "[('n', 1), ('user', '42')]"
    assert c.get("/incr").text == "[('n', 2), ('user', '42')]"
    r = c.get("/plain")
    assert "Vary" not in r.headers and "Set-Cookie" not in r.headers
    with SessionClient(session_url) as s:
        assert s.read(sid) == {"user": b'"42"', "n": b"2"}


def test_login_logout_and_5xx(app: SessionMiddleware) -> None:
    c = Client(app)
    c.get("/set/cart/3")
    before = c.get_cookie("session").value  # type: ignore[union-attr]
    c.get("/login")
    after = c.get_cookie("session").value  # type: ignore[union-attr]
    assert before != after
    assert c.get("/boom").status_code == 500
    assert c.get("/").text == "[('cart', '3'), ('user', 'alice')]"
    c.get("/logout")
    assert c.get_cookie("session") is None


def test_lock_mode(session_url: str) -> None:
    app = SessionMiddleware(view, url=session_url, lock=True)
    c = Client(app)
    c.get("/set/a/1")
    assert c.get("/incr").text == "[('a', '1'), ('n', 1)]"
    app.client.close()


def test_the_app_iterable_is_closed(session_url: str) -> None:
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b"x"

        def close(self) -> None:
            closed.append(True)

    def raw(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        environ["sessionserver.session"]["k"] = "v"
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body()

    app = SessionMiddleware(raw, url=session_url)
    response = Client(app).get("/")
    assert response.text == "x"
    response.close()  # what a WSGI server does when it is done with the body
    assert closed == [True]
    app.client.close()
