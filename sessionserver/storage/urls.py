"""Parsing the network stores' URLs without importing their drivers (the config check runs
before anything heavy is imported, and names a missing extra in one line)."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

__all__ = ["REDIS_TLS_PARAMETERS", "parse_postgres_url", "parse_redis_url", "redact"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def redact(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def _common(url: str, own: tuple[str, ...]) -> tuple[dict[str, str], list[tuple[str, str]]]:
    parts = urlsplit(url)
    shown = redact(url)
    if not parts.hostname:
        raise ValueError(f"storage {shown!r} needs a host")
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise ValueError(f"storage {shown!r}: bad port") from None
    query = parse_qsl(parts.query, keep_blank_values=True)
    return {k: v for k, v in query if k in own}, [(k, v) for k, v in query if k not in own]


def _numbers(url: str, own: dict[str, str], max_default: int) -> tuple[float, int]:
    shown = redact(url)
    try:
        timeout = float(own.get("timeout", "5"))
        max_connections = int(own.get("max_connections", str(max_default)))
    except ValueError:
        raise ValueError(
            f"storage {shown!r}: timeout and max_connections must be numbers"
        ) from None
    if not 0 < timeout <= 600 or not 1 <= max_connections <= 10_000:
        raise ValueError(
            f"storage {shown!r}: timeout must be in (0, 600] seconds and "
            "max_connections in [1, 10000]"
        )
    return timeout, max_connections


#: Our query parameters (the rest of the URL goes to the connection).
_REDIS_OWN = ("prefix", "timeout", "max_connections")

#: The TLS parameters of a ``rediss://`` URL (redis-py's names; see ``redis/options.py``).
REDIS_TLS_PARAMETERS = tuple(
    f"ssl_{name}"
    for name in (
        "keyfile",
        "certfile",
        "cert_reqs",
        "include_verify_flags",
        "exclude_verify_flags",
        "ca_certs",
        "ca_data",
        "ca_path",
        "check_hostname",
        "min_version",
        "ciphers",
        "password",
    )
)


def parse_redis_url(url: str) -> tuple[str, bool, str, float, int]:
    """(redis-py URL, cluster?, key prefix, timeout, max connections) of a storage URL:
    ``redis[s][+cluster]://[user:password@]host:port[/db][?prefix=&timeout=&max_connections=]``.

    Raises:
        ValueError: a one-line message.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    cluster = scheme.endswith("+cluster")
    base = scheme.removesuffix("+cluster")
    if base not in ("redis", "rediss"):
        raise ValueError(f"storage {redact(url)!r}: not a Redis URL")
    own, rest = _common(url, _REDIS_OWN)
    prefix = own.get("prefix", "sessionserver")
    if not prefix or any(c in prefix for c in "{}*?[] \\"):
        raise ValueError(
            f"storage {redact(url)!r}: the prefix must be plain text (no {{}}*?[], spaces)"
        )
    timeout, max_connections = _numbers(url, own, 64)
    unknown = [k for k, _ in rest if not cluster and k not in REDIS_TLS_PARAMETERS]
    if unknown:
        raise ValueError(
            f"storage {redact(url)!r}: unknown parameter {unknown[0]!r} (known: prefix, "
            "timeout, max_connections and, for rediss://, ssl_ca_certs and the other ssl_*)"
        )
    path = parts.path.rstrip("/")
    if path and not path[1:].isdigit():
        raise ValueError(f"storage {redact(url)!r}: the database must be a number, as in /0")
    if cluster and path not in ("", "/0"):
        raise ValueError(f"storage {redact(url)!r}: a Redis Cluster has only database 0")
    target = urlunsplit((base, parts.netloc, path, urlencode(rest, quote_via=quote), ""))
    return target, cluster, prefix, timeout, max_connections


_POSTGRES_OWN = ("schema", "timeout", "max_connections")


def parse_postgres_url(url: str) -> tuple[str, str, float, int]:
    """(libpq URL, schema, timeout, max connections) of a storage URL:
    ``postgresql://[user[:password]@]host[:port]/db[?schema=&timeout=&max_connections=&...]``
    (other query parameters go to libpq, such as ``sslmode``).

    Raises:
        ValueError: a one-line message.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("postgresql", "postgres"):
        raise ValueError(f"storage {redact(url)!r}: not a PostgreSQL URL")
    own, rest = _common(url, _POSTGRES_OWN)
    if not parts.path.strip("/"):
        raise ValueError(f"storage {redact(url)!r} needs a database, as in postgresql://host/db")
    schema = own.get("schema", "sessionserver")
    if not _NAME.match(schema):
        raise ValueError(
            f"storage {redact(url)!r}: the schema must be a plain SQL name (letters, digits, _)"
        )
    timeout, max_connections = _numbers(url, own, 4)
    target = urlunsplit(
        ("postgresql", parts.netloc, parts.path, urlencode(rest, quote_via=quote), "")
    )
    return target, schema, timeout, max_connections
