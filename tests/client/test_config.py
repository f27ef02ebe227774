"""Client URLs: defaults below a WSGI worker's timeout, options in the query, clear errors."""

from __future__ import annotations

import pytest

from sessionserver.client import ClientConfig
from sessionserver.exceptions import ConfigurationError

#: gunicorn kills a worker that has not answered in 30 s.
GUNICORN_TIMEOUT = 30


def test_defaults_fail_a_request_before_the_worker_is_killed() -> None:
    config = ClientConfig.from_url("sessionserver://127.0.0.1:9090")
    assert (config.connect_timeout, config.timeout, config.pool_timeout) == (3.0, 10.0, 5.0)
    assert config.pool_timeout + config.connect_timeout + config.timeout < GUNICORN_TIMEOUT
    assert config.max_connections == 10 and config.tls is None


def test_query_options_and_keywords() -> None:
    config = ClientConfig.from_url(
        "sessionserver://:s3cr3t@a:1,[::1]:2/?timeout=2.5&connect_timeout=1&max_connections=3",
        pool_timeout=0.5,
        timeout=4,
    )
    assert config.hosts == (("a", 1), ("::1", 2))
    assert config.token is not None and config.token.reveal() == "s3cr3t"
    assert (config.connect_timeout, config.timeout, config.pool_timeout) == (1.0, 4, 0.5)
    assert config.max_connections == 3
    assert "s3cr3t" not in repr(config)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://127.0.0.1:6379", "not a sessionserver:// or sessionservers:// URL"),
        ("sessionserver://", "no host"),
        ("sessionserver://host", "bad host:port"),
        ("sessionserver://h:1?timeout=soon", "timeout='soon' is not a number"),
        ("sessionserver://h:1?timeout=0", "timeout must be positive"),
        ("sessionserver://h:1?max_connections=1.5", "is not a number"),
        ("sessionserver://h:1?colour=red", "unknown client option 'colour'"),
        ("sessionserver://h:1?ca=/x.pem", "use sessionservers://"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ClientConfig.from_url(url)


def test_sessionservers_verifies_by_default() -> None:
    config = ClientConfig.from_url("sessionservers://127.0.0.1:9090")
    assert config.tls is not None
    assert config.tls.check_hostname and config.tls.verify_mode.name == "CERT_REQUIRED"
