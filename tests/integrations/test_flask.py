"""Flask's own test client through sessionserver.integrations.flask, against a real daemon."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator

import flask
import pytest
from markupsafe import Markup

from sessionserver import SessionClient
from sessionserver.exceptions import ConnectError
from sessionserver.integrations.flask import SessionServerInterface, init_app
from sessionserver.values import BROWSER_COOKIE

_apps: list[flask.Flask] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _apps:
        _apps.pop().session_interface.client.close()  # type: ignore[attr-defined]


def make_app(url: str, **config: object) -> flask.Flask:
    app = flask.Flask(__name__)
    app.secret_key = "tests"
    app.config["SESSIONSERVER_URL"] = url
    app.config.update(config)
    init_app(app)
    _apps.append(app)

    @app.get("/set/<key>/<value>")
    def set_value(key: str, value: str) -> str:
        flask.session[key] = value
        return "ok"

    @app.get("/get/<key>")
    def get_value(key: str) -> flask.Response:
        return flask.jsonify(flask.session.get(key))

    @app.get("/all")
    def all_values() -> flask.Response:
        return flask.jsonify(dict(flask.session))

    @app.get("/plain")
    def plain() -> str:
        return "no session here"

    @app.get("/types")
    def types() -> str:
        flask.session["t"] = (1, "a")
        flask.session["b"] = b"\x00bytes"
        flask.session["m"] = Markup("<b>hi</b>")
        flask.session["u"] = uuid.UUID(int=7)
        flask.session["d"] = datetime.datetime(2004, 11, 9, tzinfo=datetime.UTC)
        return "ok"

    @app.get("/check-types")
    def check_types() -> str:
        s = flask.session
        assert s["t"] == (1, "a") and s["b"] == b"\x00bytes" and s["m"] == Markup("<b>hi</b>")
        assert s["u"] == uuid.UUID(int=7)
        assert s["d"] == datetime.datetime(2004, 11, 9, tzinfo=datetime.UTC)
        return "ok"

    @app.get("/permanent")
    def permanent() -> str:
        flask.session.permanent = True
        return "ok"

    @app.get("/login/<user>")
    def login(user: str) -> str:
        flask.session.regenerate()  # type: ignore[attr-defined]
        flask.session["user"] = user
        return "ok"

    @app.get("/logout")
    def logout() -> str:
        flask.session.invalidate()  # type: ignore[attr-defined]
        return "ok"

    @app.get("/clear")
    def clear() -> str:
        flask.session.clear()
        return "ok"

    @app.get("/boom")
    def boom() -> str:
        flask.session["lost"] = "yes"
        flask.abort(500)

    return app


@pytest.fixture
def app(session_url: str) -> flask.Flask:
    return make_app(session_url)


@pytest.fixture
def client(app: flask.Flask) -> Iterator[flask.testing.FlaskClient]:
    yield app.test_client()


def sid_of(client: flask.testing.FlaskClient) -> str | None:
    cookie = client.get_cookie("session")
    return cookie.value if cookie else None


def test_round_trip_and_the_cookie_carries_only_the_id(client, session_url: str) -> None:
    r = client.get("/set/user/42")
    assert r.headers["Vary"] == "Cookie"
    sid = sid_of(client)
    assert sid and len(sid) == 32
    assert client.get("/get/user").json == "42"
    with SessionClient(session_url) as c:
        # JSON per key, on the server; a session with a browser-session cookie says so
        assert c.read(sid) == {"user": b'"42"', BROWSER_COOKIE: b"true"}


def test_an_untouched_session_costs_nothing(session_url: str) -> None:
    client = make_app(session_url, SESSION_REFRESH_EACH_REQUEST=False).test_client()
    client.get("/set/a/1")
    with SessionClient(session_url) as c:
        before = int(c.stats()["commands_total"])
        r = client.get("/plain")
        after = int(c.stats()["commands_total"])
    assert after - before == 1  # only our own stats call
    assert "Vary" not in r.headers and "Set-Cookie" not in r.headers


def test_refreshing_permanent_sessions_costs_one_read(client, session_url: str) -> None:
    """Flask refreshes the cookie of a permanent session on every request (its default
    SESSION_REFRESH_EACH_REQUEST): knowing whether the session is one takes a read."""
    client.get("/set/a/1")
    with SessionClient(session_url) as c:
        before = int(c.stats()["commands_total"])
        r = client.get("/plain")
        after = int(c.stats()["commands_total"])
    assert after - before == 2  # our stats call and the adapter's read
    assert "Vary" not in r.headers and "Set-Cookie" not in r.headers  # not a permanent one


def test_reading_does_not_rewrite_or_reset_the_cookie(client, session_url: str) -> None:
    client.get("/set/a/1")
    r = client.get("/get/a")
    assert r.json == "1"
    assert "Set-Cookie" not in r.headers and r.headers["Vary"] == "Cookie"


def test_a_new_session_that_is_never_modified_is_never_stored(client, session_url: str) -> None:
    with SessionClient(session_url) as c:
        before = int(c.stats()["sessions_created"])
        r = client.get("/get/anything")
        assert int(c.stats()["sessions_created"]) == before
    assert "Set-Cookie" not in r.headers


def test_flask_types_survive(client) -> None:
    assert client.get("/types").status_code == 200
    assert client.get("/check-types").text == "ok"


def test_cookie_settings_are_flasks(session_url: str) -> None:
    app = make_app(
        session_url,
        SESSION_COOKIE_NAME="sid",
        SESSION_COOKIE_DOMAIN="example.com",
        SESSION_COOKIE_PATH="/app",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_HTTPONLY=False,
        SESSION_COOKIE_PARTITIONED=True,
        PERMANENT_SESSION_LIFETIME=datetime.timedelta(seconds=600),
    )
    c = app.test_client()
    header = c.get("/set/a/1").headers["Set-Cookie"]
    assert header.startswith("sid=")
    for part in ("Domain=example.com", "Path=/app", "Secure", "SameSite=Strict", "Partitioned"):
        assert part in header
    assert "HttpOnly" not in header and "Expires" not in header  # not permanent
    header = c.get("/permanent", base_url="https://example.com/app").headers["Set-Cookie"]
    assert "Expires=" in header
    sid = header.split(";")[0].split("=")[1]
    with SessionClient(session_url) as client:
        assert client.expires(sid) == 600  # the server's lifetime follows Flask's


def test_refresh_each_request_for_permanent_sessions(session_url: str) -> None:
    refresh = make_app(session_url)
    c = refresh.test_client()
    c.get("/permanent")
    assert "Set-Cookie" in c.get("/get/x").headers  # refreshed although unchanged
    no_refresh = make_app(session_url, SESSION_REFRESH_EACH_REQUEST=False)
    c = no_refresh.test_client()
    c.get("/permanent")
    assert "Set-Cookie" not in c.get("/get/x").headers


def test_login_regenerates_the_id_and_logout_destroys(client, session_url: str) -> None:
    client.get("/set/cart/3")
    before = sid_of(client)
    client.get("/login/alice")
    after = sid_of(client)
    assert before and after and after != before
    assert client.get("/all").json == {"cart": "3", "user": "alice"}
    with SessionClient(session_url) as c:
        assert c.peek(after)
        with pytest.raises(Exception, match="Could not open session"):
            c.peek(before)  # the old id is gone: no fixation
        r = client.get("/logout")
        assert "Set-Cookie" in r.headers and sid_of(client) is None
        with pytest.raises(Exception, match="Could not open session"):
            c.peek(after)


def test_clearing_deletes_the_cookie(client) -> None:
    client.get("/set/a/1")
    r = client.get("/clear")
    assert "session=;" in r.headers["Set-Cookie"] and sid_of(client) is None


def test_an_unknown_id_is_not_adopted(client) -> None:
    client.set_cookie("session", "0123456789abcdef0123456789abcdef")
    client.get("/set/a/1")
    assert sid_of(client) != "0123456789abcdef0123456789abcdef"


def test_nothing_is_saved_on_a_5xx(client) -> None:
    client.get("/set/a/1")
    assert client.get("/boom").status_code == 500
    assert client.get("/all").json == {"a": "1"}


def test_a_session_destroyed_elsewhere_is_not_brought_back(client, session_url: str) -> None:
    client.get("/set/a/1")
    sid = sid_of(client)
    assert sid
    with SessionClient(session_url) as c:
        c.destroy(sid)  # a logout in another request
        client.get("/set/b/2")
        with pytest.raises(Exception, match="Could not open session"):
            c.read(sid)


def test_lock_mode_holds_the_write_lock(session_url: str) -> None:
    app = make_app(session_url, SESSIONSERVER_LOCK=True)
    c = app.test_client()
    c.get("/set/a/1")
    assert c.get("/get/a").json == "1"
    c.get("/set/b/2")
    assert c.get("/all").json == {"a": "1", "b": "2"}


def test_unreachable_server_is_a_clear_error() -> None:
    app = make_app("sessionserver://127.0.0.1:1")
    app.testing = True
    with pytest.raises(ConnectError, match=r"127\.0\.0\.1:1"):
        app.test_client().get("/set/a/1")


def test_init_app_needs_the_url() -> None:
    app = flask.Flask(__name__)
    with pytest.raises(RuntimeError, match="SESSIONSERVER_URL"):
        init_app(app)
    assert isinstance(SessionServerInterface("sessionserver://127.0.0.1:9"), SessionServerInterface)
