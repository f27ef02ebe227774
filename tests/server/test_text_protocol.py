"""Every command and every reply of the text framing, against a real daemon process."""

from __future__ import annotations

import re

import pytest

from ..helpers import Daemon

ID = re.compile(r"ok [0-9a-f]{32}")


def test_seed_transcript_replays_byte_exact(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c:
        reply = c.cmd("new")
        assert ID.fullmatch(reply)
        c.send(b"put foo bar\r\nput today 2004-11-09\r\nkeys\r\nget today\r\nclose\r\nget foo\r\n")
        assert [c.read_raw_line() for _ in range(6)] == [
            b"ok\r\n",
            b"ok\r\n",
            b"ok foo|today\r\n",
            b"ok 2004-11-09\r\n",
            b"ok\r\n",
            b"err No session opened.\r\n",
        ]


def test_lf_only_lines_and_pipelining_in_one_write(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c:
        c.send(b"new\nput a 1\nput b 2\nget a\nget b\nkeys\nclose\n")
        replies = [c.read_line() for _ in range(7)]
        assert ID.fullmatch(replies[0])
        assert replies[1:] == ["ok", "ok", "ok 1", "ok 2", "ok a|b", "ok"]


def test_a_line_split_across_many_writes(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c:
        c.cmd("new")
        for byte in b"put k split value\r\nget k\r\n":
            c.send(bytes([byte]))
        assert c.read_line() == "ok"
        assert c.read_line() == "ok split value"


def test_command_names_are_case_insensitive(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c:
        assert ID.fullmatch(c.cmd("New"))
        assert c.cmd("PUT x 1") == "ok"
        assert c.cmd("Get x") == "ok 1"
        assert c.cmd("KEYS") == "ok x"
        assert c.cmd("Close") == "ok"


def test_value_keeps_inner_spaces_and_empty_values_keep_the_separator(
    memory_daemon: Daemon,
) -> None:
    with memory_daemon.client() as c:
        c.cmd("new")
        assert c.cmd("put foo a  b ") == "ok"
        assert c.cmd("get foo") == "ok a  b "
        assert c.cmd("put empty ") == "ok"
        c.send("get empty\r\n")
        assert c.read_raw_line() == b"ok \r\n"


def test_empty_session_lists_no_keys_with_the_separator(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c:
        c.cmd("new")
        c.send("keys\r\n")
        assert c.read_raw_line() == b"ok \r\n"
        assert c.cmd("get_all") == "ok a:0:{}"


def test_utf8_end_to_end(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c:
        sid = c.new_session()
        assert c.cmd(f"open {sid} w") == "ok"
        assert c.cmd("put name Zoë ☃ 日本") == "ok"
        assert c.cmd("put ключ значение") == "ok"
        assert c.cmd("close") == "ok"
        assert c.cmd(f"open {sid} r") == "ok"
        assert c.cmd("get name") == "ok Zoë ☃ 日本"
        assert c.cmd("get ключ") == "ok значение"
        # serialize() lengths are UTF-8 byte counts
        value = "Zoë ☃ 日本"
        assert c.cmd("get_all") == (
            f'ok a:2:{{s:4:"name";s:{len(value.encode())}:"{value}";s:8:"ключ";s:16:"значение";}}'
        )


def test_exists_remove_and_their_errors(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c:
        c.cmd("new")
        c.cmd("put a 1")
        assert c.cmd("exists a") == "ok"
        assert c.cmd("exists b") == "err Key does not exist"
        assert c.cmd("get b") == "err Key does not exist"
        assert c.cmd("remove b") == "err Key does not exist"
        assert c.cmd("remove a") == "ok"
        assert c.cmd("exists a") == "err Key does not exist"


def test_keys_in_insertion_order_and_overwrite_keeps_position(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c:
        c.cmd("new")
        for key in ("zeta", "alpha", "mid"):
            c.cmd(f"put {key} v")
        c.cmd("put zeta again")
        assert c.cmd("keys") == "ok zeta|alpha|mid"


def test_get_all_and_put_all_round_trip(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c:
        c.cmd("new")
        payload = 'a:3:{s:3:"foo";s:3:"bar";i:7;i:42;s:1:"t";b:1;}'
        assert c.cmd(f"put_all {payload}") == "ok"
        assert c.cmd("keys") == "ok foo|7|t"
        assert c.cmd("get 7") == "ok 42"
        assert c.cmd("get_all") == 'ok a:3:{s:3:"foo";s:3:"bar";s:1:"7";s:2:"42";s:1:"t";s:1:"1";}'
        # put_all replaces every pair; values with spaces survive the line split
        assert c.cmd('put_all a:1:{s:1:"x";s:5:"a b c";}') == "ok"
        assert c.cmd("keys") == "ok x"
        assert c.cmd("get x") == "ok a b c"


@pytest.mark.parametrize(
    ("payload", "reply"),
    [
        ('O:8:"stdClass":0:{}', "err Malformed serialized data."),
        ('a:1:{s:1:"x";O:8:"stdClass":0:{}}', "err Malformed serialized data."),
        ('a:1:{s:1:"x";r:1;}', "err Malformed serialized data."),
        ('a:1:{s:1:"x";a:0:{}}', "err Nested arrays are not supported."),
        ('a:2:{s:1:"x";s:1:"y";}', "err Malformed serialized data."),
        ('a:1:{s:9:"x";s:1:"y";}', "err Malformed serialized data."),
        ('a:1:{s:1:"x";s:1:"y";}junk', "err Malformed serialized data."),
        ('a:1:{s:3:"a|b";s:1:"y";}', "err Invalid key."),
        ("garbage", "err Malformed serialized data."),
    ],
)
def test_put_all_rejects_bad_payloads_and_changes_nothing(
    memory_daemon: Daemon, payload: str, reply: str
) -> None:
    with memory_daemon.client() as c:
        c.cmd("new")
        c.cmd("put keep me")
        assert c.cmd(f"put_all {payload}") == reply
        assert c.cmd("get_all") == 'ok a:1:{s:4:"keep";s:2:"me";}'


def test_commands_without_a_session(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c:
        for line in (
            "put a b",
            "get a",
            "exists a",
            "remove a",
            "keys",
            "get_all",
            "put_all a:0:{}",
            "commit",
            "close",
            "destroy",
            "regenerate_id",
            "ttl",
        ):
            assert c.cmd(line) == "err No session opened.", line


def test_unknown_and_empty_commands(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c:
        assert c.cmd("bogus") == "err unknown command"
        assert c.cmd("") == "err unknown command"
        assert c.cmd(" ") == "err unknown command"
        assert c.cmd("ping") == "ok pong"  # the connection goes on


def test_missing_arguments_get_an_error_not_a_hangup(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c:
        assert c.cmd("open") == "err Missing argument."
        assert c.cmd("gc") == "err Missing argument."
        c.cmd("new")
        for line in ("put", "put key", "get", "exists", "remove", "put_all"):
            assert c.cmd(line) == "err Missing argument.", line
        assert c.cmd("ping") == "ok pong"


def test_open_unknown_invalid_and_traversal_ids(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c:
        for line in (
            "open 0123456789abcdef0123456789abcdef r",
            "open 0123456789abcdef0123456789abcdef w",
            "open ../../etc/passwd w",
            "open ../../etc/passwd r",
            "open short w",
            "open " + "a" * 200 + " w",
        ):
            assert c.cmd(line) == "err Could not open session.", line


def test_unknown_mode(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c:
        sid = c.new_session()
        assert c.cmd(f"open {sid} x") == "err Invalid mode; use r, w or rw."
        assert c.cmd(f"open {sid} RW") == "ok"
        assert c.cmd("close") == "ok"


def test_writes_in_read_mode_fail(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c:
        sid = c.new_session(a="1")
        assert c.cmd(f"open {sid} r") == "ok"
        assert c.cmd("put a 2") == "err Session is open read-only."
        assert c.cmd("remove a") == "err Session is open read-only."
        assert c.cmd("put_all a:0:{}") == "err Session is open read-only."
        assert c.cmd("regenerate_id") == "err Session is open read-only."
        assert c.cmd("get a") == "ok 1"
        assert c.cmd("commit") == "ok"
        assert c.cmd("close") == "ok"


def test_commit_saves_and_leaves_the_session_open_read_only(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as a, memory_daemon.client() as b:
        sid = a.new_session()
        assert a.cmd(f"open {sid} w") == "ok"
        a.cmd("put x 1")
        assert b.cmd(f"open {sid} r") == "ok"
        assert b.cmd("exists x") == "err Key does not exist"  # not committed yet
        assert a.cmd("commit") == "ok"
        assert a.cmd("get x") == "ok 1"
        assert a.cmd("put x 2") == "err Session is open read-only."
        assert b.cmd(f"open {sid} r") == "ok"
        assert b.cmd("get x") == "ok 1"


def test_close_without_changes_and_implicit_close_on_open(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c:
        one = c.new_session()
        two = c.new_session()
        assert c.cmd(f"open {one} w") == "ok"
        c.cmd("put k v")
        assert c.cmd(f"open {two} r") == "ok"  # saves and unlocks `one`
        assert c.cmd(f"open {one} r") == "ok"
        assert c.cmd("get k") == "ok v"


def test_destroy(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c:
        sid = c.new_session(a="1")
        assert c.cmd(f"open {sid} w") == "ok"
        assert c.cmd("destroy") == "ok"
        assert c.cmd("get a") == "err No session opened."
        assert c.cmd(f"open {sid} r") == "err Could not open session."


def test_regenerate_id_moves_the_data_and_the_old_id_is_gone(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c, memory_daemon.client() as other:
        sid = c.new_session(user="42")
        assert c.cmd(f"open {sid} w") == "ok"
        c.cmd("put pending yes")
        reply = c.cmd("regenerate_id")
        assert ID.fullmatch(reply)
        new = reply[3:]
        assert new != sid
        assert other.cmd(f"open {sid} r") == "err Could not open session."
        assert c.cmd("close") == "ok"
        assert other.cmd(f"open {new} r") == "ok"
        assert other.cmd("keys") == "ok user|pending"


def test_ttl_reports_and_sets_the_idle_lifetime(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c:
        sid = c.new_session()
        assert c.cmd(f"open {sid} r") == "ok"
        assert c.cmd("ttl") == "ok 1440"
        assert c.cmd("ttl 60") == "ok"
        assert c.cmd("ttl") == "ok 60"
        assert c.cmd("ttl 0") == "err Invalid argument."
        assert c.cmd("ttl soon") == "err Invalid argument."


def test_gc_and_stats(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c:
        assert c.cmd("gc 100000") == "ok 0"
        assert c.cmd("gc -1") == "err Invalid argument."
        stats = c.cmd("stats")
        assert stats.startswith("ok ")
        fields = dict(item.split("=", 1) for item in stats[3:].split())
        assert fields["storage"] == "memory"
        assert int(fields["sessions"]) >= 1
        assert int(fields["connections"]) >= 1
        assert int(fields["bytes_per_session"]) > 0


def test_quit_closes_after_replying(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c:
        c.send("ping\r\nquit\r\nping\r\n")
        assert c.read_line() == "ok pong"
        assert c.read_line() == "ok"
        assert c.closed_by_server()


def test_auth_is_a_no_op_without_a_token(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c:
        assert c.cmd("auth whatever") == "ok"
