"""Fuzzing a live daemon in both framings, random and structure-aware, while another client
pings it: every request gets exactly one well-formed reply, none is an internal error, the
log holds no traceback, and the pings stay within the bound of ``probe.py``.

About 4,000 requests and 900 blobs of random bytes by default (300 examples a test);
``SESSIONSERVER_FUZZ_EXAMPLES=5000`` runs longer.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import hiredis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionserver import phpserialize
from sessionserver.protocol import COMMANDS
from sessionserver.protocol.resp import encode_request

from ..conftest import StartDaemon
from ..helpers import Daemon
from .attack import FIGURES
from .probe import PingProbe

EXAMPLES = int(os.environ.get("SESSIONSERVER_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)

NAMES = [name for name in COMMANDS if name != "quit"]  # quit ends the batch: not junk


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = Daemon.start(
        Path(tmp_path_factory.mktemp("fuzz")),
        "--storage",
        "memory://",
        "--lock-timeout",
        "0.05",
        "--max-keys",
        "20",
        "--max-value",
        "4k",
        "--max-session",
        "16k",
        "--max-line",
        "64k",
        "--allow-client-ids",
    )
    yield d
    log = d.log
    d.stop()
    assert "Traceback" not in log, log[log.index("Traceback") - 400 :][:3000]


@pytest.fixture(scope="module")
def ids(daemon: Daemon) -> list[str]:
    with daemon.client() as c:
        return [c.new_session(k="v") for _ in range(5)]


@pytest.fixture(scope="module")
def probe(daemon: Daemon) -> Iterator[tuple[PingProbe, tuple[float, float]]]:
    with PingProbe(daemon.host, daemon.port, daemon_pid=daemon.pid, name="fuzz") as p:
        unloaded = p.baseline()
        start = time.monotonic()
        yield p, unloaded
        hit = p.check(unloaded, (start, time.monotonic()))
        FIGURES.append(
            (
                "fuzz: pings under fuzzing",
                f"{hit.count}, worst {hit.worst_latency * 1000:.1f} ms "
                f"(stall {hit.worst * 1000:.1f} ms)",
            )
        )


def _numbers() -> st.SearchStrategy[bytes]:
    specials = [b"0", b"-1", b"1", b"9223372036854775807", b"9223372036854775808", b"1e9"]
    specials += [b"+5", b" 5", b"0x10", b"1_000", b"99999999999999999999999", b"\xd9\xa1"]
    return st.one_of(
        st.sampled_from(specials), st.integers(-(2**70), 2**70).map(lambda n: b"%d" % n)
    )


def _serialized() -> st.SearchStrategy[bytes]:
    pairs = st.dictionaries(st.binary(min_size=1, max_size=8), st.binary(max_size=40), max_size=6)
    text = pairs.map(phpserialize.dumps)
    return st.one_of(
        text,
        st.tuples(text, st.integers(0, 60)).map(lambda t: t[0][: t[1]]),  # cut short
        st.sampled_from([b'a:1:{s:1:"k";N;}', b'a:1:{s:1:"k";a:0:{}}', b'O:8:"stdClass":0:{}']),
        st.just(b"a:99999999:{"),
    )


def _args(ids: list[str]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.sampled_from([i.encode() for i in ids]),
        st.sampled_from([b"r", b"w", b"rw", b"x", b"ttl", b"../../etc/passwd", b"*", b"$"]),
        _numbers(),
        _serialized(),
        st.binary(max_size=60),
        st.text(max_size=30).map(str.encode),
    )


def _requests(ids: list[str]) -> st.SearchStrategy[list[list[bytes]]]:
    name = st.one_of(
        st.sampled_from(NAMES).map(str.encode),
        st.sampled_from(NAMES).map(lambda n: n.upper().encode()),
        st.binary(min_size=1, max_size=12),
    )
    request = st.tuples(name, st.lists(_args(ids), max_size=6)).map(lambda t: [t[0], *t[1]])
    return st.lists(request, min_size=1, max_size=12)


def _exchange(daemon: Daemon, wire: bytes) -> bytes:
    sock = socket.create_connection((daemon.host, daemon.port), timeout=15)
    try:
        sock.sendall(wire)
        sock.shutdown(socket.SHUT_WR)
        received = bytearray()
        while chunk := sock.recv(65536):
            received += chunk
    finally:
        sock.close()
    return bytes(received)


def _resp_replies(received: bytes) -> list[object]:
    reader = hiredis.Reader()
    reader.feed(received)
    replies: list[object] = []
    while (reply := reader.gets()) is not False:
        replies.append(reply)
    assert not reader.has_data(), received[-200:]
    return replies


def test_fuzzed_requests_over_resp(daemon: Daemon, ids: list[str], probe: object) -> None:
    @FUZZ
    @given(requests=_requests(ids))
    def run(requests: list[list[bytes]]) -> None:
        replies = _resp_replies(_exchange(daemon, b"".join(encode_request(*r) for r in requests)))
        assert len(replies) == len(requests)
        for reply in replies:
            assert not (isinstance(reply, hiredis.ReplyError) and "Internal" in str(reply))

    run()


def test_fuzzed_requests_over_text(daemon: Daemon, ids: list[str], probe: object) -> None:
    @FUZZ
    @given(requests=_requests(ids))
    def run(requests: list[list[bytes]]) -> None:
        lines = [b" ".join(r).replace(b"\r", b"").replace(b"\n", b"") for r in requests]
        lines = [line for line in lines if line.split(b" ", 1)[0].lower() != b"quit"]
        lines.insert(0, b"ping")  # a first byte of "*" would choose RESP2
        received = _exchange(daemon, b"".join(line + b"\r\n" for line in lines))
        replies = received.split(b"\r\n")
        assert replies.pop() == b""
        assert len(replies) == len(lines), (lines, replies)
        for reply in replies:
            assert reply == b"ok" or reply.startswith((b"ok ", b"err ")), reply
            assert reply != b"err Internal server error."

    run()


@pytest.mark.parametrize("first", [b"*", b"p"])
def test_fuzzed_bytes(daemon: Daemon, probe: object, first: bytes) -> None:
    """Random bytes after a first byte that picks the framing: the daemon answers or closes,
    and lives on."""

    @FUZZ
    @given(junk=st.binary(max_size=2000))
    def run(junk: bytes) -> None:
        received = _exchange(daemon, first + junk)
        assert b"Internal server error" not in received

    run()
    with daemon.client() as c:
        assert c.cmd("ping") == "ok pong"


def test_fuzzed_requests_before_auth(start_daemon: StartDaemon, ids: list[str]) -> None:
    """A daemon with a token: whatever an unauthenticated client sends (junk, wrong tokens,
    oversized requests) gets errors or a close, never more."""
    daemon = start_daemon("--storage", "memory://", env={"SESSIONSERVER_AUTH_TOKEN": "s3"})
    with PingProbe(daemon.host, daemon.port, daemon_pid=daemon.pid, name="fuzz before auth") as p:
        unloaded = p.baseline()
        start = time.monotonic()

        @FUZZ
        @given(requests=_requests(ids), resp=st.booleans())
        def run(requests: list[list[bytes]], resp: bool) -> None:
            if resp:
                wire = b"".join(encode_request(*r) for r in requests)
            else:
                wire = b"ping\r\n" + b"".join(b" ".join(r) + b"\r\n" for r in requests)
            received = _exchange(daemon, wire)
            assert b"Internal server error" not in received
            assert b"ok pong" in received or received[:1] in b"-+$*:" or not received

        run()
        p.check(unloaded, (start, time.monotonic()))
    assert "Traceback" not in daemon.log
