from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .helpers import Daemon

StartDaemon = Callable[..., Daemon]


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[StartDaemon]:
    """Start daemons (stopped at teardown): ``start_daemon("--storage", "memory://")``."""
    started: list[Daemon] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Daemon:
        daemon = Daemon.start(tmp_path, *args, env=env)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


@pytest.fixture(scope="module")
def memory_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One daemon on memory:// for a whole test module (tests use their own sessions)."""
    daemon = Daemon.start(
        tmp_path_factory.mktemp("daemon"), "--storage", "memory://", "--lock-timeout", "1"
    )
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a three-node Redis Cluster started for this test run."""
    from sessionserver.process import RedisCluster

    cluster = RedisCluster(tmp_path_factory.mktemp("redis-cluster"))
    yield cluster.url
    cluster.stop()


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def session_url(memory_daemon: Daemon) -> str:
    """The URL of the module's memory daemon, for the framework adapters."""
    return f"sessionserver://{memory_daemon.host}:{memory_daemon.port}"
