"""The admin HTTP listener: Prometheus metrics, health probes and the live dashboard."""

from __future__ import annotations

from .listener import AdminListener

__all__ = ["AdminListener"]
