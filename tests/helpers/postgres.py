"""A throwaway PostgreSQL cluster from Debian's package, for the store's tests.

Contract: ``cluster()`` is a context manager: it makes a cluster in a temporary folder with
``initdb`` (as the ``postgres`` user when run as root: PostgreSQL refuses to run as root), starts
it with ``pg_ctl`` listening only on a unix socket in that folder, yields its SQLAlchemy URL
(``postgresql+psycopg://``) and stops and deletes it on exit, pass or fail. ``binaries()`` is the
newest installed version's bin folder, or ``None`` (``make test`` installs ``postgresql``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def binaries() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else None


@contextlib.contextmanager
def cluster() -> Iterator[str]:
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed: `apt-get install postgresql` (make test does)")
    folder = Path(tempfile.mkdtemp(prefix="pg-"))
    data = folder / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb and postgres refuse root
        shutil.chown(folder, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]

    def run(*cmd: str) -> None:
        subprocess.run([*as_user, *cmd], check=True, capture_output=True, timeout=120)

    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync")
        options = f"-k {folder} -c listen_addresses='' -c fsync=off -c max_connections=60"
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start")
        try:
            yield f"postgresql+psycopg://postgres@/postgres?host={folder}"
        finally:
            run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
