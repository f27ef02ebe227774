"""What was acknowledged survives kill -9 and a restart."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest

from ..conftest import StartDaemon
from ..helpers import LineClient, wait_until


@pytest.mark.parametrize("fsync", ["always", "everysec", "no"])
def test_default_storage_keeps_every_acknowledged_write_after_kill_9(
    start_daemon: StartDaemon, tmp_path: Path, fsync: str
) -> None:
    data_dir = tmp_path / "state"
    daemon = start_daemon("--data-dir", str(data_dir), "--fsync", fsync)
    assert "storage sqlite://" in daemon.log
    sessions: dict[str, int] = {}
    with daemon.client() as c:
        for i in range(50):
            sid = c.new_session(n=str(i))
            sessions[sid] = i
        victim = next(iter(sessions))
        assert c.cmd(f"open {victim} w") == "ok"
        assert c.cmd("destroy") == "ok"
        del sessions[victim]
        kept = next(iter(sessions))
        assert c.cmd(f"open {kept} w") == "ok"
        c.cmd("put unsaved 1")  # never committed: must not survive
    daemon.kill9()
    again = start_daemon("--data-dir", str(data_dir), "--fsync", fsync)
    with again.client() as c:
        assert c.cmd(f"open {victim} r") == "err Could not open session."
        for sid, i in sessions.items():
            assert c.cmd(f"open {sid} r") == "ok"
            assert c.cmd("get n") == f"ok {i}"
        assert c.cmd(f"open {kept} r") == "ok"
        assert c.cmd("keys") == "ok n"


def test_writes_acknowledged_under_load_survive_kill_9(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """Many writers at once (group commit); kill in the middle; every ok is on disk."""
    data_dir = tmp_path / "state"
    daemon = start_daemon("--data-dir", str(data_dir))
    acked: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def writer() -> None:
        c = LineClient(daemon.host, daemon.port)
        sid = c.new_session()
        n = 0
        try:
            while not stop.is_set():
                n += 1
                c.send(f"open {sid} w\r\nput n {n}\r\nclose\r\n")
                replies = [c.read_raw_line() for _ in range(3)]
                if replies[2] != b"ok\r\n":
                    break
                with lock:
                    acked[sid] = n
        except OSError:
            pass
        finally:
            c.close()

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for t in threads:
        t.start()
    # kill it mid-stream: once every writer has had some writes acknowledged
    wait_until(lambda: len(acked) == 8 and min(acked.values()) >= 20, what="acknowledged writes")
    daemon.kill9()
    stop.set()
    for t in threads:
        t.join(10)
    assert len(acked) == 8
    again = start_daemon("--data-dir", str(data_dir))
    with again.client() as c:
        for sid, n in acked.items():
            assert c.cmd(f"open {sid} r") == "ok"
            # the last acknowledged write, or one the daemon wrote but could not acknowledge
            assert int(c.cmd("get n")[3:]) >= n


def test_file_storage_survives_kill_9_without_stale_bytes(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    url = f"file://{tmp_path}/files"
    daemon = start_daemon("--storage", url)
    with daemon.client() as c:
        sid = c.new_session(long="x" * 500, other="y")
        assert c.cmd(f"open {sid} w") == "ok"
        assert c.cmd('put_all a:1:{s:5:"short";s:1:"z";}') == "ok"
        assert c.cmd("close") == "ok"
    daemon.kill9()
    files = list((tmp_path / "files").glob("sess_*"))
    assert [f.name for f in files] == [f"sess_{sid}"]
    again = start_daemon("--storage", url)
    with again.client() as c:
        assert c.cmd(f"open {sid} r") == "ok"
        assert c.cmd("get_all") == 'ok a:1:{s:5:"short";s:1:"z";}'


def test_graceful_stop_flushes_and_exits_zero(start_daemon: StartDaemon, tmp_path: Path) -> None:
    data_dir = tmp_path / "state"
    daemon = start_daemon("--data-dir", str(data_dir), "--fsync", "no")
    with daemon.client() as c:
        sid = c.new_session(k="v")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    again = start_daemon("--data-dir", str(data_dir))
    with again.client() as c:
        assert c.cmd(f"open {sid} r") == "ok"
        assert c.cmd("get k") == "ok v"


def test_a_second_daemon_on_the_same_store_is_refused(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    data_dir = tmp_path / "state"
    start_daemon("--data-dir", str(data_dir))
    with pytest.raises(RuntimeError, match="another sessionserver is using"):
        start_daemon("--data-dir", str(data_dir))
