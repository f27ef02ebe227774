"""The daemon's configuration: one table of options, read from TOML, environment and flags.

Every option is a row of :data:`OPTIONS`; the CLI builds its flags from the table, the
environment variable of each is ``SESSIONSERVER_<NAME>``, and a TOML file may set any of them
(``max-line`` or ``max_line``).  Precedence, lowest first: built-in default, ``--config`` file,
environment, command-line flag.  Every value goes through the option's parser, so a bad value
gives the same one-line :class:`ConfigError` wherever it came from.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from ..exceptions import ConfigurationError

__all__ = ["OPTIONS", "ConfigError", "Option", "Secret", "ServerConfig", "parse_size"]


#: A configuration value is invalid; the message is one line for the operator.
ConfigError = ConfigurationError


class Secret:
    """A string that never shows itself in ``repr``, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def default_data_dir() -> Path:
    """``$XDG_STATE_HOME/sessionserver``, else ``~/.local/state/sessionserver``."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return Path(base) / "sessionserver"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Everything ``sessionserver serve`` needs; see :data:`OPTIONS` for the meaning."""

    host: str = "127.0.0.1"
    port: int = 9090
    storage: str | None = None
    data_dir: Path = field(default_factory=default_data_dir)
    ttl: int = 1440
    max_lifetime: int | None = None
    lock_timeout: float = 8.0
    lock_lease: float = 30.0
    allow_client_ids: bool = False
    auth_token: Secret | None = None
    admin_token: Secret | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    protected_mode: bool = True
    fsync: Literal["always", "everysec", "no"] = "everysec"
    max_line: int = 8 * 1024 * 1024
    max_value: int = 1024 * 1024
    max_keys: int = 1000
    max_session: int = 4 * 1024 * 1024
    max_sessions: int | None = None
    max_connections: int = 10000
    max_connections_per_address: int = 1000
    output_high_water: int = 1024 * 1024
    output_limit: int = 16 * 1024 * 1024
    idle_timeout: float = 300.0
    graceful_timeout: float = 10.0
    user_keys: tuple[str, ...] = ("_user_id", "_auth_user_id")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"
    admin_host: str = "127.0.0.1"
    admin_port: int | None = None
    loop: Literal["auto", "asyncio", "uvloop"] = "auto"

    @property
    def storage_url(self) -> str:
        """The storage URL, with the embedded durable default filled in."""
        if self.storage:
            return self.storage
        return f"sqlite://{(self.data_dir / 'sessions.db').absolute()}"

    def __post_init__(self) -> None:
        # Limits that only make sense together; one line for the operator, as for any value.
        if self.output_limit < self.output_high_water + 2 * self.max_session:
            raise ConfigError(
                "--output-limit must be at least --output-high-water plus twice --max-session "
                f"({self.output_high_water + 2 * self.max_session} bytes here): a whole "
                "session is one reply"
            )
        if self.auth_token is not None and self.auth_token == self.admin_token:
            raise ConfigError("--admin-token must differ from --auth-token")

    @property
    def max_args(self) -> int:
        """Most arguments of one RESP2 request: the longest that can be valid is a ``write``
        that removes every key of a full session and sets as many new ones."""
        return 3 * self.max_keys + 8

    def with_values(self, values: Mapping[str, Any]) -> ServerConfig:
        return replace(self, **values)


# -- parsers ----------------------------------------------------------------------------------


def _int(low: int, high: int) -> Callable[[Any], int]:
    def parse(raw: Any) -> int:
        if isinstance(raw, bool):
            raise ValueError("expected an integer")
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{raw!r} is not an integer") from None
        if not low <= value <= high:
            raise ValueError(f"{value} is not between {low} and {high}")
        return value

    return parse


def _float(low: float, high: float, *, low_open: bool = False) -> Callable[[Any], float]:
    def parse(raw: Any) -> float:
        if isinstance(raw, bool):
            raise ValueError("expected a number")
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{raw!r} is not a number") from None
        if value != value or value > high or value < low or (low_open and value == low):
            bound = f"greater than {low}" if low_open else f"at least {low}"
            raise ValueError(f"{value:g} must be {bound} and at most {high:g}")
        return value

    return parse


_SIZE_UNITS = {
    "": 1,
    "k": 1024,
    "kb": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1024**3,
    "gib": 1024**3,
}


