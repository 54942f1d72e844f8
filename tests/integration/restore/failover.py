"""Helpers for tests that fail a primary over (a promotion, a restore promoted as the new primary)."""

from __future__ import annotations

import shutil
from pathlib import Path

DB = "signalcartel"


def insert(pg, batch: int, rows: int = 300) -> None:
    pg.psql(f"insert into trades (batch, price) select {batch}, g from generate_series(1, {rows}) g", dbname=DB)


def moment(pg) -> str:
    """A time on the server's clock after every commit so far and before every later one (a commit's timestamp
    is taken before it returns; the clock is read after that and before the next commit starts)."""
    return pg.psql("select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')")


def merge_archive(src: Path, dst: Path) -> None:
    """One archive, as on the VMS host: the old primary's WAL and the new one's side by side (never overwritten).
    Only call this once ``src``'s archiver is idle (after switch_wal returned, or the server stopped)."""
    for f in src.iterdir():
        if not (dst / f.name).exists():
            shutil.copy2(f, dst / f.name)
            shutil.chown(dst / f.name, "postgres", "postgres")


def repoint(policy: Path, old, new, *, archive: bool = True) -> None:
    """Point the policy's cluster at ``new`` (a server with ``port``, ``socket_dir``, ``data_dir`` and, when
    ``archive``, ``archive_dir``): what an operator's swap of the new primary into the old one's place does."""
    text = policy.read_text()
    pairs = [(old.port, new.port), (old.socket_dir, new.socket_dir), (old.data_dir, new.data_dir)]
    if archive:
        pairs.append((old.archive_dir, new.archive_dir))
    for a, b in pairs:
        text = text.replace(f"port = {a}\n", f"port = {b}\n") if isinstance(a, int) else text.replace(str(a), str(b))
    policy.write_text(text)
