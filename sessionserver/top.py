"""``sessionserver top``: the dashboard's figures in a terminal, refreshed live (rich).

It reads the same ``/api/overview`` of the daemon's admin listener as the dashboard does, so
an operator on a box without a browser sees the same numbers.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import RenderableType

__all__ = ["top"]

#: (label, figure, unit) of the figures shown, in the dashboard's order; rate(x) is per second.
ROWS = (
    ("sessions", "sessionserver_sessions", ""),
    ("connections", "sessionserver_connections", ""),
    ("commands", "rate(sessionserver_commands_total)", "/s"),
    ("commands, in all", "sessionserver_commands_total", ""),
    ("lock waits", "sessionserver_lock_waits_total", ""),
    ("waiting for a lock now", "sessionserver_lock_waiting", ""),
    ("lock timeouts", "sessionserver_lock_timeouts_total", ""),
    ("errors", "sessionserver_errors_total", ""),
    ("errors", "rate(sessionserver_errors_total)", "/s"),
    ("storage up", "sessionserver_storage_up", ""),
    ("storage probe", "sessionserver_storage_probe_seconds", "ms"),
)


def fetch(url: str, token: str | None, *, timeout: float = 5.0) -> dict[str, Any]:
    """The overview of the daemon whose admin listener is at ``url``.

    Raises:
        click.ClickException: it cannot be read (one line for the operator).
    """
    request = urllib.request.Request(url.rstrip("/") + "/api/overview")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data: dict[str, Any] = json.load(response)
            return data
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            raise click.ClickException(
                f"{url} wants the admin token (--token or SESSIONSERVER_ADMIN_TOKEN)"
            ) from None
        raise click.ClickException(f"{url} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise click.ClickException(f"cannot read {url}: {reason}") from None


def _value(data: dict[str, Any], figure: str) -> float | None:
    if figure.startswith("rate("):
        return _float(data["rates"].get(figure[5:-1]))
    return _float(data["figures"].get(figure))


def _float(value: object) -> float | None:
    return value if isinstance(value, int | float) else None


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value * 1000:.3g}"
    return str(value) if float(value).is_integer() and unit != "/s" else f"{value:.1f}"


def render(data: dict[str, Any], url: str) -> RenderableType:
    """One frame."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    ready = Text("ready", style="bold green") if data["ready"] else Text("NOT READY", "bold red")
    title = Text.assemble(
        ("sessionserver ", "bold"),
        f"{data['version']} at {url}, storage {data['storage']}, up {data['uptime_seconds']} s  ",
        ready,
    )
    figures = Table(box=None, show_header=False, pad_edge=False)
    figures.add_column(style="dim")
    figures.add_column(justify="right", style="bold")
    figures.add_column(style="dim")
    for label, figure, unit in ROWS:
        figures.add_row(label, _number(_value(data, figure), unit), unit)

    commands = Table(title="commands (slowest p99 first)", title_justify="left", box=None)
    for heading in ("command", "count", "mean ms", "p50 ms", "p99 ms"):
        commands.add_column(heading, justify="left" if heading == "command" else "right")
    for row in data["commands"][:10]:
        commands.add_row(
            row["name"],
            str(row["count"]),
            *(_number(row[key], "ms") for key in ("mean_seconds", "p50_seconds", "p99_seconds")),
        )

    slowest = Table(title="slowest commands", title_justify="left", box=None, min_width=30)
    for heading in ("command", "ms", "session", "peer"):
        slowest.add_column(heading, justify="right" if heading == "ms" else "left")
    for row in data["slowest"][:10]:
        slowest.add_row(
            row["command"], _number(row["seconds"], "ms"), row["session"] or "-", row["peer"] or "-"
        )

    errors = Table(title="errors by reply", title_justify="left", box=None, min_width=30)
    errors.add_column("reply")
    errors.add_column("count", justify="right")
    for reply, count in data["errors"].items():
        errors.add_row(reply, str(count))
    return Group(title, Text(), figures, Text(), commands, Text(), slowest, Text(), errors)


@click.command()
@click.option(
    "--url",
    default="http://127.0.0.1:9191",
    show_default=True,
    envvar="SESSIONSERVER_ADMIN_URL",
    show_envvar=True,
    help="The daemon's admin listener (its --admin-host and --admin-port).",
)
@click.option(
    "--token",
    envvar="SESSIONSERVER_ADMIN_TOKEN",
    show_envvar=True,
    metavar="TOKEN",
    help="The daemon's admin token, if it has one (prefer the environment variable).",
)
@click.option(
    "--interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.1, 3600),
    help="Seconds between refreshes.",
)
@click.option("--count", type=click.IntRange(1), help="Stop after this many refreshes.")
@click.option("--once", is_flag=True, help="Print the figures once and exit (for scripts).")
def top(url: str, token: str | None, interval: float, count: int | None, once: bool) -> None:
    """The dashboard's figures in the terminal, refreshed live; Ctrl-C to leave."""
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    console = Console()
    if once:
        console.print(render(fetch(url, token), url))
        return
    stop = threading.Event()
    frames = 0
    with Live(console=console, auto_refresh=False, screen=False) as live:
        try:
            while count is None or frames < count:
                try:
                    frame: RenderableType = render(fetch(url, token), url)
                except click.ClickException as exc:  # shown, and tried again
                    frame = Text(f"{exc.message} (retrying every {interval:g} s)", "bold red")
                live.update(frame, refresh=True)
                frames += 1
                if count is not None and frames >= count:
                    break
                stop.wait(interval)
        except KeyboardInterrupt:
            pass
