"""A throwaway PostgreSQL cluster for tests: initdb + pg_ctl in a temporary folder, stopped at session end.

Use the session fixture `pg_cluster` (import it into a test module, or register this module as a plugin),
then `pg_cluster.fresh_url()` for an empty schema per test. Skips when the server is not installed.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ports import free_port

INSTALL_HINT = "install the PostgreSQL server to run them: apt-get install -y postgresql"


def find_bindir() -> Path | None:
    """The folder with initdb and pg_ctl: the newest /usr/lib/postgresql/*/bin, else the PATH."""
    found = glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")
    if found:
        newest = max(found, key=lambda p: [int(n) for n in re.findall(r"\d+", p)])
        return Path(newest).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl and shutil.which("initdb") else None


class PgCluster:
    """One PostgreSQL server in a temporary folder, owned by an unprivileged user when we run as root."""

    user = "warden"
    database = "postgres"

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="wardenpg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self._as_user: dict[str, Any] = {}
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root; Debian's package creates `postgres`, else use `nobody`.
            name = "postgres" if _user_exists("postgres") else "nobody"
            entry = pwd.getpwnam(name)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            self._as_user = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _run(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")} | {"LC_ALL": "C"}
        done = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            **self._as_user,
        )
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}\n{log}")

    def start(self) -> None:
        """initdb, then start the server on a free port, listening on a socket in the temporary folder too."""
        self._run("initdb", "-D", str(self.data), "-U", self.user, "-A", "trust", "-E", "UTF8", "--locale=C", "-N")
        atexit.register(self.stop)
        for attempt in range(3):
            self.port = free_port()
            options = (
                f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            try:
                self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")
                return
            except RuntimeError:
                # Another process may have taken the port between free_port() and the server's bind.
                if attempt == 2:
                    raise

    def stop(self) -> None:
        """Stop the server (disconnecting clients) and delete its folder. Idempotent."""
        if not self.root.exists():
            return
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, schema: str | None = None) -> str:
        """A SQLAlchemy URL for this cluster over its unix socket; with schema, tables go in that schema."""
        url = f"postgresql+psycopg://{self.user}@/{self.database}?host={self.root}&port={self.port}"
        return f"{url}&options=-csearch_path%3D{schema}" if schema else url

    def fresh_url(self) -> str:
        """The URL of a new, empty schema: as good as a new database for a test, and 25 times faster to make."""
        import psycopg

        schema = "t_" + uuid.uuid4().hex[:16]
        with psycopg.connect(host=str(self.root), port=self.port, user=self.user, dbname=self.database) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        return self.url(schema)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A running throwaway PostgreSQL cluster, shared by the session."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip(
            f"PostgreSQL tests skipped: initdb/pg_ctl not found under /usr/lib/postgresql/*/bin; {INSTALL_HINT}"
        )
    cluster = PgCluster(bindir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A real ledger in a SQLite file and in a fresh PostgreSQL database, for tests whose SQL must agree on both.
    A module that uses it also exposes `pg_cluster` (``pg_cluster = pgcluster.pg_cluster``)."""
    from weightwarden.ledger import Ledger

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        url = request.getfixturevalue("pg_cluster").fresh_url()
    with Ledger(url) as opened:
        yield opened
