"""TLS end to end: the daemon's listener (both framings, optional client certificates), the
clients' ``sessionservers://`` URLs, redis-cli --tls, and the errors of a wrong setup."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from sessionserver import AsyncSessionClient, SessionClient
from sessionserver.bench.certs import Certificates
from sessionserver.exceptions import ConfigurationError, ConnectionLost, TLSError

from ..conftest import StartDaemon
from ..helpers import Daemon


def tls_url(
    daemon: Daemon,
    certs: Certificates,
    host: str = "127.0.0.1",
    *,
    client: Certificates | None = None,
) -> str:
    """The daemon's ``sessionservers://`` URL trusting ``certs``' CA, with the client
    certificate of ``client``."""
    query = f"ca={certs.ca}"
    if client is not None:
        query += f"&cert={client.client_cert}&key={client.client_key}"
    return f"sessionservers://{host}:{daemon.port}?{query}"


def test_the_sync_client_over_tls(tls_daemon: Daemon, certs: Certificates) -> None:
    with SessionClient(tls_url(tls_daemon, certs)) as c:
        sid = c.create({"user": "42", "bin": b"\x00\xff"})
        assert c.read(sid) == {"user": b"42", "bin": b"\x00\xff"}
        big = b"x" * 3_000_00  # many TLS records each way
        c.write(sid, {"big": big})
        assert c.read(sid)["big"] == big
        assert c.hello()["server"] == "sessionserver"
    assert "(TLS)" in tls_daemon.log


@pytest.mark.anyio
async def test_the_async_client_over_tls(tls_daemon: Daemon, certs: Certificates) -> None:
    async with AsyncSessionClient(tls_url(tls_daemon, certs, "localhost")) as c:
        sid = await c.create({"user": "42"})
        big = b"y" * 3_000_00
        await c.write(sid, {"big": big})
        assert await c.read(sid) == {"user": b"42", "big": big}
        async with c.session(sid) as s:
            await s.put("more", "1")
        assert (await c.read(sid))["more"] == b"1"


def test_the_text_framing_over_tls(tls_daemon: Daemon, certs: Certificates) -> None:
    context = ssl.create_default_context(cafile=str(certs.ca))
    with (
        socket.create_connection(("127.0.0.1", tls_daemon.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(b"new\r\nput foo bar baz\r\nget foo\r\nclose\r\n")
        replies = b""
        while replies.count(b"\r\n") < 4:
            replies += tls.recv(4096)
    lines = replies.decode().splitlines()
    assert lines[0].startswith("ok ") and len(lines[0]) == 35
    assert lines[1:] == ["ok", "ok bar baz", "ok"]


def redis_cli(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("redis-cli")
    assert exe, "redis-cli is needed (Debian: redis-tools); .ci/run installs it"
    return subprocess.run(
        [exe, "-h", "127.0.0.1", "-p", str(daemon.port), *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_redis_cli_over_tls(tls_daemon: Daemon, mtls_daemon: Daemon, certs: Certificates) -> None:
    tls = ["--tls", "--cacert", str(certs.ca)]
    sid = redis_cli(tls_daemon, *tls, "create", "user", "42").stdout.strip()
    assert len(sid) == 32
    assert redis_cli(tls_daemon, *tls, "read", sid).stdout.split() == ["user", "42"]
    client = ["--cert", str(certs.client_cert), "--key", str(certs.client_key)]
    assert redis_cli(mtls_daemon, *tls, *client, "ping").stdout.strip() == "PONG"
    refused = redis_cli(mtls_daemon, *tls, "ping")
    assert "PONG" not in refused.stdout


def test_client_certificates(mtls_daemon: Daemon, certs: Certificates) -> None:
    with SessionClient(tls_url(mtls_daemon, certs, client=certs)) as c:
        sid = c.create({"k": "v"})
        assert c.read(sid) == {"k": b"v"}
    with (
        SessionClient(tls_url(mtls_daemon, certs)) as c,
        pytest.raises(ConnectionLost, match=r"closed the TLS connection.*\?cert=FILE&key=FILE"),
    ):
        c.ping()


def test_a_certificate_from_another_ca(
    mtls_daemon: Daemon, certs: Certificates, stranger: Certificates
) -> None:
    # The server's certificate, checked against a CA that did not sign it.
    untrusted = f"sessionservers://127.0.0.1:{mtls_daemon.port}?ca={stranger.ca}"
    with SessionClient(untrusted) as c, pytest.raises(TLSError) as caught:
        c.ping()
    message = str(caught.value)
    assert message.startswith(f"the TLS certificate of 127.0.0.1:{mtls_daemon.port} is not trusted")
    assert message.endswith("(give the CA that signed it with ?ca=FILE)")
    # The client's certificate, from a CA the server does not trust.
    with (
        SessionClient(tls_url(mtls_daemon, certs, client=stranger)) as c,
        pytest.raises(ConnectionLost, match="closed the TLS connection"),
    ):
        c.ping()


def test_the_host_name_is_checked(
    start_daemon: StartDaemon, tmp_path: Path, certs: Certificates
) -> None:
    from sessionserver.bench.certs import make_certificates

    other = make_certificates(tmp_path / "other", hosts=("sessions.example",))
    daemon = start_daemon(
        "--storage",
        "memory://",
        "--tls-cert",
        str(other.server_cert),
        "--tls-key",
        str(other.server_key),
    )
    with SessionClient(tls_url(daemon, other)) as c, pytest.raises(TLSError) as caught:
        c.ping()
    assert str(caught.value).startswith(
        f"the TLS certificate of 127.0.0.1:{daemon.port} is for another host: IP address mismatch"
    )


def test_tls_and_plain_mixed_up(
    tls_daemon: Daemon, memory_daemon: Daemon, certs: Certificates
) -> None:
    with SessionClient(tls_url(memory_daemon, certs)) as c, pytest.raises(TLSError) as caught:
        c.ping()
    assert "is it a TLS server?" in str(caught.value)
    # A plain client gets no reply from a TLS listener, which drops its bytes.
    with (
        SessionClient(f"sessionserver://127.0.0.1:{tls_daemon.port}", timeout=5) as c,
        pytest.raises(ConnectionLost),
    ):
        c.ping()


def test_bad_client_tls_options(certs: Certificates, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="use sessionservers://"):
        SessionClient(f"sessionserver://127.0.0.1:1?ca={certs.ca}")
    with pytest.raises(ConfigurationError, match=r"^ca=/nope\.pem: No such file"):
        SessionClient("sessionservers://127.0.0.1:1?ca=/nope.pem")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ConfigurationError, match="not a usable PEM file"):
        SessionClient(f"sessionservers://127.0.0.1:1?ca={certs.ca}&cert={junk}")
    with pytest.raises(ConfigurationError, match="key= needs cert="):
        SessionClient(f"sessionservers://127.0.0.1:1?key={certs.client_key}")
    with pytest.raises(ConfigurationError, match="cert="):
        SessionClient(
            f"sessionservers://127.0.0.1:1?cert={certs.client_cert}&key={certs.server_key}"
        )


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sessionserver", "serve", "--storage", "memory://", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tls-cert", "{cert}"], "--tls-cert and --tls-key go together"),
        (["--tls-client-ca", "{ca}"], "--tls-client-ca needs --tls-cert and --tls-key"),
        (["--tls-cert", "/nope.pem", "--tls-key", "{key}"], "cannot use --tls-cert /nope.pem"),
        (
            ["--tls-cert", "{cert}", "--tls-key", "{ca_key}"],
            "the key does not belong to the certificate",
        ),
        (
            ["--tls-cert", "{cert}", "--tls-key", "{key}", "--tls-client-ca", "{junk}"],
            "cannot use --tls-client-ca",
        ),
    ],
)
def test_bad_daemon_tls_options_are_one_line(
    certs: Certificates, tmp_path: Path, args: list[str], message: str
) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("junk\n")
    files = {
        "cert": certs.server_cert,
        "key": certs.server_key,
        "ca": certs.ca,
        "ca_key": certs.ca.with_suffix(".key"),
        "junk": junk,
    }
    result = serve(*(a.format(**files) for a in args))
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sessionserver: ") and message in lines[0]
