"""examples/deploy: the systemd unit, the Dockerfile and the production config, checked with
what this machine can run.

- The unit: ``systemd-analyze verify`` and ``systemd-analyze security --offline`` (systemd's
  own checks, which run without systemd as PID 1), then its ``ExecStart`` line, its
  ``Environment`` and the production config start a real daemon, TLS and tokens on.
- The Dockerfile: hadolint, then parsed (dockerfile-parse): a slim base, a numeric non-root
  user, the data folder a volume, the sources it copies exist and build a wheel, its ``CMD``
  with its ``ENV`` starts a real daemon, and its ``HEALTHCHECK`` passes against it and fails
  once it stops.  No Docker daemon runs here: the image is never built, its ``RUN`` steps
  (``pip install``, ``useradd``) never run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from sessionserver import SessionClient
from sessionserver.bench.certs import make_certificates
from sessionserver.server.config import load_toml

from ..helpers import wait_until
from ..test_examples import free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "examples" / "deploy"
SESSIONSERVER = Path(sys.executable).with_name("sessionserver")
APP, ADMIN = "app-token-deploy-0123456789", "admin-token-deploy-0123456789"

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None,
    reason="systemd-analyze is not installed (Debian's systemd package): the unit is NOT verified",
)


#: The daemon's startup line (its admin listener's says "admin listening on ...").
LISTENING = re.compile(r"sessionserver listening on (\S+):(\d+)")


@contextlib.contextmanager
def running(argv: list[str], env: dict[str, str], log: Path) -> Iterator[int]:
    """A daemon started with exactly ``argv`` and ``env`` (no flag added); its port."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SESSIONSERVER_")}, **env}
    with open(log, "wb") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, env=env)
    try:

        def up() -> bool:
            assert proc.poll() is None, f"exited with {proc.returncode}: {log.read_text()}"
            return "admin listening on" in log.read_text()

        wait_until(up, timeout=30, what="the daemon to start")
        found = LISTENING.search(log.read_text())
        assert found, log.read_text()
        yield int(found.group(2))
        proc.terminate()
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def unit_lines() -> list[tuple[str, str]]:
    """The unit's ``Key=value`` lines, in order (comments and sections left out)."""
    pairs = []
    for line in (DEPLOY / "sessionserver.service").read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            pairs.append((key, value))
    return pairs


def unit_here(tmp_path: Path) -> Path:
    """The unit, its ExecStart pointed at this checkout's sessionserver (verify wants the
    program to exist)."""
    text = (DEPLOY / "sessionserver.service").read_text()
    assert "/opt/sessionserver/bin/sessionserver" in text
    unit = tmp_path / "sessionserver.service"
    unit.write_text(text.replace("/opt/sessionserver/bin/sessionserver", str(SESSIONSERVER)))
    return unit


@needs_systemd_analyze
def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    assert SYSTEMD_ANALYZE is not None
    done = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", str(unit_here(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


