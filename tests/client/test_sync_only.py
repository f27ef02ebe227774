"""What only the sync client has to get right: threads and fork."""

from __future__ import annotations

import os
import threading

from sessionserver import SessionClient

from ..helpers import Daemon
from .conftest import url


def test_many_threads_share_one_client(memory_daemon: Daemon) -> None:
    client = SessionClient(url(memory_daemon, max_connections=4))
    sid = client.create()
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(25):
                client.write(sid, {f"t{n}": str(i)})
                assert client.read(sid)[f"t{n}"] == str(i).encode()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert client.read(sid) == {f"t{n}": b"24" for n in range(16)}
    assert "busy=0 waiting=0 max=4" in repr(client.pool)
    client.close()


def test_fork_gets_fresh_connections(memory_daemon: Daemon) -> None:
    client = SessionClient(url(memory_daemon))
    sid = client.create({"owner": "parent"})
    assert "idle=1" in repr(client.pool)
    pid = os.fork()
    if pid == 0:  # the child: its inherited pooled socket must not be reused
        status = 1
        try:
            client.write(sid, {"child": "yes"})
            status = 0 if client.read(sid)["child"] == b"yes" else 2
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # the parent's connection still works: the child never touched it
    assert client.read(sid) == {"owner": b"parent", "child": b"yes"}
    client.close()
