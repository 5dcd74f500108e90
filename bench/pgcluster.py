"""Throwaway PostgreSQL clusters on loopback, for the fault benches and the replica tests.

Never the machine's shared server: each cluster is ``initdb`` into a temporary folder and
``pg_ctl`` on a free 127.0.0.1 port, trusted on loopback only, and removed by ``destroy()``.
A standby is a ``pg_basebackup -R`` of a primary (streaming replication, hot standby). As
root (initdb refuses root) the server runs as the ``postgres`` user.

    with Cluster.create() as primary:
        primary.create_database("gw")               # with postgis and btree_gist
        url = primary.url("gw")
        standby = primary.standby()                 # started, streaming
        primary.restart()                           # the fault
"""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin",
            "/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/14/bin")
SUPERUSER = "gridwatch"
# Small and fast: a throwaway cluster on a shared 2-core machine. fsync off loses nothing
# here (the operating system never crashes under a bench), synchronous_commit stays on so
# "acknowledged" means what it means in production.
SETTINGS = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{sockets}'
max_connections = 60
shared_buffers = 64MB
fsync = off
full_page_writes = off
wal_level = replica
max_wal_senders = 5
hot_standby = on
jit = off
log_min_messages = warning
logging_collector = off
"""


def bin_dir() -> Path | None:
    """Where initdb, pg_ctl and pg_basebackup are (GRIDWATCH_PG_BIN, else Debian's), or None."""
    candidates = [os.environ.get("GRIDWATCH_PG_BIN")] + list(BIN_DIRS)
    for d in candidates:
        if d and (Path(d) / "initdb").exists() and (Path(d) / "pg_ctl").exists():
            return Path(d)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, root: Path, port: int, bindir: Path):
        self.root, self.port, self.bindir = root, port, bindir
        self.data = root / "data"
        self.log = root / "server.log"

    # ---------------------------------------------------------------------------------------
    @classmethod
    def create(cls, *, bindir: Path | None = None) -> "Cluster":
        bindir = bindir or bin_dir()
        if bindir is None:
            raise RuntimeError("PostgreSQL server binaries not found (apt-get install "
                               "postgresql-15-postgis-3, or set GRIDWATCH_PG_BIN)")
        cluster = cls(_temp_root(), free_port(), bindir)
        cluster._run("initdb", "-D", str(cluster.data), "-U", SUPERUSER, "--auth=trust",
                     "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        cluster._configure()
        cluster.start()
        return cluster

    def standby(self) -> "Cluster":
        """A hot standby of this cluster (pg_basebackup -R, streaming), started."""
        other = Cluster(_temp_root(), free_port(), self.bindir)
        other._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER,
                   "-D", str(other.data), "-R", "-X", "stream", "--no-sync", "-c", "fast")
        other._configure()
        other.start()
        return other

    def _configure(self) -> None:
        conf = self.data / "postgresql.conf"
        text = conf.read_text() if conf.exists() else ""
        # The last value wins: a standby's copy of the primary's settings gets its own port.
        conf.write_text(text + SETTINGS.format(port=self.port, sockets=self.root))
        _own(conf)

    # ---------------------------------------------------------------------------------------
    def start(self, timeout: float = 30) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t",
                  str(int(timeout)), "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart(self, mode: str = "fast") -> float:
        """Stop (``fast``: connections cut, transactions rolled back; ``immediate``: as a
        crash) and start again; returns the seconds it was away."""
        started = time.monotonic()
        self.stop(mode)
        self.start()
        return time.monotonic() - started

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.destroy()

    # ---------------------------------------------------------------------------------------
    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        done = self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER,
                         "-d", database, "-v", "ON_ERROR_STOP=1", "-qtAc", sql)
        return done.stdout.strip()

    def create_database(self, name: str) -> str:
        """A database with PostGIS and btree_gist; returns its URL."""
        self.psql(f'CREATE DATABASE "{name}"')
        self.psql("SET client_min_messages = warning; CREATE EXTENSION postgis; "
                  "CREATE EXTENSION btree_gist", name)
        return self.url(name)

    def _run(self, program: str, *args: str, check: bool = True):
        command = [str(self.bindir / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, cwd="/")
        if check and done.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr.strip()}"
                               f"\n{log}")
        return done


def _temp_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="gridwatch-pg-"))
    _own(root)
    return root


def _own(path: Path) -> None:
    # As root, the server runs as postgres and must own its folder (and read its settings).
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(path, entry.pw_uid, entry.pw_gid)
