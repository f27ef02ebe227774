"""Client configuration, from a ``sessionserver://`` (or ``sessionservers://``, TLS) URL.

``sessionserver[s]://[:token@]host:port[,host:port...][?option=value&...]``

Several hosts are tried in order (failover); options are the keyword arguments of
:class:`ClientConfig`: ``max_connections``, ``connect_timeout``, ``timeout``, ``pool_timeout``
and, for TLS, ``ca``, ``cert``, ``key``.  The token may also come from
``SESSIONSERVER_AUTH_TOKEN``.

The timeouts default below a WSGI worker's own timeout (gunicorn kills a worker after 30 s), so
a daemon that is down or stuck turns into an error the application can answer, not a killed
worker: at worst ``pool_timeout`` + ``connect_timeout`` + ``timeout`` = 5 + 3 + 10 s.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, unquote

from ..exceptions import ConfigurationError
from ..server.config import Secret

__all__ = ["DEFAULT_URL", "ClientConfig"]

DEFAULT_URL = "sessionserver://127.0.0.1:9090"
_SCHEMES = {"sessionserver": False, "sessionservers": True}


@dataclass(frozen=True)
class ClientConfig:
    """Where the daemon is and how the pool behaves.

    Attributes:
        hosts: (host, port) pairs, tried in order; the first that answers is used until it
            fails.
        token: the ``auth`` token, if the server wants one (never shown in ``repr``).
        max_connections: connections the pool may open at once (default 10).
        connect_timeout: seconds to connect to one host, TLS handshake included (default 3).
        timeout: seconds for the replies once a request is sent (default 10).  A wait for a
            session's write lock counts: keep the server's ``--lock-timeout`` below it to get
            ``SessionLocked`` rather than ``ReadTimeout``.
        pool_timeout: seconds to wait for a free pooled connection (default 5).
        ca: TLS: the CA certificate(s) that signed the server's certificate, a PEM file
            (default: the system's trusted CAs).
        cert: TLS: this client's certificate (PEM), for a server that asks for one.
        key: TLS: the private key of ``cert`` (default: read from ``cert``'s file).
        tls: the ``ssl.SSLContext`` of a ``sessionservers://`` URL, built once from ``ca``,
            ``cert`` and ``key``: the server's certificate and host name are verified.
    """

    hosts: tuple[tuple[str, int], ...] = (("127.0.0.1", 9090),)
    token: Secret | None = field(default=None, repr=True)
    max_connections: int = 10
    connect_timeout: float = 3.0
    timeout: float = 10.0
    pool_timeout: float = 5.0
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    tls: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_url(cls, url: str = DEFAULT_URL, **options: Any) -> ClientConfig:
        """Parse a URL; keyword options override those in its query string.

        Raises:
            ConfigurationError: the URL or an option is invalid, or a TLS file unusable.
        """
        scheme, sep, rest = url.partition("://")
        if not sep or scheme not in _SCHEMES:
            raise ConfigurationError(f"not a sessionserver:// or sessionservers:// URL: {url!r}")
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
        converted: dict[str, Any] = {}
        for name, value in values.items():
            parse = _PARSERS.get(name)
            if parse is None:
                raise ConfigurationError(f"unknown client option {name!r}")
            converted[name] = parse(name, value)
        config = replace(cls(hosts=hosts, token=token), **converted)
        if _SCHEMES[scheme]:
            return replace(config, tls=_context(config))
        if config.ca or config.cert or config.key:
            raise ConfigurationError("ca, cert and key are TLS options: use sessionservers://")
        return config


def _positive(kind: Callable[[Any], float]) -> Callable[[str, Any], Any]:
    def parse(name: str, value: Any) -> Any:
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise ConfigurationError(f"{name}={value!r} is not a number") from None
        if not number > 0:
            raise ConfigurationError(f"{name} must be positive")
        return number

    return parse


def _file(name: str, value: Any) -> str:
    path = os.fspath(value)
    if not isinstance(path, str) or not path:
        raise ConfigurationError(f"{name} must name a file")
    return os.path.expanduser(path)


#: The options of the URL query (and of the keyword arguments), each with its parser.
_PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "max_connections": _positive(int),
    "connect_timeout": _positive(float),
    "timeout": _positive(float),
    "pool_timeout": _positive(float),
    "ca": _file,
    "cert": _file,
    "key": _file,
}


def _context(config: ClientConfig) -> ssl.SSLContext:
    """The client's TLS context: verification on, host name checked."""
    if config.key and not config.cert:
        raise ConfigurationError("key= needs cert=, the certificate it belongs to")
    try:
        context = ssl.create_default_context(cafile=config.ca)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"ca={config.ca}: {_reason(exc)}") from None
    if config.cert:
        try:
            context.load_cert_chain(config.cert, config.key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(f"cert={config.cert}: {_reason(exc)}") from None
    return context


def _reason(exc: OSError | ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLError):
        return f"not a usable PEM file ({exc.reason or exc})"
    return exc.strerror or str(exc)


def _host(part: str, url: str) -> tuple[str, int]:
    if part.startswith("["):  # [::1]:9090
        host, _, port = part[1:].partition("]:")
    else:
        host, _, port = part.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigurationError(f"bad host:port {part!r} in {url!r}")
    return host, int(port)
