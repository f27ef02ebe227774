"""Administration commands: ``sessionserver ping``, ``stats``, ``sessions``, ``show ID``,
``backup DEST``."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from .client import DEFAULT_URL, SessionClient
from .exceptions import ProtocolError, ServerError, SessionNotFound, SessionServerError

__all__ = ["COMMANDS"]

F = TypeVar("F", bound=Callable[..., Any])


def _url_option(func: F) -> F:
    return click.option(
        "--url",
        default=DEFAULT_URL,
        show_default=True,
        envvar="SESSIONSERVER_URL",
        show_envvar=True,
        help="The daemon: sessionserver://[:token@]host:port.",
    )(func)


def _client(url: str, timeout: float) -> SessionClient:
    try:
        return SessionClient(url, connect_timeout=5, timeout=timeout, pool_timeout=5)
    except SessionServerError as exc:
        raise click.ClickException(str(exc)) from None


def _run(url: str, action: Callable[[SessionClient], None], *, timeout: float = 10) -> None:
    client = _client(url, timeout)
    try:
        action(client)
    except SessionNotFound as exc:
        raise click.ClickException(f"no such session ({exc})") from None
    except SessionServerError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        client.close()


@click.command()
@_url_option
def ping(url: str) -> None:
    """Check that a sessionserver answers (not some other server on that port)."""

    def action(client: SessionClient) -> None:
        where = ",".join(f"{host}:{port}" for host, port in client.config.hosts)
        try:
            server = client.hello().get("server")
        except (ServerError, ProtocolError):
            server = None  # no HELLO, or not a RESP server at all
        if server != "sessionserver":
            said = f" (it says it is {server!r})" if server else ""
            raise click.ClickException(f"{where} is not a sessionserver{said}")
        click.echo("pong")

    _run(url, action)


@click.command()
@_url_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def stats(url: str, as_json: bool) -> None:
    """The daemon's counters."""

    def action(client: SessionClient) -> None:
        values = client.stats()
        if as_json:
            click.echo(
                json.dumps(
                    {k: int(v) if v.lstrip("-").isdigit() else v for k, v in values.items()},
                    indent=2,
                )
            )
            return
        width = max(map(len, values))
        for name, value in values.items():
            shown = f"{int(value):,}" if value.isdigit() else value
            click.echo(f"{name:<{width}}  {shown}")

    _run(url, action)


@click.command()
@_url_option
@click.option("--limit", default=0, help="Show at most this many (0: all).")
def sessions(url: str, limit: int) -> None:
    """List the live session ids (without counting as an access)."""

    def action(client: SessionClient) -> None:
        for n, sid in enumerate(client.iter_sessions(page=500), 1):
            click.echo(sid)
            if limit and n >= limit:
                break

    _run(url, action)


@click.command()
@_url_option
@click.argument("session_id")
def show(url: str, session_id: str) -> None:
    """Show a session's keys and values (without counting as an access)."""

    def action(client: SessionClient) -> None:
        data = client.peek(session_id)
        left = client.expires(session_id)
        click.echo(f"session {session_id}: {len(data)} keys, expires in {left} s")
        for key, value in data.items():
            try:
                shown = value.decode()
            except UnicodeDecodeError:
                shown = repr(value)
            click.echo(f"  {key} = {shown}")

    _run(url, action)


@click.command()
@_url_option
@click.option(
    "--timeout",
    default=600.0,
    show_default=True,
    help="Seconds to wait for the copy (a large store takes a while).",
)
@click.argument("dest")
def backup(url: str, timeout: float, dest: str) -> None:
    """Have the daemon copy its embedded store to DEST, a new file on the daemon's host.

    The copy is consistent and holds every write the daemon acknowledged before; restore by
    starting a daemon on it.  Needs the admin token (in the URL).  A relative DEST is taken
    from this directory.
    """

    def action(client: SessionClient) -> None:
        size = int(client.execute("backup", path))
        click.echo(f"backed up to {path} ({size:,} bytes)")

    path = os.path.abspath(dest)
    _run(url, action, timeout=timeout)


COMMANDS = [ping, stats, sessions, show, backup]
