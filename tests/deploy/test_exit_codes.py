"""The exit codes the README's production section lists, each from a real process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import StartDaemon
from ..helpers import run_cli

EXIT_OK, EXIT_CONFIG, EXIT_USAGE, EXIT_STARTUP = 0, 1, 2, 3


def sessionserver(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, timeout=60)


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sessionserver: "), done.stderr
    return lines[0]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_daemon_exits_0(start_daemon: StartDaemon, signum: int) -> None:
    daemon = start_daemon("--storage", "memory://")
    daemon.signal(signum)
    assert daemon.wait() == EXIT_OK


def test_a_bad_value_or_config_file_exits_1(tmp_path: Path) -> None:
    done = sessionserver("serve", "--ttl", "soon")
    assert done.returncode == EXIT_CONFIG and "--ttl" in one_line(done)
    config = tmp_path / "bad.toml"
    config.write_text('fsync = "sometimes"\n')
    done = sessionserver("serve", "--config", str(config))
    assert done.returncode == EXIT_CONFIG and "fsync" in one_line(done)


def test_a_bad_command_line_exits_2() -> None:
    done = sessionserver("serve", "--no-such-option")
    assert done.returncode == EXIT_USAGE and "--no-such-option" in one_line(done)
    done = sessionserver("backup")
    assert done.returncode == EXIT_USAGE and "DEST" in one_line(done)


def test_a_daemon_that_cannot_start_exits_3(start_daemon: StartDaemon, tmp_path: Path) -> None:
    running = start_daemon()  # the embedded store, in tmp_path/data
    done = sessionserver("serve", "--port", str(running.port), "--storage", "memory://")
    assert done.returncode == EXIT_STARTUP and "cannot listen" in one_line(done)
    done = sessionserver("serve", "--port", "0", "--data-dir", str(tmp_path / "data"))
    assert done.returncode == EXIT_STARTUP and "another sessionserver" in one_line(done)
    missing = str(tmp_path / "missing.pem")
    done = sessionserver("serve", "--port", "0", "--tls-cert", missing, "--tls-key", missing)
    assert done.returncode == EXIT_STARTUP and "missing.pem" in one_line(done)


def test_an_admin_command_that_fails_exits_1() -> None:
    done = sessionserver("ping", "--url", "sessionserver://127.0.0.1:1")
    assert done.returncode == 1 and one_line(done)


def test_an_interrupted_command_exits_130() -> None:
    """Ctrl-C while a command waits (here ``ping`` on a server that never answers)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONSERVER_")}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sessionserver",
                "ping",
                "--url",
                f"sessionserver://127.0.0.1:{port}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        conn, _ = server.accept()  # it connected and waits for a reply that never comes
        with conn:
            proc.send_signal(signal.SIGINT)
            assert proc.wait(30) == 130
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
