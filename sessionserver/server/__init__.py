"""The daemon: config -> server -> connection -> dispatcher -> storage."""

from __future__ import annotations

from .config import ConfigError, ServerConfig
from .server import Server, StartupError, run

__all__ = ["ConfigError", "Server", "ServerConfig", "StartupError", "run"]