@needs_systemd_analyze
def test_the_systemd_unit_is_sandboxed(tmp_path: Path) -> None:
    assert SYSTEMD_ANALYZE is not None
    done = subprocess.run(
        [SYSTEMD_ANALYZE, "security", "--offline=yes", "--no-pager", str(unit_here(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", done.stdout)
    assert found, done.stdout
    assert float(found.group(1)) <= 1.5 and found.group(2) == "OK", found.group(0)
    settings = dict(unit_lines())
    for key, value in {
        "DynamicUser": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "",
        "Restart": "on-failure",
        "RestartPreventExitStatus": "1 2",
        "LimitNOFILE": "65536",
    }.items():
        assert settings[key] == value, key
    assert settings["StateDirectory"].split()[0] == "sessionserver"


def test_the_units_command_line_and_the_production_config_run_a_daemon(tmp_path: Path) -> None:
    """ExecStart, Environment and the config as systemd would give them, with the paths of
    the unit's sandbox (StateDirectory, the credentials folder %d) moved under tmp_path."""
    lines = unit_lines()
    (exec_start,) = [value for key, value in lines if key == "ExecStart"]
    argv = shlex.split(exec_start)
    assert argv[:2] == ["/opt/sessionserver/bin/sessionserver", "serve"]
    assert argv[2:] == ["--config", "/etc/sessionserver/sessionserver.toml"]
    credentials = tmp_path / "credentials"
    certs = make_certificates(credentials)
    for key, value in lines:
        if key == "LoadCredential":  # name:path; the daemon reads %d/name
            name = value.split(":", 1)[0]
            source = {"server.crt": certs.server_cert, "server.key": certs.server_key}[name]
            if source.name != name:
                shutil.copy(source, credentials / name)
    env = dict(
        value.replace("%d", str(credentials)).split("=", 1)
        for key, value in lines
        if key == "Environment"
    )
    env.update(SESSIONSERVER_AUTH_TOKEN=APP, SESSIONSERVER_ADMIN_TOKEN=ADMIN)
    config = tmp_path / "sessionserver.toml"
    state = tmp_path / "state"
    text = (DEPLOY / "sessionserver.toml").read_text()
    assert 'data-dir = "/var/lib/sessionserver"' in text and "port = 9090" in text
    text = text.replace("/var/lib/sessionserver", str(state))
    text = text.replace("port = 9090", "port = 0").replace("admin-port = 9191", "admin-port = 0")
    config.write_text(text)
    load_toml(config)  # the real parser: every key is an option with a valid value

    log = tmp_path / "daemon.log"
    with running([str(SESSIONSERVER), *argv[1:3], str(config)], env, log) as port:
        assert "(TLS)" in log.read_text() and str(state / "sessions.db") in log.read_text()
        for line in log.read_text().splitlines():
            json.loads(line)  # log-format json
        url = f"sessionservers://:{ADMIN}@127.0.0.1:{port}?ca={certs.ca}"
        with SessionClient(url) as client:
            sid = client.create({"user": "7"})
            assert client.peek(sid) == {"user": b"7"}
        done = subprocess.run(
            [str(SESSIONSERVER), "backup", "--url", url, str(tmp_path / "copy.db")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr


# -- the Dockerfile ---------------------------------------------------------------------------


def dockerfile() -> DockerfileParser:
    return DockerfileParser(path=str(DEPLOY / "Dockerfile"))


def instructions(name: str) -> list[str]:
    return [i["value"] for i in dockerfile().structure if i["instruction"] == name]


def final_stage(name: str) -> list[str]:
    structure = dockerfile().structure
    last_from = max(n for n, i in enumerate(structure) if i["instruction"] == "FROM")
    return [i["value"] for i in structure[last_from:] if i["instruction"] == name]


def test_hadolint_passes() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    done = subprocess.run(
        [str(hadolint), str(DEPLOY / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (0, ""), done.stdout


def test_the_image_is_slim_non_root_with_its_data_in_a_volume() -> None:
    for base in instructions("FROM"):
        assert re.fullmatch(r"python:3\.\d+-slim-\w+( AS \w+)?", base), base
    (user,) = final_stage("USER")
    uid, _, gid = user.partition(":")
    assert int(uid) > 0 and int(gid) > 0  # numeric, so runAsNonRoot can check it
    envs = dockerfile().envs
    (volume,) = final_stage("VOLUME")
    assert json.loads(volume) == [envs["SESSIONSERVER_DATA_DIR"]]
    assert final_stage("EXPOSE") == [envs["SESSIONSERVER_PORT"]]


def test_what_the_build_stage_copies_exists_and_builds_the_wheel(tmp_path: Path) -> None:
    """The build context the Dockerfile's COPYs make, and the wheel built from it alone."""
    context = tmp_path / "src"
    context.mkdir()
    ignored = [
        line
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    for value in instructions("COPY"):
        if value.startswith("--from="):
            continue
        *sources, target = value.split()
        assert target.startswith("./")
        for source in sources:
            assert (ROOT / source).exists(), source
            assert source not in ignored, source
            if (ROOT / source).is_dir():
                shutil.copytree(
                    ROOT / source,
                    context / source,
                    symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"),
                )
            else:
                shutil.copy(ROOT / source, context / source)
    out = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(context),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = out.glob("sessionserver-*.whl")  # what the final stage installs
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    for module in (
        "cli.py",
        "middleware/asgi.py",
        "integrations/django.py",
        "server/http/static/index.html",
    ):
        assert f"sessionserver/{module}" in names, module


def healthcheck_argv() -> list[str]:
    (check,) = final_stage("HEALTHCHECK")
    options, _, command = check.partition(" CMD ")
    assert "--interval=" in options and "--timeout=" in options
    argv: list[str] = json.loads(command)
    return argv


def test_the_cmd_starts_the_daemon_and_the_healthcheck_follows_it(tmp_path: Path) -> None:
    """The image's CMD with its ENV (ports and the volume moved to free ones and tmp_path),
    and its HEALTHCHECK's command against it: 0 while it serves, not 0 once it stopped."""
    (cmd,) = final_stage("CMD")
    argv = json.loads(cmd)
    assert argv[:2] == ["sessionserver", "serve"]
    envs = dockerfile().envs
    admin_port = str(free_port())
    env = {
        **envs,
        "SESSIONSERVER_DATA_DIR": str(tmp_path / "volume"),
        "SESSIONSERVER_PORT": "0",
        "SESSIONSERVER_ADMIN_PORT": admin_port,
        "SESSIONSERVER_AUTH_TOKEN": APP,  # as `docker run --env-file sessionserver.env`
    }
    check = healthcheck_argv()
    assert check[0] == "python" and f":{envs['SESSIONSERVER_ADMIN_PORT']}/healthz" in check[-1]
    check = [
        sys.executable,
        *check[1:-1],
        check[-1].replace(f":{envs['SESSIONSERVER_ADMIN_PORT']}/", f":{admin_port}/"),
    ]
    log = tmp_path / "daemon.log"
    with running([str(SESSIONSERVER), *argv[1:]], env, log):
        started = [json.loads(line) for line in log.read_text().splitlines()]  # JSON logs
        assert any(str(tmp_path / "volume" / "sessions.db") in r["message"] for r in started)
        assert subprocess.run(check, timeout=30).returncode == 0
    failed = subprocess.run(check, capture_output=True, timeout=30)
    assert failed.returncode != 0 and b"Connection refused" in failed.stderr


def test_the_env_file_names_options_and_holds_no_token() -> None:
    from sessionserver.server.config import OPTIONS

    names = {opt.envvar for opt in OPTIONS}
    for line in (DEPLOY / "sessionserver.env").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            assert name in names and value == "", line
