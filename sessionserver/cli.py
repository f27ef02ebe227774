"""The ``sessionserver`` command: ``serve`` the daemon, ``bench`` it.

``main(argv) -> int`` never lets a traceback reach the operator for a usage or configuration
problem: those print one line, ``sessionserver: <what is wrong>``, and exit non-zero (2 for a
usage error, 1 for a bad value, 3 when the daemon cannot start).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from . import __version__, logs
from .server.config import OPTIONS, ConfigError, ServerConfig, load_toml, parse_value

__all__ = ["cli", "main"]

F = TypeVar("F", bound=Callable[..., Any])

EXIT_CONFIG = 1
EXIT_USAGE = 2
EXIT_STARTUP = 3


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="sessionserver")
def cli() -> None:
    """A central session server for Python web applications.

    Every app server talks to one daemon over TCP: it stores each session's key/value pairs,
    locks a session while one request writes it, and expires idle sessions.  The protocol is
    a line protocol you can drive with telnet, and RESP2 for Redis clients.
    """


def server_options(func: F) -> F:
    """Add one flag per row of the option table (each also read from its environment variable)."""
    for opt in reversed(OPTIONS):
        if opt.flag:
            decl = f"{opt.cli}/--no-{opt.cli[2:]}"
            func = click.option(
                decl, opt.name, default=None, envvar=opt.envvar, show_envvar=True, help=opt.help
            )(func)
        else:
            func = click.option(
                opt.cli,
                opt.name,
                default=None,
                envvar=opt.envvar,
                show_envvar=True,
                metavar=opt.metavar,
                help=opt.help,
            )(func)
    return func


def build_config(
    ctx: click.Context, config_file: str | None, given: dict[str, Any]
) -> ServerConfig:
    """Defaults, then the TOML file, then environment variables, then flags."""
    values: dict[str, Any] = load_toml(Path(config_file)) if config_file else {}
    for opt in OPTIONS:
        raw = given.get(opt.name)
        if raw is None:
            continue
        source = ctx.get_parameter_source(opt.name)
        where = f"{opt.envvar}" if source == ParameterSource.ENVIRONMENT else f"{opt.cli}"
        values[opt.name] = parse_value(opt.name, raw, f"value for {where}")
    return ServerConfig().with_values(values)


@cli.command()
@click.option(
    "--config",
    "config_file",
    envvar="SESSIONSERVER_CONFIG",
    show_envvar=True,
    metavar="FILE",
    help="TOML file with any of the options below (flags and environment win over it).",
)
@server_options
@click.pass_context
def serve(ctx: click.Context, /, config_file: str | None, **given: Any) -> int:
    """Run the session daemon until SIGTERM or SIGINT."""
    from .server.server import run

    config = build_config(ctx, config_file, given)
    logs.configure(config.log_level, config.log_format)
    return run(config)


from .admin import COMMANDS as _ADMIN  # noqa: E402
from .bench.cli import bench  # noqa: E402
from .top import top  # noqa: E402

for _command in (*_ADMIN, bench, top):
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sessionserver`` console script; returns the exit status."""
    from .server.server import StartupError

    try:
        result = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="sessionserver",
            standalone_mode=False,
        )
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        return 0
    except click.ClickException as exc:
        click.echo(f"sessionserver: {exc.format_message()}", err=True)
        return EXIT_USAGE if isinstance(exc, click.UsageError) else exc.exit_code
    except click.exceptions.Abort:
        click.echo("sessionserver: aborted", err=True)
        return 130
    except ConfigError as exc:
        click.echo(f"sessionserver: {exc}", err=True)
        return EXIT_CONFIG
    except StartupError as exc:
        click.echo(f"sessionserver: {exc}", err=True)
        return EXIT_STARTUP
    except KeyboardInterrupt:
        return 130
    return result if isinstance(result, int) else 0
