"""The framework-neutral session and the save plan, without a server."""

from __future__ import annotations

import itertools
import json

import pytest

from sessionserver.cookies import CookieSettings, cookie_header, cookie_max_age, plan_save
from sessionserver.session import Saved, Session, Stored
from sessionserver.values import BROWSER_COOKIE, decode_all, diff


def loader(data: dict[str, bytes] | None, seconds_left: int | None = None):
    calls: list[str] = []

    def load(sid: str) -> Stored | None:
        calls.append(sid)
        return None if data is None else Stored(data, seconds_left)

    return load, calls


def test_nothing_is_loaded_until_read() -> None:
    load, calls = loader({"a": b"1"})
    s = Session("x" * 32, load)
    assert not s.loaded and not s.accessed
    s["b"] = 2  # a write needs no load
    assert calls == []
    assert s.changes() == ({"b": b"2"}, [])
    assert s["a"] == 1 and calls == ["x" * 32]
    assert s.accessed


def test_changes_are_per_key_and_catch_changes_inside_values() -> None:
    load, _ = loader({"cart": b"[1]", "user": b'"42"', "gone": b"true"})
    s = Session("x" * 32, load)
    s["cart"].append(2)
    assert s["user"] == "42"
    del s["gone"]
    changed, removed = s.changes()
    assert changed == {"cart": b"[1,2]"} and removed == ["gone"]
    assert s.modified
    assert dict(s) == {"cart": [1, 2], "user": "42"}


def test_an_unknown_id_is_never_adopted() -> None:
    load, _ = loader(None)
    s = Session("x" * 32, load)
    assert len(s) == 0
    assert s.sid is None and s.new


def test_setting_the_same_value_is_not_a_change() -> None:
    load, _ = loader({"a": b"1"})
    s = Session("x" * 32, load)
    s.load()
    s["a"] = 1
    assert not s.modified


def test_invalidate_and_regenerate() -> None:
    load, _ = loader({"a": b"1"})
    s = Session("x" * 32, load)
    s.regenerate()
    assert s.regenerate_requested and s.modified
    s.invalidate()
    assert s.invalidated and dict(s) == {}


def test_diff_and_decode_all() -> None:
    raw = {"a": b"1", "b": b'"x"', "php": b"plain text"}
    assert decode_all(raw) == {"a": 1, "b": "x", "php": "plain text"}  # not JSON: its text
    assert diff(raw, {"a": 2, "b": "x", "c": None}) == ({"a": b"2", "c": b"null"}, ["php"])
    # the text of a value that is not JSON, read back unchanged, is never rewritten as JSON
    assert diff(raw, decode_all(raw)) == ({}, [])
    assert diff(raw, {**decode_all(raw), "php": "new"}) == ({"php": b'"new"'}, [])


def test_a_value_that_is_not_json_reads_as_its_text() -> None:
    load, _ = loader({"php": b"plain text", "bad": b"\xff\xfe"})
    s = Session("x" * 32, load)
    assert "php" in s and list(s) == ["php", "bad"]
    assert s["php"] == "plain text" and s["bad"] == "\ufffd\ufffd"
    assert s.changes() == ({}, [])


BOOLS = (False, True)


@pytest.mark.parametrize(
    (
        "accessed",
        "new",
        "had_cookie",
        "modified",
        "empty",
        "invalidated",
        "regenerate",
        "expired",
        "resend",
    ),
    list(itertools.product(BOOLS, repeat=9)),
)
@pytest.mark.parametrize("status", [200, 404, 500])
def test_plan_rules(
    status: int,
    accessed: bool,
    new: bool,
    had_cookie: bool,
    modified: bool,
    empty: bool,
    invalidated: bool,
    regenerate: bool,
    expired: bool,
    resend: bool,
) -> None:
    plan = plan_save(
        status=status,
        accessed=accessed,
        new=new,
        had_cookie=had_cookie,
        modified=modified,
        empty=empty,
        invalidated=invalidated,
        regenerate=regenerate,
        expired=expired,
        resend=resend,
    )
    # Vary: Cookie when the session was accessed, and when the cookie is set or deleted
    assert plan.vary == (accessed or plan.cookie != "none")
    if status >= 500:
        assert (plan.store, plan.cookie) == ("none", "none")
        return
    if plan.store == "create":  # only a new session that holds something, and changed
        assert new and modified and not empty and not invalidated
    if plan.store in ("write", "regenerate", "destroy"):
        assert not new  # a new session has nothing stored to change
    if plan.store == "write":
        assert modified and not expired
    if plan.store == "destroy":
        assert invalidated or (modified and (empty or expired))
    if plan.cookie == "set":
        assert not empty and not invalidated and not (expired and modified)
        # one lifetime per session: an unchanged id's cookie only with a lifetime given now
        assert new or regenerate or resend
    if plan.cookie == "delete":
        assert invalidated or (modified and (empty or expired))
        assert had_cookie or expired
    if not (modified or invalidated or regenerate or resend):
        assert plan.store == "none" and plan.cookie == "none"


