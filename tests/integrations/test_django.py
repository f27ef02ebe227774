"""sessionserver.integrations.django: Django's SessionMiddleware, auth and test Client, and a
port of the behaviour cases of Django's own session test suite (SessionTestsMixin)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import timedelta

import pytest

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.integrations.django_settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.contrib.sessions.backends.base import UpdateError  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from sessionserver import SessionClient  # noqa: E402
from sessionserver.integrations import django as engine  # noqa: E402
from sessionserver.integrations.django import SessionStore  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _configure(session_url: str) -> Iterator[None]:
    settings.SESSIONSERVER_URL = session_url
    call_command("migrate", run_syncdb=True, verbosity=0)
    User.objects.create_user("alice", password="secret")
    yield
    for client in engine._clients.values():
        if isinstance(client, SessionClient):
            client.close()
        else:
            asyncio.run(client.aclose())
    engine._clients.clear()


@pytest.fixture
def server(session_url: str) -> Iterator[SessionClient]:
    with SessionClient(session_url) as c:
        yield c


# -- through the middleware ---------------------------------------------------------------------


def test_middleware_round_trip(server: SessionClient) -> None:
    c = Client()
    r = c.get("/set/user/42")
    assert r.status_code == 200
    sid = c.cookies["sessionid"].value
    assert len(sid) == 32
    assert c.get("/all").json() == {"user": "42"}
    assert server.read(sid) == {"user": b'"42"'}  # JSON per key, readable by every adapter
    r = c.get("/plain")
    assert "Set-Cookie" not in r.headers and "Cookie" not in r.headers.get("Vary", "")


def test_login_cycles_the_key_and_logout_deletes(server: SessionClient) -> None:
    c = Client()
    c.get("/set/cart/3")
    anonymous = c.cookies["sessionid"].value
    assert c.login(username="alice", password="secret")
    logged_in = c.cookies["sessionid"].value
    assert logged_in != anonymous
    with pytest.raises(Exception, match="Could not open session"):
        server.peek(anonymous)  # cycle_key deleted the old key
    assert c.get("/whoami").content == b"alice"
    assert server.peek(logged_in)["_auth_user_id"] == b'"1"'
    c.get("/logout")
    assert c.get("/whoami").content == b"-"
    with pytest.raises(Exception, match="Could not open session"):
        server.peek(logged_in)


def test_a_concurrent_logout_interrupts_instead_of_resurrecting(server: SessionClient) -> None:
    c = Client()
    c.get("/set/a/1")
    sid = c.cookies["sessionid"].value
    r = c.get("/race")  # loads, another request logs out, then it changes the session
    assert r.status_code == 400  # Django's SessionInterrupted
    with pytest.raises(Exception, match="Could not open session"):
        server.peek(sid)


def test_expiry_settings_reach_the_server(server: SessionClient) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(settings, "SESSION_COOKIE_AGE", 600)
        c = Client()
        c.get("/set/a/1")
        assert server.expires(c.cookies["sessionid"].value) == 600


def test_async_views_use_the_async_methods() -> None:
    c = Client()
    assert [c.get("/acount").json()["n"] for _ in range(3)] == [1, 2, 3]


# -- Django's SessionTestsMixin, the cases that apply -------------------------------------------


@pytest.fixture
def session() -> SessionStore:
    return SessionStore()


def test_new_session(session: SessionStore) -> None:
    assert not session.modified and not session.accessed


def test_get_empty(session: SessionStore) -> None:
    assert session.get("cat") is None


def test_store(session: SessionStore) -> None:
    session["cat"] = "dog"
    assert session.modified and session.pop("cat") == "dog"


def test_pop_default_and_no_default(session: SessionStore) -> None:
    assert session.pop("some key", "does not exist") == "does not exist"
    with pytest.raises(KeyError):
        session.pop("some key")


def test_setdefault_update_has_key(session: SessionStore) -> None:
    assert session.setdefault("foo", "bar") == "bar"
    assert session.setdefault("foo", "baz") == "bar"
    session.update({"update key": 1})
    assert session.get("update key") == 1 and "update key" in session


def test_values_keys_items_clear(session: SessionStore) -> None:
    session["x"] = 1
    assert list(session.values()) == [1] and list(session.keys()) == ["x"]
    assert list(session.items()) == [("x", 1)]
    session.clear()
    assert list(session.items()) == [] and session.modified


def test_save_and_load(session: SessionStore) -> None:
    session["x"] = [1, {"y": "z"}]
    session.save()
    assert session.session_key and session.exists(session.session_key)
    again = SessionStore(session.session_key)
    assert again["x"] == [1, {"y": "z"}]


def test_save_only_sends_changes(session: SessionStore, server: SessionClient) -> None:
    session["a"] = 1
    session["b"] = 2
    session.save()
    other = SessionStore(session.session_key)
    other["c"] = 3
    session["a"] = 10  # a concurrent request changed another key
    session.save()
    other.save()
    assert SessionStore(session.session_key).load() == {"a": 10, "b": 2, "c": 3}


def test_delete_and_flush(session: SessionStore) -> None:
    session["x"] = 1
    session.save()
    key = session.session_key
    session.delete(key)
    assert not session.exists(key)
    other = SessionStore()
    other["y"] = 2
    other.save()
    key = other.session_key
    other.flush()
    assert not other.exists(key) and other.session_key is None


def test_cycle_keeps_the_data(session: SessionStore) -> None:
    session["a"], session["b"] = "c", "d"
    session.save()
    prev_key = session.session_key
    prev_data = list(session.items())
    session.cycle_key()
    assert not session.exists(prev_key)
    assert session.session_key != prev_key and list(session.items()) == prev_data


def test_a_session_keeps_its_lifetime_and_a_new_key_gets_djangos(server: SessionClient) -> None:
    sid = server.create({"a": b'"1"'}, ttl=600)  # another app's, with its own lifetime
    store = SessionStore(sid)
    assert store["a"] == "1" and store.get_expiry_age() == 600  # what the server says
    assert store.get_expire_at_browser_close() is False
    store["b"] = 2
    store.save()
    assert 590 <= server.expires(sid) <= 600  # a change does not give it Django's lifetime
    store.cycle_key()  # login: a new key, with this app's lifetime
    assert server.expires(store.session_key) == settings.SESSION_COOKIE_AGE
    assert store.get_expiry_age() == settings.SESSION_COOKIE_AGE


def test_cycle_with_no_session_cache(session: SessionStore) -> None:
    session["a"] = 1
    session.save()
    fresh = SessionStore(session.session_key)
    fresh.cycle_key()
    assert fresh.session_key != session.session_key
    assert SessionStore(fresh.session_key)["a"] == 1


def test_invalid_key_is_refused(session: SessionStore) -> None:
    for key in (None, "", "short", "a" * 300, "../../etc/passwd", "not-hex-!!!!!!!!!"):
        s = SessionStore(key)
        assert s.session_key is None or not s.exists(key)


def test_loading_an_unknown_key_creates_nothing(server: SessionClient) -> None:
    key = "0123456789abcdef0123456789abcdef"
    s = SessionStore(key)
    assert s.load() == {}
    assert s.session_key is None
    assert not s.exists(key)
    s["x"] = 1
    s.save()
    assert s.session_key != key  # a server-issued key, never the client's


def test_save_does_not_resurrect_a_session_deleted_elsewhere(session: SessionStore) -> None:
    session["x"] = 1
    session.save()
    other = SessionStore(session.session_key)
    other.delete()
    session["y"] = 2
    with pytest.raises(UpdateError):
        session.save()
    assert not session.exists(session.session_key)


def test_custom_expiry(session: SessionStore, server: SessionClient) -> None:
    session.set_expiry(10)
    session["x"] = 1
    session.save()
    assert session.get_expiry_age() == 10
    assert server.expires(session.session_key) == 10
    session.set_expiry(timezone.now() + timedelta(seconds=30))
    session.save()
    assert 28 <= server.expires(session.session_key) <= 30
    session.set_expiry(0)  # expire at browser close: the cookie age on the server
    assert session.get_expire_at_browser_close()


def test_clear_expired_is_a_no_op() -> None:
    SessionStore.clear_expired()
    asyncio.run(SessionStore.aclear_expired())


def test_async_twins() -> None:
    async def run() -> None:
        s = SessionStore()
        await s.aset("cat", "dog")
        await s.asave()
        again = SessionStore(s.session_key)
        assert await again.aget("cat") == "dog"
        assert await again.aexists(s.session_key)
        key = again.session_key
        await again.acycle_key()
        assert not await again.aexists(key)
        await again.aflush()
        assert again.session_key is None
        gone = SessionStore(s.session_key)
        assert await gone.aload() == {}
        await engine.async_client().aclose()  # this loop ends here

    asyncio.run(run())


def test_missing_url_is_improperly_configured() -> None:
    from django.core.exceptions import ImproperlyConfigured

    with pytest.MonkeyPatch.context() as mp:
        mp.delattr(settings, "SESSIONSERVER_URL")
        with pytest.raises(ImproperlyConfigured, match="SESSIONSERVER_URL"):
            SessionStore("0123456789abcdef0123456789abcdef").load()
