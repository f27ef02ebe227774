"""Client configuration, from a ``sessionserver://`` URL.

``sessionserver://[:token@]host:port[,host:port...][?option=value&...]``

Several hosts are tried in order (failover); options are the keyword arguments of
:class:`ClientConfig` (``max_connections``, ``connect_timeout``, ``timeout``,
``pool_timeout``).  The token may also come from ``SESSIONSERVER_AUTH_TOKEN``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import parse_qsl, unquote

from ..exceptions import ConfigurationError
from ..server.config import Secret

__all__ = ["DEFAULT_URL", "ClientConfig"]

DEFAULT_URL = "sessionserver://127.0.0.1:9090"


@dataclass(frozen=True)
class ClientConfig:
    """Where the daemon is and how the pool behaves.

    Attributes:
        hosts: (host, port) pairs, tried in order; the first that answers is used until it
            fails.
        token: the ``auth`` token, if the server wants one (never shown in ``repr``).
        max_connections: connections the pool may open at once.
        connect_timeout: seconds to connect to one host.
        timeout: seconds for a reply once a request is sent (a lock wait counts: keep it
            above the server's ``--lock-timeout``).
        pool_timeout: seconds to wait for a free pooled connection.
    """

    hosts: tuple[tuple[str, int], ...] = (("127.0.0.1", 9090),)
    token: Secret | None = field(default=None, repr=True)
    max_connections: int = 10
    connect_timeout: float = 5.0
    timeout: float = 60.0
    pool_timeout: float = 10.0

    @classmethod
    def from_url(cls, url: str = DEFAULT_URL, **options: Any) -> ClientConfig:
        """Parse a URL; keyword options override those in its query string.

        Raises:
            ConfigurationError: the URL or an option is invalid.
        """
        scheme, sep, rest = url.partition("://")
        if not sep or scheme != "sessionserver":
            raise ConfigurationError(f"not a sessionserver:// URL: {url!r}")
        rest, _, query = rest.partition("?")
        rest = rest.rstrip("/")
        token = None
        if "@" in rest:
            userinfo, _, rest = rest.rpartition("@")
            secret = unquote(userinfo.partition(":")[2] if ":" in userinfo else userinfo)
            token = Secret(secret) if secret else None
        if token is None and os.environ.get("SESSIONSERVER_AUTH_TOKEN"):
            token = Secret(os.environ["SESSIONSERVER_AUTH_TOKEN"])
        hosts = tuple(_host(part, url) for part in rest.split(",")) if rest else ()
        if not hosts:
            raise ConfigurationError(f"no host in {url!r}")
        values: dict[str, Any] = dict(parse_qsl(query))
        values.update(options)
        config = cls(hosts=hosts, token=token)
        known = {f.name: f.type for f in fields(cls)}
        converted: dict[str, Any] = {}
        for name, value in values.items():
            if name not in known or name in ("hosts", "token"):
                raise ConfigurationError(f"unknown client option {name!r}")
            try:
                number = float(value) if name.endswith("timeout") else int(value)
            except (TypeError, ValueError):
                raise ConfigurationError(f"{name}={value!r} is not a number") from None
            if number <= 0:
                raise ConfigurationError(f"{name} must be positive")
            converted[name] = number
        return replace(config, **converted)


def _host(part: str, url: str) -> tuple[str, int]:
    if part.startswith("["):  # [::1]:9090
        host, _, port = part[1:].partition("]:")
    else:
        host, _, port = part.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigurationError(f"bad host:port {part!r} in {url!r}")
    return host, int(port)