def parse_size(raw: Any) -> int:
    """A byte count: ``4096``, ``64k``, ``8MiB`` (binary units)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    else:
        text = str(raw).strip().lower()
        number = text.rstrip("kmgib")
        unit = text[len(number) :]
        if unit not in _SIZE_UNITS or not number.isdigit():
            raise ValueError(f"{raw!r} is not a size (examples: 4096, 64k, 8MiB)")
        value = int(number) * _SIZE_UNITS[unit]
    if not 1 <= value <= 1 << 40:
        raise ValueError(f"{raw!r} is out of range")
    return value


def _optional(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def parse_optional(raw: Any) -> Any:
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("", "none")):
            return None
        return parse(raw)

    return parse_optional


def _choice(*choices: str) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        value = str(raw).strip().lower()
        if value not in choices:
            raise ValueError(f"{raw!r} is not one of {', '.join(choices)}")
        return value

    return parse


def _bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    value = str(raw).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{raw!r} is not a boolean (use true or false)")


def _host(raw: Any) -> str:
    value = str(raw).strip()
    if not value or any(c.isspace() for c in value):
        raise ValueError(f"{raw!r} is not a host name or address")
    return value


def _storage(raw: Any) -> str | None:
    from ..storage import check_url  # late: the storage registry imports nothing heavy

    if raw is None or not str(raw).strip():
        return None
    url = str(raw).strip()
    check_url(url)
    return url


def _path(raw: Any) -> Path:
    text = str(raw).strip()
    if not text:
        raise ValueError("empty path")
    return Path(text).expanduser()


def _keys(raw: Any) -> tuple[str, ...]:
    items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
    keys = tuple(str(item).strip() for item in items if str(item).strip())
    for key in keys:
        if any(c.isspace() or c == "|" for c in key):
            raise ValueError(f"{key!r} is not a session key")
    return keys


def _secret(raw: Any) -> Secret | None:
    if raw is None or raw == "":
        return None
    return Secret(str(raw))


@dataclass(frozen=True, slots=True)
class Option:
    """One row of the option table."""

    name: str
    parse: Callable[[Any], Any]
    help: str
    metavar: str = "VALUE"
    flag: bool = False

    @property
    def cli(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def envvar(self) -> str:
        return "SESSIONSERVER_" + self.name.upper()


OPTIONS: tuple[Option, ...] = (
    Option("host", _host, "Address to listen on.", "HOST"),
    Option("port", _int(0, 65535), "TCP port to listen on (0 picks a free one).", "PORT"),
    Option(
        "storage",
        _storage,
        "Where sessions live: memory://, file:///abs/dir, sqlite:///abs/file.db, or a store "
        "several daemons share: redis://host:port/db (rediss:// for TLS, redis+cluster:// "
        "for Redis Cluster; ?prefix=, ?timeout=) or postgresql://user@host/db (?schema=, "
        "?timeout=).  Default: the embedded durable store, sqlite under --data-dir.",
        "URL",
    ),
    Option("data_dir", _path, "Folder of the default storage.", "DIR"),
    Option("ttl", _int(1, 10 * 365 * 86400), "Idle lifetime of a session, in seconds.", "SEC"),
    Option(
        "max_lifetime",
        _optional(_int(1, 10 * 365 * 86400)),
        "Absolute lifetime of a session from its creation, in seconds (default: none).",
        "SEC",
    ),
    Option(
        "lock_timeout",
        _float(0, 86400, low_open=True),
        "Longest wait for a session's write lock before the waiter gets an error (default 8,"
        " below the clients' 10 s request timeout).",
        "SEC",
    ),
    Option(
        "lock_lease",
        _float(0, 86400, low_open=True),
        "Longest a writer may hold a session's lock before losing it.",
        "SEC",
    ),
    Option(
        "allow_client_ids",
        _bool,
        "Let 'open <unknown id> w' create a session with that id (PHP's use_strict_mode=0).",
        flag=True,
    ),
    Option(
        "auth_token",
        _secret,
        "Token clients must send with 'auth' first. Prefer the environment variable: "
        "a flag shows in the process list.",
        "TOKEN",
    ),
    Option(
        "admin_token",
        _secret,
        "Token of the admin role: listing sessions (sessions), reading them without an access "
        "(peek, expires) and gc need it on the session port, and the admin HTTP listener's "
        "/metrics, dashboard and API require 'Authorization: Bearer <token>'. Without it, the "
        "auth token (or, with no token at all, every connection) has the admin role.",
        "TOKEN",
    ),
    Option(
        "tls_cert",
        _optional(_path),
        "TLS: the server's certificate chain (PEM). With --tls-key, the listener speaks TLS "
        "only, in both framings.",
        "FILE",
    ),
    Option("tls_key", _optional(_path), "TLS: the private key of --tls-cert (PEM).", "FILE"),
    Option(
        "tls_client_ca",
        _optional(_path),
        "TLS: also require a client certificate signed by this CA (PEM).",
        "FILE",
    ),
    Option(
        "protected_mode",
        _bool,
        "With no --auth-token, refuse connections from other hosts with an error that says "
        "how to fix it (default on; turn it off only on a network you trust).",
        flag=True,
    ),
    Option(
        "fsync",
        _choice("always", "everysec", "no"),
        "What survives a power loss: always (fsync before each ok), everysec (up to a "
        "second lost) or no (the OS decides). A daemon crash loses nothing acknowledged.",
        "POLICY",
    ),
    Option("max_line", parse_size, "Longest request line.", "SIZE"),
    Option("max_value", parse_size, "Largest value.", "SIZE"),
    Option("max_keys", _int(1, 10_000_000), "Most keys in one session.", "N"),
    Option("max_session", parse_size, "Largest session (keys and values).", "SIZE"),
    Option(
        "max_sessions",
        _optional(_int(1, 1 << 40)),
        "Most live sessions; new and create beyond it get 'err Too many sessions.' "
        "(default: no limit).",
        "N",
    ),
    Option(
        "max_connections",
        _int(1, 1_000_000),
        "Most client connections at once (lowered to what the file-descriptor limit allows).",
        "N",
    ),
    Option(
        "max_connections_per_address",
        _int(1, 1_000_000),
        "Most client connections from one IP address at once.",
        "N",
    ),
    Option(
        "output_high_water",
        parse_size,
        "Stop reading and running a connection's pipelined requests while this much of its "
        "replies is unsent; go on when the client has read them.",
        "SIZE",
    ),
    Option(
        "output_limit",
        parse_size,
        "Disconnect a client whose unsent replies pass this (at least --output-high-water "
        "plus twice --max-session).",
        "SIZE",
    ),
    Option(
        "idle_timeout",
        _float(0, 365 * 86400),
        "Close connections idle this long, in seconds (0: never).",
        "SEC",
    ),
    Option(
        "graceful_timeout",
        _float(0, 3600),
        "On SIGTERM/SIGINT, how long to let requests in flight finish.",
        "SEC",
    ),
    Option(
        "user_keys",
        _keys,
        "Session keys whose value names the session's user, first found wins (for 'log out "
        "everywhere'); comma-separated, empty to turn the index off.",
        "KEYS",
    ),
    Option(
        "log_level",
        _choice("debug", "info", "warning", "error"),
        "Log level (debug adds an access log: one line per command, never values).",
        "LEVEL",
    ),
    Option(
        "log_format",
        _choice("text", "json"),
        "Log lines as text, or as JSON objects one per line (time, level, logger, message "
        "and fields) for a log pipeline.",
        "FORMAT",
    ),
    Option("admin_host", _host, "Address of the admin HTTP listener.", "HOST"),
    Option(
        "admin_port",
        _optional(_int(0, 65535)),
        "Serve the admin HTTP listener on this port: /metrics (Prometheus), /healthz, "
        "/readyz and the live dashboard at / (default: off; 0 picks a free port).",
        "PORT",
    ),
    Option(
        "loop",
        _choice("auto", "asyncio", "uvloop"),
        "Event loop (auto: uvloop if installed).",
        "LOOP",
    ),
)

_BY_NAME = {opt.name: opt for opt in OPTIONS}
assert set(_BY_NAME) == {f.name for f in fields(ServerConfig)}


def parse_value(name: str, raw: Any, source: str) -> Any:
    """Run an option's parser; failures become a one-line :class:`ConfigError`."""
    opt = _BY_NAME[name]
    try:
        return opt.parse(raw)
    except ValueError as exc:
        raise ConfigError(f"invalid {source}: {exc}") from None


def load_toml(path: Path) -> dict[str, Any]:
    """Read a config file into option values (validated)."""
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name not in _BY_NAME:
            raise ConfigError(f"config file {path}: unknown option {key!r}")
        values[name] = parse_value(name, value, f"value for {key!r} in {path}")
    return values
