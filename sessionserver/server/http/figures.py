"""The figures of one daemon, read once and shown three ways: Prometheus text (``/metrics``),
the dashboard's JSON (``/api/overview``, which ``sessionserver top`` reads too) and nothing else.

:func:`families` and :func:`overview` both start from :func:`plain`, the unlabelled figures
under their Prometheus names, so a number on the dashboard is the number a scrape returns.
Nothing here runs on the session path: a scrape reads plain attributes and the histograms'
bucket lists.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from ... import __version__
from ..metrics import Histogram

if TYPE_CHECKING:
    from .listener import AdminListener

__all__ = ["FIGURES", "Collector", "families", "overview", "plain"]

#: name -> (type, help) of the unlabelled figures, in the order the dashboard lists them.
FIGURES: dict[str, tuple[str, str]] = {
    "sessionserver_sessions": ("gauge", "Live sessions in the storage."),
    "sessionserver_connections": ("gauge", "Client connections open now."),
    "sessionserver_connections_accepted_total": ("counter", "Client connections accepted."),
    "sessionserver_connections_rejected_total": (
        "counter",
        "Client connections refused at --max-connections.",
    ),
    "sessionserver_commands_total": ("counter", "Commands run (by command: see the labels)."),
    "sessionserver_requests_total": (
        "counter",
        "Requests read, whatever their outcome (commands_total counts the commands run).",
    ),
    "sessionserver_sessions_created_total": ("counter", "Sessions created."),
    "sessionserver_sessions_destroyed_total": ("counter", "Sessions destroyed by a command."),
    "sessionserver_locks_held": ("gauge", "Session write locks held now."),
    "sessionserver_lock_waiting": ("gauge", "Writers queued for a session's lock now."),
    "sessionserver_lock_waits_total": ("counter", "Writers that had to queue for a lock."),
    "sessionserver_lock_timeouts_total": (
        "counter",
        "Lock waits that gave up after --lock-timeout.",
    ),
    "sessionserver_lock_leases_expired_total": (
        "counter",
        "Locks taken from a holder that kept them past --lock-lease.",
    ),
    "sessionserver_errors_total": ("counter", "Error replies sent (by reply: see the labels)."),
    "sessionserver_storage_up": ("gauge", "1 while the storage answers the daemon's probe."),
    "sessionserver_storage_probe_seconds": ("gauge", "How long the last storage probe took."),
    "sessionserver_memory_rss_bytes": ("gauge", "Resident memory of the daemon."),
    "sessionserver_start_time_seconds": ("gauge", "When the daemon started (Unix time)."),
}


#: Figures exported with labels; ``plain`` gives their sum over the labels.
_LABELLED = ("sessionserver_commands_total", "sessionserver_errors_total")


def plain(admin: AdminListener) -> dict[str, float]:
    """The unlabelled figures, by Prometheus name."""
    from ..sessions.counters import rss_bytes

    server = admin.server
    c = server.counters
    locks = server.strategy.locks
    return {
        "sessionserver_sessions": admin.sampler.sessions,
        "sessionserver_connections": c.connections,
        "sessionserver_connections_accepted_total": c.connections_total,
        "sessionserver_connections_rejected_total": c.connections_rejected,
        "sessionserver_commands_total": sum(c.calls for c in server.metrics.commands.values()),
        "sessionserver_requests_total": c.commands,
        "sessionserver_sessions_created_total": c.sessions_created,
        "sessionserver_sessions_destroyed_total": c.sessions_destroyed,
        "sessionserver_locks_held": len(locks),
        "sessionserver_lock_waiting": locks.waiting(),
        "sessionserver_lock_waits_total": locks.waits_total,
        "sessionserver_lock_timeouts_total": locks.timeouts_total,
        "sessionserver_lock_leases_expired_total": locks.leases_expired_total,
        "sessionserver_errors_total": c.errors,
        "sessionserver_storage_up": int(admin.sampler.up),
        "sessionserver_storage_probe_seconds": admin.sampler.probe_seconds,
        "sessionserver_memory_rss_bytes": rss_bytes(),
        "sessionserver_start_time_seconds": c.started_at,
    }


def store_figures(admin: AdminListener) -> dict[str, float]:
    """The store's own numeric figures (``Storage.info``) as ``sessionserver_storage_*``."""
    out: dict[str, float] = {}
    for key, value in admin.server.strategy.store.info().items():
        if isinstance(value, int | float):
            out["sessionserver_storage_" + key.removeprefix("storage_")] = value
    return out


