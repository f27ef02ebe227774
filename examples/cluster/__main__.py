"""``python -m examples.cluster up|down``: start the example in the background, or stop it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import click

from .stack import ROOT, Stack, nginx_binary

DEFAULT_STATE = Path(tempfile.gettempdir()) / "sessionserver-cluster"
state_option = click.option(
    "--state",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_STATE,
    show_default=True,
    help="Where its logs, data and state.json go.",
)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"  # a zombie is gone, but for its parent


def _read(state: Path) -> dict[str, Any] | None:
    try:
        info: dict[str, Any] = json.loads((state / "state.json").read_text())
    except (OSError, ValueError):
        return None
    return info


def _reap_leftovers(info: dict[str, Any]) -> None:
    """A supervisor that was killed left its children: end them (the ones it recorded)."""
    groups = [f["pid"] for f in info.get("front_ends", [])] + [info.get("nginx", {}).get("pid")]
    for pid in groups:
        if pid and _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    for pid in [d["pid"] for d in info.get("daemons", [])] + info.get("redis", {}).get("pids", []):
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@click.group()
def main() -> None:
    """The lecture's architecture on this machine: nginx, cloned front ends, two daemons, a
    Redis Cluster."""


@main.command()
@state_option
@click.option("--timeout", type=float, default=120, show_default=True, help="Seconds to wait.")
def up(state: Path, timeout: float) -> None:
    """Start everything in the background; print where the shop and the dashboards are."""
    info = _read(state)
    if info is not None and _alive(info["supervisor"]):
        raise click.ClickException(
            f"already running: python -m examples.cluster down --state {state}"
        )
    for tool in ("redis-server", "redis-cli"):
        if shutil.which(tool) is None:
            raise click.ClickException(f"{tool} is not installed (Debian: apt-get install redis)")
    if nginx_binary() is None:
        raise click.ClickException("nginx is not installed (Debian: apt-get install nginx)")
    try:
        state.mkdir(parents=True, exist_ok=True)
        if any(state.iterdir()):
            if not (state / "cluster.log").exists():
                raise click.ClickException(f"{state} is not empty: give another --state")
            for old in state.iterdir():  # a stopped run's logs and data
                shutil.rmtree(old) if old.is_dir() else old.unlink()
    except OSError as exc:
        raise click.ClickException(f"cannot use {state}: {exc.strerror}") from None
    with open(state / "cluster.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "examples.cluster", "run", "--state", str(state)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not stopped by the terminal's Ctrl-C
        )
    deadline = time.monotonic() + timeout
    while (info := _read(state)) is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            tail = (state / "cluster.log").read_text(errors="replace").strip().splitlines()[-1:]
            raise click.ClickException(f"it did not start: {' '.join(tail)} (see {state}/)")
        time.sleep(0.1)
    click.echo(f"shop:       {info['url']}  (sign in as alice / wonderland)")
    click.echo("dashboards: " + "  ".join(d["admin"] for d in info["daemons"]))
    click.echo(f"logs:       {state}/")
    click.echo(f"stop:       python -m examples.cluster down --state {state}")


@main.command()
@state_option
def down(state: Path) -> None:
    """Stop everything `up` started."""
    info = _read(state)
    if info is None:
        raise click.ClickException(f"not running (no {state}/state.json)")
    pid = info["supervisor"]
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    if _alive(pid):
        raise click.ClickException(f"the supervisor (pid {pid}) did not stop: see {state}/")
    _reap_leftovers(info)
    (state / "state.json").unlink(missing_ok=True)
    click.echo("stopped")


@main.command(hidden=True)
@state_option
def run(state: Path) -> None:
    """The supervisor `up` starts: it starts everything, then stops it all on SIGTERM."""
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    stack = Stack(state)
    try:
        stack.start()
        stopping.wait()
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
