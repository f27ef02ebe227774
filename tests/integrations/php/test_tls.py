"""The handler's TLS: it verifies the server's certificate against its CA and can present a
client certificate, against a daemon serving TLS itself (--tls-cert/--tls-key, and
--tls-client-ca to require client certificates)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sessionserver.bench.certs import make_certificates

from ...helpers import Daemon
from .server import PhpServer, result
from .test_failures import assert_no_fatal


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    made = make_certificates(tmp_path_factory.mktemp("certs"))
    return {
        "ca": made.ca,
        "cert": made.server_cert,
        "key": made.server_key,
        "client": made.client_cert,
        "client_key": made.client_key,
    }


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory, certs: dict[str, Path]) -> Iterator[int]:
    """The port of a daemon serving TLS only, which requires a client certificate."""
    daemon = Daemon.start(
        tmp_path_factory.mktemp("tls-daemon"),
        "--storage",
        "memory://",
        *("--tls-cert", str(certs["cert"]), "--tls-key", str(certs["key"])),
        *("--tls-client-ca", str(certs["ca"])),
    )
    yield daemon.port
    daemon.stop()


def run(tmp_path: Path, address: str, options: dict[str, Any]) -> str:
    with PhpServer(tmp_path, address, options=options, workers=1) as php:
        with php.browser() as browser:
            first = browser.get("/counter.php")
            assert_no_fatal(first)
            if not result(first)["started"]:
                return first.text
            assert result(browser.get("/counter.php"))["count"] == 2
            return "ok"


def test_tls_with_the_ca_and_a_client_certificate(
    front: int, certs: dict[str, Path], tmp_path: Path
) -> None:
    tls = {"cafile": str(certs["ca"]), "local_cert": str(certs["client"])}
    tls["local_pk"] = str(certs["client_key"])
    assert run(tmp_path, f"tls://127.0.0.1:{front}", {"tls": tls}) == "ok"
    assert run(tmp_path, f"127.0.0.1:{front}", {"tls": tls}) == "ok"  # the option alone


def test_an_untrusted_server_certificate_is_refused(front: int, tmp_path: Path) -> None:
    text = run(tmp_path, f"tls://127.0.0.1:{front}", {})
    assert f"SessionServerHandler: cannot connect to 127.0.0.1:{front}" in text
    assert "certificate verify failed" in text


def test_a_server_that_wants_a_client_certificate(
    front: int, certs: dict[str, Path], tmp_path: Path
) -> None:
    text = run(tmp_path, f"127.0.0.1:{front}", {"tls": {"cafile": str(certs["ca"])}})
    # TLS 1.3 checks the client's certificate after the handshake: the server hangs up on the
    # first request (seen as the send or as the reply failing, whichever comes first).
    assert re.search(
        rf"SessionServerHandler: (127.0.0.1:{front} closed the connection"
        rf"|cannot send to 127.0.0.1:{front})",
        text,
    ), text
