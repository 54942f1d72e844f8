"""A local, per-job lock so two cron runs of the same job (e.g. two ``wal pull``s of a cluster) never overlap.

The repository lock allows many appenders at once, which is right for different jobs; two pulls of the same
archive would store the same files twice. flock is released by the kernel when the process dies, so a killed
run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from qfbackup.errors import RepositoryLocked


@contextmanager
def run_lock(cache_dir: Path, name: str) -> Iterator[None]:
    directory = Path(cache_dir) / "locks"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise RepositoryLocked(f"another {name} is running (pid {holder})", hint="let it finish") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)
