from __future__ import annotations

from collections.abc import Iterator

import pytest

from sessionserver.bench.certs import Certificates, make_certificates

from ..helpers import Daemon


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A throwaway CA, and a server (127.0.0.1, localhost) and client certificate it signed."""
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """Certificates of another CA, which nobody here trusts."""
    return make_certificates(tmp_path_factory.mktemp("stranger"))


def _tls_args(certs: Certificates) -> list[str]:
    return ["--tls-cert", str(certs.server_cert), "--tls-key", str(certs.server_key)]


@pytest.fixture(scope="module")
def tls_daemon(tmp_path_factory: pytest.TempPathFactory, certs: Certificates) -> Iterator[Daemon]:
    daemon = Daemon.start(
        tmp_path_factory.mktemp("tls"), "--storage", "memory://", *_tls_args(certs)
    )
    yield daemon
    daemon.stop()


@pytest.fixture(scope="module")
def mtls_daemon(tmp_path_factory: pytest.TempPathFactory, certs: Certificates) -> Iterator[Daemon]:
    """A daemon that also wants a client certificate signed by the CA."""
    daemon = Daemon.start(
        tmp_path_factory.mktemp("mtls"),
        "--storage",
        "memory://",
        *_tls_args(certs),
        "--tls-client-ca",
        str(certs.ca),
    )
    yield daemon
    daemon.stop()


@pytest.fixture(
    params=[
        "asyncio",
        # uvicorn runs apps on uvloop when it is installed: the client's asyncio fast path
        # must hold there too.
        pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
        "trio",
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> object:
    return request.param
