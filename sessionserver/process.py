"""Run ``sessionserver serve`` as a child process: for tests, benchmarks and examples.

The daemon is started on port 0 and this waits (polling its log, never sleeping a fixed time)
for the startup line that names the address it got.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

__all__ = ["DaemonProcess"]

LISTENING = re.compile(r"listening on (\S+):(\d+)")


class DaemonProcess:
    """A daemon child process with its log in a file."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path, host: str, port: int) -> None:
        self.proc = proc
        self.log_path = log
        self.host = host
        self.port = port

    @classmethod
    def start(
        cls,
        workdir: Path,
        *args: str,
        env: dict[str, str] | None = None,
        timeout: float = 20.0,
        python: str = sys.executable,
    ) -> Self:
        """Start ``sessionserver serve --port 0 *args``; its data under ``workdir``."""
        workdir.mkdir(parents=True, exist_ok=True)
        n = len(list(workdir.glob("daemon-*.log")))
        log = workdir / f"daemon-{n}.log"
        argv = [python, "-m", "sessionserver", "serve", "--port", "0", *args]
        if not any(a.startswith("--data-dir") for a in args):
            argv += ["--data-dir", str(workdir / "data")]
        full_env = {**os.environ, **(env or {})}
        with open(log, "wb") as fh:
            proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, env=full_env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            found = LISTENING.search(text)
            if found:
                return cls(proc, log, found.group(1), int(found.group(2)))
            if proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {proc.returncode}:\n{text}")
            time.sleep(0.02)
        proc.kill()
        proc.wait()
        raise RuntimeError(f"daemon did not start:\n{log.read_text(errors='replace')}")

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 15.0) -> int:
        return self.proc.wait(timeout)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it does not exit within 15 s; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode
