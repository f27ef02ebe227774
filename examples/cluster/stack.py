"""What runs where, all on 127.0.0.1 free ports, all under one state directory, no root:

- a Redis Cluster of three primaries (``redis-server``);
- two sessionserver daemons on it (``--storage redis+cluster://...``), each with its admin
  listener (the dashboard);
- two clones of each front end: the Django account site and the Flask shop under gunicorn, the
  FastAPI cart under uvicorn; each clone is a process group of its own, and its client's URL
  names both daemons, so it fails over from the first to the second;
- nginx in front (Debian's package, run as the user with its own config, pid, logs and temp
  paths), routing ``/account/``, ``/shop/`` and ``/cart/`` round-robin across the clones and
  passing a request on to the next clone when one is down.

:class:`Stack` starts them in that order and stops them in the reverse order; ``state.json``
(written last) says where everything is.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from string import Template
from typing import Any

from sessionserver.process import DaemonProcess, RedisCluster, free_port, wait_for_port

__all__ = ["CLONES", "ROOT", "Stack", "nginx_binary"]

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

#: How many clones of each front end nginx balances.
CLONES = 2

#: Each front end: where nginx routes it, and how one clone serves on ``{port}``.
FRONT_ENDS: dict[str, tuple[str, list[str]]] = {
    "account": (
        "/account/",
        ["gunicorn", "--workers", "1", "--bind", "127.0.0.1:{port}",
         "examples.cluster.account.wsgi:application"],
    ),
    "shop": (
        "/shop/",
        ["gunicorn", "--workers", "1", "--bind", "127.0.0.1:{port}", "examples.cluster.shop:app"],
    ),
    "cart": (
        "/cart/",
        ["uvicorn", "--host", "127.0.0.1", "--port", "{port}", "examples.cluster.cart:app"],
    ),
}  # fmt: skip

_ADMIN = re.compile(r"admin listening on (http://\S+:\d+)")


class _Template(Template):
    delimiter = "@"  # nginx's own variables start with $


def nginx_binary() -> str | None:
    """Debian installs nginx in /usr/sbin, which a user's PATH may not hold."""
    return shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin")


class Stack:
    """Everything of one running example, under ``state`` (a directory)."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self._stops: list[Callable[[], None]] = []
        self.info: dict[str, Any] = {"supervisor": os.getpid()}

    def start(self) -> dict[str, Any]:
        """Start everything; on any failure stop what was started and raise."""
        nginx = nginx_binary()
        if nginx is None:
            raise RuntimeError("nginx is not installed (Debian: apt-get install nginx)")
        try:
            cluster = RedisCluster(self.state / "redis")
            self._stops.append(cluster.stop)
            self.info["redis"] = {"ports": cluster.ports, "pids": [p.pid for p in cluster.procs]}
            daemons = [self._daemon(cluster.url, name) for name in ("a", "b")]
            self.info["daemons"] = daemons
            url = "sessionserver://" + ",".join(f"127.0.0.1:{d['port']}" for d in daemons)
            # A refused connection fails over at once; a daemon that hangs, within 1 s.
            self.info["session_url"] = url + "?connect_timeout=1"
            self.info["front_ends"] = [
                self._front_end(app, n) for app in FRONT_ENDS for n in range(1, CLONES + 1)
            ]
            self.info["nginx"] = self._nginx(nginx)
            self.info["url"] = f"http://127.0.0.1:{self.info['nginx']['port']}/"
        except BaseException:
            self.stop()
            raise
        path = self.state / "state.json"
        path.with_suffix(".tmp").write_text(json.dumps(self.info, indent=2))
        path.with_suffix(".tmp").replace(path)  # whole or not at all, for `up` to read
        return self.info

    def stop(self) -> None:
        """Stop everything started, newest first (each step whatever the others do)."""
        while self._stops:
            with contextlib.suppress(Exception):
                self._stops.pop()()

    def _daemon(self, storage: str, name: str) -> dict[str, Any]:
        daemon = DaemonProcess.start(
            self.state / f"daemon-{name}", "--storage", storage, "--admin-port", "0"
        )
        self._stops.append(daemon.stop)
        deadline = time.monotonic() + 20
        while not (found := _ADMIN.search(daemon.log)):
            if time.monotonic() > deadline or daemon.proc.poll() is not None:
                raise RuntimeError(f"daemon {name}: no admin listener:\n{daemon.log}")
            time.sleep(0.02)
        return {"name": name, "pid": daemon.pid, "port": daemon.port, "admin": found.group(1)}

    def _group(self, argv: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Start ``argv`` as a process group of its own (a clone is its master and workers)."""
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT), **env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                process_group=0,
            )

        def stop() -> None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

        self._stops.append(stop)
        return proc

    def _front_end(self, app: str, n: int) -> dict[str, Any]:
        name = f"{app}-{n}"
        port = free_port()
        server, *args = FRONT_ENDS[app][1]
        argv = [sys.executable, "-m", server, *(a.format(port=port) for a in args)]
        env = {
            "FRONT_END": name,
            "SESSIONSERVER_URL": self.info["session_url"],
            # The account site's own settings, whatever the caller's environment names.
            "DJANGO_SETTINGS_MODULE": "examples.cluster.account.settings",
        }
        proc = self._group(argv, self.state / f"{name}.log", env)
        wait_for_port(port, proc, f"front end {name} (see {self.state / name}.log)")
        return {"name": name, "app": app, "pid": proc.pid, "port": port}

    def _nginx(self, binary: str) -> dict[str, Any]:
        port = free_port()
        prefix = self.state / "nginx"
        (prefix / "temp").mkdir(parents=True, exist_ok=True)
        upstreams = "\n".join(
            f"    upstream {app} {{\n"
            + "".join(
                f"        server 127.0.0.1:{f['port']} max_fails=1 fail_timeout=10s;\n"
                for f in self.info["front_ends"]
                if f["app"] == app
            )
            + "    }"
            for app in FRONT_ENDS
        )
        locations = "\n".join(
            f"        location {where} {{ proxy_pass http://{app}; }}"
            for app, (where, _) in FRONT_ENDS.items()
        )
        # The master of a root-started nginx would hand its workers to "nobody".
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
        conf = _Template((HERE / "nginx.conf").read_text()).substitute(
            prefix=prefix, port=port, upstreams=upstreams, locations=locations, user=user
        )
        (prefix / "nginx.conf").write_text(conf)
        argv = [binary, "-p", f"{prefix}/", "-c", str(prefix / "nginx.conf")]
        proc = self._group([*argv, "-e", str(prefix / "error.log")], prefix / "stdout.log", {})
        wait_for_port(port, proc, f"nginx (see {prefix / 'error.log'})")
        return {"pid": proc.pid, "port": port}
