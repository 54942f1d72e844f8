"""``restore dump --to-file``: the custom-format dump (and ``FILE.globals.sql``) written out for manual use,
both 0600, refusing to overwrite anything."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from qfbackup.catalog.dumps import DumpChoice
from qfbackup.common.atomic import write_atomic
from qfbackup.errors import UsageError
from qfbackup.ops.restore.dump_target import MAINTENANCE_DB
from qfbackup.repo.repository import Repository

Progress = Callable[[int], None]


@dataclass
class DumpFilesResult:
    cluster: str
    db: str
    snapshot: str
    snapshot_time: str
    dump_file: str
    dump_bytes: int
    globals_file: str | None
    globals_bytes: int
    globals_snapshot: str | None
    seconds: float = 0.0
    next_steps: list[str] = field(default_factory=list)


def globals_path(path: Path) -> Path:
    return path.with_name(path.name + ".globals.sql")


def _write_new(path: Path, chunks: Iterable[bytes]) -> int:
    """0600, atomic, and never over an existing file: a file under the final name is always complete."""
    return write_atomic(path, chunks, mode=0o600, replace=False)


def dump_files_plan(choice: DumpChoice, path: Path) -> DumpFilesResult:
    """What ``--to-file`` writes (also the dry-run answer); refuses to overwrite anything."""
    path = path.absolute()
    gpath = globals_path(path) if choice.globals_ref is not None else None
    for p in (path, gpath):
        if p is not None and p.exists():
            raise UsageError(f"{p} already exists", hint="choose a new file name; nothing is overwritten")
    if not path.parent.is_dir():
        raise UsageError(f"directory {path.parent} does not exist")
    g = choice.globals_snapshot
    res = DumpFilesResult(
        choice.cluster,
        choice.db,
        choice.snapshot.id,
        choice.snapshot.time,
        str(path),
        choice.stream.size,
        str(gpath) if gpath else None,
        choice.globals_ref.size if choice.globals_ref else 0,
        g.id if g else None,
    )
    steps = [f"psql -X -d 'host=... dbname={MAINTENANCE_DB}' -f {gpath}"] if gpath else []
    steps.append(f"pg_restore --create -d 'host=... dbname={MAINTENANCE_DB}' {path}  (or -d DB without --create)")
    res.next_steps = steps
    return res


def write_dump_files(
    repo: Repository, choice: DumpChoice, path: Path, *, progress: Progress | None = None
) -> DumpFilesResult:
    res = dump_files_plan(choice, path)
    t0 = time.monotonic()
    _write_new(Path(res.dump_file), repo.read_stream(choice.stream, progress=progress))
    if res.globals_file and choice.globals_ref is not None:
        _write_new(Path(res.globals_file), repo.read_stream(choice.globals_ref))
    res.seconds = time.monotonic() - t0
    return res