def families(admin: AdminListener) -> Iterator[Metric]:
    """Every metric family of ``/metrics``."""
    server = admin.server
    values = plain(admin)
    for name, (kind, help_text) in FIGURES.items():
        if name in _LABELLED:
            continue
        yield _family(kind, name, help_text, values[name])
    info = GaugeMetricFamily(
        "sessionserver_info", "The daemon's version and storage.", labels=["version", "storage"]
    )
    info.add_metric([__version__, server.strategy.store.scheme], 1)
    yield info
    commands = CounterMetricFamily(
        "sessionserver_commands_total", "Commands run, by command.", labels=["command"]
    )
    for name, stats in sorted(server.metrics.commands.items()):
        if stats.calls:
            commands.add_metric([name], stats.calls)
    yield commands
    yield _histogram(
        "sessionserver_command_duration_seconds",
        "How long commands took, waits for locks and the storage included (estimated: "
        f"one in {server.metrics.sample} of those that complete at once is timed).",
        "command",
        {name: stats.histogram for name, stats in server.metrics.commands.items()},
    )
    errors = CounterMetricFamily(
        "sessionserver_errors_total", "Error replies sent, by reply.", labels=["reply"]
    )
    for reply, n in sorted(server.counters.replies.items()):
        errors.add_metric([reply], n)
    yield errors
    yield _histogram(
        "sessionserver_storage_call_duration_seconds",
        "How long calls to the storage took, by operation.",
        "operation",
        server.metrics.store,
    )
    for name, value in store_figures(admin).items():
        kind = "counter" if name.endswith("_total") else "gauge"
        yield _family(kind, name, "The storage's own figure (see Storage.info).", value)


def _family(kind: str, name: str, help_text: str, value: float) -> Metric:
    if kind == "counter":
        return CounterMetricFamily(name, help_text, value=value)
    return GaugeMetricFamily(name, help_text, value=value)


def _histogram(name: str, help_text: str, label: str, hists: dict[str, Histogram]) -> Metric:
    family = HistogramMetricFamily(name, help_text, labels=[label])
    for key, hist in sorted(hists.items()):
        if not hist.count:
            continue
        buckets = [(_le(bound), n) for bound, n in hist.cumulative()]
        family.add_metric([key], buckets, sum_value=hist.total)
    return family


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


class Collector:
    """A ``prometheus_client`` collector over one daemon's figures."""

    def __init__(self, admin: AdminListener) -> None:
        self.admin = admin

    def collect(self) -> Iterator[Metric]:
        return families(self.admin)


def _latency(name: str, hist: Histogram, count: int) -> dict[str, Any]:
    return {
        "name": name,
        "count": count,
        "mean_seconds": hist.total / hist.count if hist.count else None,
        "p50_seconds": hist.quantile(0.5),
        "p99_seconds": hist.quantile(0.99),
    }


def overview(admin: AdminListener) -> dict[str, Any]:
    """What the dashboard and ``sessionserver top`` show, as one JSON object."""
    server = admin.server
    figures = plain(admin)
    commands = [
        _latency(name, stats.histogram, stats.calls)
        for name, stats in server.metrics.commands.items()
        if stats.calls
    ]
    commands.sort(key=lambda row: row["p99_seconds"] or 0.0, reverse=True)
    store_calls = [_latency(n, h, h.count) for n, h in server.metrics.store.items() if h.count]
    store_calls.sort(key=lambda row: row["p99_seconds"] or 0.0, reverse=True)
    return {
        "version": __version__,
        "storage": server.strategy.store.scheme,
        "uptime_seconds": int(time.time() - server.counters.started_at),
        "ready": admin.ready,
        "figures": figures,
        "rates": admin.sampler.rates(),
        "commands": commands,
        "slowest": server.metrics.slow.slowest(),
        "errors": dict(sorted(server.counters.replies.items())),
        "store_calls": store_calls,
        "store": store_figures(admin),
    }