def test_a_dict_for_json_and_dict_that_loads_when_read() -> None:
    load, calls = loader({"a": b"1"})
    s = Session("x" * 32, load)
    assert isinstance(s, dict) and calls == []
    assert json.dumps({"session": s}) == '{"session": {"a": 1}}'  # the C encoder, too
    assert dict(s) == {"a": 1} == s and calls == ["x" * 32]


def test_keys_set_before_the_load_win_and_only_they_are_sent() -> None:
    load, calls = loader({"a": b"1", "b": b"2"})
    s = Session("x" * 32, load)
    s.update(a=5)
    s |= {"c": 3}
    assert calls == [] and s.changes() == ({"a": b"5", "c": b"3"}, [])
    assert s["b"] == 2 and s == {"a": 5, "b": 2, "c": 3}
    assert s.changes() == ({"a": b"5", "c": b"3"}, [])


def test_a_session_only_looked_at_plans_nothing_and_loads_nothing() -> None:
    load, calls = loader({"a": b"1"})
    s = Session("x" * 32, load)
    s.mark_accessed()  # what Starlette's request.session does
    plan = s.plan(status=200, had_cookie=True, resend_on_change=True).plan
    assert (plan.store, plan.cookie, plan.vary, calls) == ("none", "none", True, [])


def test_the_browser_cookie_mark_is_kept_out_of_the_apps_view() -> None:
    load, _ = loader({"a": b"1", BROWSER_COOKIE: b"true"}, seconds_left=600)
    s = Session("x" * 32, load)
    assert dict(s) == {"a": 1} and s.browser_cookie is True and s.seconds_left == 600
    s.clear()
    assert s.changes() == ({}, ["a"]) and s.will_be_empty()


def test_a_lifetime_is_given_only_on_purpose_or_to_a_new_id() -> None:
    load, _ = loader({"a": b"1"})
    s = Session("x" * 32, load)
    s["a"] = 2
    plan = s.plan(status=200, had_cookie=True, resend_on_change=True).plan
    assert (plan.store, plan.cookie) == ("write", "set")
    assert s.lifetime_to_give(3600, plan) is None  # it keeps the one it has
    s.ttl = 60
    assert s.lifetime_to_give(3600, plan) == 60
    assert Session(None).lifetime_to_give(3600, plan) == 3600


@pytest.mark.parametrize(
    ("configured", "id_changed", "seconds_left", "browser", "expected"),
    [
        (3600, True, 100, None, 3600),  # a new id: the lifetime it was given
        (None, True, None, None, None),  # ... or a browser-session cookie
        (3600, False, 100, None, 100),  # an id that stays: the session's seconds left
        (None, False, 100, False, 100),  # whatever this app's own setting
        (3600, False, 100, True, None),  # a session marked browser-session stays one
        (3600, False, None, None, 3600),
    ],
)
def test_cookie_max_age(
    configured: int | None,
    id_changed: bool,
    seconds_left: int | None,
    browser: bool | None,
    expected: int | None,
) -> None:
    assert (
        cookie_max_age(
            configured, id_changed=id_changed, seconds_left=seconds_left, browser=browser
        )
        == expected
    )


def test_cookie_header_for_a_kept_id_carries_the_seconds_left() -> None:
    plan = plan_save(
        status=200,
        accessed=True,
        new=False,
        had_cookie=True,
        modified=True,
        empty=False,
        resend=True,
    )
    header = cookie_header(
        plan,
        CookieSettings(max_age=3600),
        old_sid="a" * 32,
        new_sid="a" * 32,
        had_cookie=True,
        seconds_left=1209600,
        browser=False,
    )
    assert header == f"session={'a' * 32}; Max-Age=1209600; path=/; httponly; samesite=lax"
    assert Saved("a" * 32).seconds_left is None


def test_key_changed_looks_at_one_key() -> None:
    load, _ = loader({"a": b"1", "b": b"2"})
    s = Session("x" * 32, load)
    s["a"] = 5
    assert s.key_changed("a") and not s.key_changed("b")  # before the load: a set key
    s.load()
    s["b"] = 2
    del s["a"]
    assert s.key_changed("a") and not s.key_changed("b")  # removed; set to what it was
