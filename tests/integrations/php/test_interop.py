"""PHP pages and Python apps share sessions key by key: what one writes, the other reads, with
its type; a value that is not JSON reads as its text; PHP rewrites only the keys it changed."""

from __future__ import annotations

import json
from collections.abc import Iterator

import flask
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from sessionserver import SessionClient
from sessionserver.integrations.flask import init_app
from sessionserver.middleware.asgi import SessionMiddleware

from ...helpers import Daemon
from .server import PhpServer, result

TYPED = {
    "name": 'Zoë ☕ "quoted" \\ / line\nbreak',
    "count": 42,
    "big": -(2**53),
    "price": 9.5,
    "whole": 2.0,
    "yes": True,
    "no": False,
    "nothing": None,
    "empty": "",
    "list": [1, "two", [3.5, None]],
    "map": {"a": 1, "b": {"c": [True]}},
    "0": "numeric key",
}


@pytest.fixture(scope="module")
def shared(daemon: Daemon, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PhpServer]:
    """PHP pages with the Python adapters' cookie name, so a browser shares one session."""
    address = f"{daemon.host}:{daemon.port}"
    ini = {"session.name": "session"}
    with PhpServer(tmp_path_factory.mktemp("php"), address, ini=ini, workers=2) as server:
        yield server


def test_keys_written_by_php_read_from_python(php: PhpServer, client: SessionClient) -> None:
    with php.browser() as browser:
        sid = result(browser.post("/set.php", json=TYPED))["id"]
    stored = client.read(sid)
    assert {k: json.loads(v) for k, v in stored.items()} == TYPED
    assert stored["whole"] == b"2.0"  # a float stays a float
    assert stored["name"] == json.dumps(TYPED["name"], ensure_ascii=False).encode()


def test_keys_written_by_python_read_from_php(php: PhpServer, client: SessionClient) -> None:
    values = {k: json.dumps(v, ensure_ascii=False) for k, v in TYPED.items()}
    sid = client.create({**values, "plain": "plain text, not JSON", "raw": b"\xff\xfe"})
    with php.browser(PHPSESSID=sid) as browser:
        seen = result(browser.get("/peek.php"))
    assert seen["id"] == sid
    # Every JSON value with its type; other values as their text (JSON-escaped by the page).
    assert seen["session"] == {**TYPED, "plain": "plain text, not JSON", "raw": None}


def test_php_rewrites_only_the_keys_it_changed(php: PhpServer, client: SessionClient) -> None:
    untouched = {
        "plain": b"plain text",  # not JSON: PHP reads its text, must not store it as "..."
        "spaced": b'{"a": 1}',  # JSON, not in PHP's spelling of it
        "big": b"123456789012345678901234567890",
    }
    sid = client.create({**untouched, "gone": b"1", "n": b"1"})
    with php.browser(PHPSESSID=sid) as browser:
        reply = result(browser.post("/set.php?remove=gone", json={"n": 2}))
    assert reply["session"] == {
        "plain": "plain text",
        "spaced": {"a": 1},
        "big": "123456789012345678901234567890",
        "n": 2,
    }
    assert client.read(sid) == {**untouched, "n": b"2"}


def test_a_session_shared_with_flask_and_starlette(
    shared: PhpServer, daemon: Daemon, client: SessionClient
) -> None:
    url = f"sessionserver://{daemon.host}:{daemon.port}"
    with shared.browser() as browser:
        response = browser.post("/set.php", json={"cart": ["apple"], "user": "ann"})
        sid = result(response)["id"]
        assert browser.cookies["session"] == sid

        app = flask.Flask(__name__)
        app.secret_key = "tests"  # Flask's sessions need one, ours as Flask's own
        app.config["SESSIONSERVER_URL"] = url
        init_app(app)

        @app.post("/add/<item>")
        def add(item: str) -> flask.Response:
            flask.session["cart"] = [*flask.session["cart"], item]
            return flask.jsonify(dict(flask.session))

        web = app.test_client()
        web.set_cookie("session", sid)
        assert web.post("/add/pear").json == {"cart": ["apple", "pear"], "user": "ann"}
        app.session_interface.client.close()  # type: ignore[attr-defined]

        async def everything(request: Request) -> Response:
            request.session["paid"] = 12.5
            return JSONResponse(dict(request.session))

        asgi = Starlette(routes=[Route("/pay", everything)])
        asgi.add_middleware(SessionMiddleware, url=url)
        with TestClient(asgi, cookies={"session": sid}) as checkout:
            assert checkout.get("/pay").json() == {
                "cart": ["apple", "pear"],
                "user": "ann",
                "paid": 12.5,
            }

        seen = result(browser.get("/peek.php"))
    assert seen == {
        "started": True,
        "id": sid,
        "session": {"cart": ["apple", "pear"], "user": "ann", "paid": 12.5},
    }
    assert client.read(sid)["cart"] == b'["apple","pear"]'
