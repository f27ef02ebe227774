from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..helpers import Daemon


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
    """Every async client test runs on asyncio, uvloop and trio."""
    return request.param


@pytest.fixture(scope="module")
def small_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A daemon with tight limits and a short lock timeout."""
    daemon = Daemon.start(
        Path(tmp_path_factory.mktemp("small")),
        "--storage",
        "memory://",
        "--max-value",
        "16",
        "--max-keys",
        "4",
        "--lock-timeout",
        "0.5",
    )
    yield daemon
    daemon.stop()


def url(daemon: Daemon, **query: object) -> str:
    options = "&".join(f"{k}={v}" for k, v in query.items())
    return f"sessionserver://{daemon.host}:{daemon.port}" + (f"?{options}" if options else "")
