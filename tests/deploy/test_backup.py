"""``sessionserver backup DEST`` and the ``backup`` admin command, against real daemons: a
copy taken under write load restores every acknowledged session; the other stores refuse."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from sessionserver import SessionClient
from sessionserver.exceptions import InvalidRequest

from ..conftest import StartDaemon
from ..helpers import Daemon, wait_until
from ..helpers import run_cli as cli
from ..stores import (
    drop_postgres_schema,
    drop_redis_prefix,
    postgres_storage_url,
    redis_storage_url,
    unique_name,
)

APP, ADMIN = "app-token-backup-0123456789", "admin-token-backup-0123456789"
TOKENS = {"SESSIONSERVER_AUTH_TOKEN": APP, "SESSIONSERVER_ADMIN_TOKEN": ADMIN}


def url(daemon: Daemon, token: str = ADMIN) -> str:
    return f"sessionserver://:{token}@{daemon.host}:{daemon.port}"


class Writers:
    """Threads that create sessions and rewrite them, each write setting two keys to one
    counter in one command, and remember what the daemon acknowledged."""

    def __init__(self, daemon: Daemon, threads: int = 4) -> None:
        self.client = SessionClient(url(daemon, APP), max_connections=threads)
        self.acked: dict[str, int] = {}  # session id -> the last counter acknowledged
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.threads = [threading.Thread(target=self._run, args=(n,)) for n in range(threads)]
        for thread in self.threads:
            thread.start()

    def _run(self, n: int) -> None:
        mine: list[str] = []
        i = 0
        try:
            while not self.stop.is_set():
                i += 1
                if i % 3 == 0 or not mine:
                    sid = self.client.create({"n": "0", "copy": "0", "by": str(n)})
                    mine.append(sid)
                    counter = 0
                else:
                    sid = mine[i % len(mine)]
                    counter = i
                    self.client.write(sid, {"n": str(counter), "copy": str(counter)})
                with self.lock:
                    self.acked[sid] = counter
        except BaseException as exc:
            self.errors.append(exc)

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.acked)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)
        self.client.close()
        assert not self.errors, self.errors


def test_a_backup_under_write_load_restores_every_acknowledged_session(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    daemon = start_daemon(env=TOKENS)  # the embedded default store
    writers = Writers(daemon)
    try:
        wait_until(lambda: len(writers.snapshot()) >= 500, timeout=60, what="500 sessions")
        before = writers.snapshot()  # acknowledged before the backup command was sent
        dest = tmp_path / "backups" / "sessions copy.db"
        dest.parent.mkdir()
        done = cli("backup", "--url", url(daemon), str(dest))
        during = len(writers.snapshot()) - len(before)
    finally:
        writers.finish()
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"backed up to {dest} (") and done.stdout.endswith(" bytes)\n")
    assert during > 0  # the writers went on while the copy was made
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert sorted(p.name for p in dest.parent.iterdir()) == ["sessions copy.db"]  # no partial
    assert f"backup written to {dest}" in daemon.log

    restored = start_daemon("--storage", f"sqlite://{dest}", env=TOKENS)
    with SessionClient(url(restored)) as admin:
        for sid, counter in before.items():
            data = admin.peek(sid)
            # Whole (both keys from one write) and at least as new as what was acknowledged.
            assert data["n"] == data["copy"], sid
            assert int(data["n"]) >= counter, sid
        restored_count = int(admin.stats()["sessions"])
    assert restored_count >= len(before)


@pytest.fixture
def daemon(start_daemon: StartDaemon) -> Daemon:
    return start_daemon(env=TOKENS)


def test_backup_needs_the_admin_token(daemon: Daemon, tmp_path: Path) -> None:
    with daemon.client() as c:
        assert c.cmd(f"auth {APP}") == "ok"
        assert c.cmd(f"backup {tmp_path}/app.db") == "err Admin token required."
    done = cli("backup", "--url", url(daemon, APP), str(tmp_path / "app.db"))
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "sessionserver: Admin token required.\n"
    assert not (tmp_path / "app.db").exists()


def test_backup_never_replaces_a_file_and_says_what_is_wrong(
    daemon: Daemon, tmp_path: Path
) -> None:
    existing = tmp_path / "existing.db"
    existing.write_bytes(b"keep me")
    with daemon.client() as c:
        assert c.cmd(f"auth {ADMIN}") == "ok"
        assert c.cmd(f"backup {existing}") == "err Backup file exists."
        assert c.cmd("backup relative.db") == "err Invalid argument."
        assert c.cmd(f"backup {tmp_path}/no/such/folder.db") == (
            "err Cannot write the backup there (no such folder, or not writable)."
        )
        assert c.cmd("backup") == "err Missing argument."
        # Spaces in the path survive the text framing.
        reply = c.cmd(f"backup {tmp_path}/two  spaces.db")
        assert reply.startswith("ok ") and int(reply[3:]) > 0, reply
    assert existing.read_bytes() == b"keep me"
    assert (tmp_path / "two  spaces.db").stat().st_size == int(reply[3:])
    assert not list(tmp_path.glob(".*.partial"))
    # The CLI: a relative DEST is taken from its own directory; failures are one line, exit 1.
    done = cli("backup", "--url", url(daemon), "relative.db", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "relative.db").is_file()
    again = cli("backup", "--url", url(daemon), "relative.db", cwd=tmp_path)
    assert (again.returncode, again.stderr) == (1, "sessionserver: Backup file exists.\n")
    usage = cli("backup", "--url", url(daemon))
    assert usage.returncode == 2 and "Missing argument 'DEST'" in usage.stderr


def test_backup_over_resp2(daemon: Daemon, tmp_path: Path) -> None:
    import redis

    client = redis.Redis(host=daemon.host, port=daemon.port, password=ADMIN, protocol=2)
    try:
        size = client.execute_command("backup", str(tmp_path / "resp.db"))
        assert size == (tmp_path / "resp.db").stat().st_size > 0
        with pytest.raises(redis.exceptions.ResponseError, match="Invalid argument"):
            client.execute_command("backup", str(tmp_path / "a.db"), "extra")
    finally:
        client.close()


def _refusal(daemon: Daemon, tmp_path: Path) -> str:
    done = cli(
        "backup", "--url", f"sessionserver://{daemon.host}:{daemon.port}", "x.db", cwd=tmp_path
    )
    assert done.returncode == 1 and not (tmp_path / "x.db").exists()
    return done.stderr


def test_the_other_stores_refuse_saying_what_to_use_instead(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    memory = start_daemon("--storage", "memory://")
    assert _refusal(memory, tmp_path) == (
        "sessionserver: Nothing to back up: memory:// keeps sessions in memory only.\n"
    )
    files = start_daemon("--storage", f"file://{tmp_path}/files")
    assert "copy its folder" in _refusal(files, tmp_path)
    prefix, schema = unique_name("backup"), unique_name("backup")
    try:
        on_redis = start_daemon("--storage", redis_storage_url(prefix))
        assert "back up Redis itself (BGSAVE, AOF, or a replica)" in _refusal(on_redis, tmp_path)
        on_postgres = start_daemon("--storage", postgres_storage_url(schema))
        assert "back up the database itself (pg_dump" in _refusal(on_postgres, tmp_path)
    finally:
        drop_redis_prefix(prefix)
        drop_postgres_schema(schema)


def test_the_client_raises_invalid_request(daemon: Daemon) -> None:
    with SessionClient(url(daemon)) as c, pytest.raises(InvalidRequest, match="exists"):
        c.execute("backup", str(Path(daemon.log_path)))
