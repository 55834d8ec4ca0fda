"""A throwaway PostgreSQL cluster for integration tests: initdb + pg_ctl from Debian's
`postgresql` package, in a temp dir, on a free loopback port, password authentication on.

Run as root (as CI containers do), the server runs as the `postgres` user via runuser,
because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

USER = "feedsync"
PASSWORD = "s3cret-Pa55word"


@dataclass
class PostgresServer:
    port: int
    user: str = USER
    password: str = PASSWORD

    def url(self, database: str = "postgres", *, password: str | None = None,
            port: int | None = None) -> str:
        return (f"postgresql://{self.user}:{password or self.password}@127.0.0.1:"
                f"{port or self.port}/{database}")


def postgres_bin() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    bindir = postgres_bin()
    assert bindir is not None
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    base = Path(tempfile.mkdtemp(prefix="feedsync-pg-"))
    data, pwfile = base / "data", base / "pw"
    pwfile.write_text(PASSWORD)
    if as_root:
        shutil.chown(base, "postgres")
        shutil.chown(pwfile, "postgres")
    port = free_port()
    run = {"check": True, "capture_output": True, "text": True}
    try:
        subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", USER,
                        f"--pwfile={pwfile}", "--auth-local=trust",
                        "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"], **run)
        options = (f"-p {port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={base} -c fsync=off")
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-o", options,
                        "-l", str(base / "log"), "-w", "-t", "60", "start"], **run)
        try:
            yield PostgresServer(port)
        finally:
            subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast",
                            "-w", "stop"], capture_output=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
