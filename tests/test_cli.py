"""The command line: help, one-line errors, precedence of config sources."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import StartDaemon


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "sessionserver", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


def test_help_documents_every_option() -> None:
    from sessionserver.server.config import OPTIONS

    result = run("serve", "--help")
    assert result.returncode == 0
    for opt in OPTIONS:
        assert opt.cli in result.stdout
        assert opt.envvar in result.stdout.replace("\n", "").replace(" ", "")
    top = run("--help")
    assert top.returncode == 0 and "serve" in top.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--port", "99999"], "invalid value for --port"),
        (["serve", "--port", "abc"], "invalid value for --port"),
        (["serve", "--ttl", "0"], "invalid value for --ttl"),
        (["serve", "--storage", "redis-ish://x"], "unknown storage"),
        (["serve", "--storage", "sqlite://relative.db"], "needs an absolute path"),
        (["serve", "--fsync", "sometimes"], "invalid value for --fsync"),
        (["serve", "--max-line", "lots"], "invalid value for --max-line"),
        (["serve", "--no-such-flag"], "No such option"),
        (["serve", "--admin-port", "70000"], "invalid value for --admin-port"),
        (["serve", "--admin-host", " "], "invalid value for --admin-host"),
        (["serve", "--log-format", "xml"], "invalid value for --log-format"),
        (["serve", "--config", "/nonexistent/file.toml"], "cannot read config file"),
        (["frobnicate"], "No such command"),
    ],
)
def test_bad_arguments_print_one_line_and_exit_non_zero(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sessionserver: ")
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_bad_environment_value_names_the_variable() -> None:
    result = run("serve", env={"SESSIONSERVER_LOCK_TIMEOUT": "-1"})
    assert result.returncode == 1
    assert "SESSIONSERVER_LOCK_TIMEOUT" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_config_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("port = [1, 2\n")
    assert "not valid TOML" in run("serve", "--config", str(bad)).stderr
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("colour = 'blue'\n")
    result = run("serve", "--config", str(unknown))
    assert result.returncode == 1 and "unknown option 'colour'" in result.stderr
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("ttl = 'forever'\n")
    assert "invalid value for 'ttl'" in run("serve", "--config", str(wrong)).stderr


def test_address_in_use_is_one_line(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--storage", "memory://")
    result = run("serve", "--storage", "memory://", "--port", str(daemon.port))
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"sessionserver: cannot listen on 127.0.0.1:{daemon.port}: ")


def test_precedence_default_toml_env_flag(start_daemon: StartDaemon, tmp_path: Path) -> None:
    config = tmp_path / "ss.toml"
    config.write_text('storage = "memory://"\nttl = 100\nmax-keys = 5\nlock_timeout = 7\n')
    daemon = start_daemon(
        "--config",
        str(config),
        "--ttl",
        "300",
        env={"SESSIONSERVER_TTL": "200", "SESSIONSERVER_MAX_KEYS": "2"},
    )
    with daemon.client() as c:
        c.cmd("new")
        assert c.cmd("ttl") == "ok 300"  # flag beats environment beats file
        assert c.cmd("put a 1") == "ok"
        assert c.cmd("put b 1") == "ok"
        assert c.cmd("put c 1") == "err Too many keys."  # environment beats file


def test_auth_token_from_the_environment_is_required_and_never_logged(
    start_daemon: StartDaemon,
) -> None:
    daemon = start_daemon(
        "--storage", "memory://", env={"SESSIONSERVER_AUTH_TOKEN": "s3cret-token"}
    )
    with daemon.client() as c:
        assert c.cmd("new") == "err Authentication required."
        assert c.cmd("ping") == "ok pong"
        assert c.cmd("auth wrong") == "err Invalid token."
        assert c.cmd("get x") == "err Authentication required."
        c.send("auth s3cret-token\r\nnew\r\n")  # pipelined right behind auth
        assert c.read_line() == "ok"
        assert c.read_line().startswith("ok ")
    assert "s3cret-token" not in daemon.log


def test_default_storage_lives_under_the_data_dir(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    daemon = start_daemon("--data-dir", str(tmp_path / "d"))
    assert f"storage sqlite://{tmp_path}/d/sessions.db" in daemon.log
    with daemon.client() as c:
        c.new_session(a="b")
    assert (tmp_path / "d" / "sessions.db").exists()
