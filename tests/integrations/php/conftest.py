from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from sessionserver import SessionClient

from ...helpers import Daemon
from .server import PhpServer

if shutil.which("php") is None:  # .ci/run installs Debian's php-cli: a missing one is a failure
    raise RuntimeError("these tests need php-cli on PATH (apt-get install php-cli)")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A daemon for the module; the lock wait is long enough never to end a test by itself."""
    d = Daemon.start(tmp_path_factory.mktemp("daemon"), "--storage", "memory://")
    yield d
    d.stop()


@pytest.fixture(scope="module")
def php(daemon: Daemon, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PhpServer]:
    """``php -S`` serving the pages with the handler on the module's daemon."""
    with PhpServer(tmp_path_factory.mktemp("php"), f"{daemon.host}:{daemon.port}") as server:
        yield server


@pytest.fixture(scope="module")
def client(daemon: Daemon) -> Iterator[SessionClient]:
    with SessionClient(f"sessionserver://{daemon.host}:{daemon.port}") as c:
        yield c
