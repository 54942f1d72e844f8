"""``qfbackup snapshot create|list|restore`` for local directories."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import click

from qfbackup.cli import complete
from qfbackup.cli.context import CliContext, pass_ctx
from qfbackup.ops.ingest.files import backup_directory, restore_directory
from qfbackup.output.document import document
from qfbackup.output.text import repository as text


@click.group()
def snapshot() -> None:
    """Back up and restore file sets (directories)."""


@snapshot.command()
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--tag", "tags", multiple=True, help="Tag the snapshot (repeatable).")
@click.option("--exclude", "excludes", multiple=True, help="Glob of paths to skip (repeatable).")
@pass_ctx
def create(ctx: CliContext, path: Path, tags: tuple[str, ...], excludes: tuple[str, ...]) -> None:
    """Back up a directory."""
    repository = ctx.open_repo()

    def exclude(p: Path) -> bool:
        return any(fnmatch.fnmatch(str(p), g) or fnmatch.fnmatch(p.name, g) for g in excludes)

    with ctx.lock(repository, "snapshot create"), ctx.progress(f"backing up {path}") as progress:
        res = backup_directory(repository, path, tags=tags, exclude=exclude if excludes else None, progress=progress)
    s = res.snapshot
    doc = document(
        "snapshot create",
        id=s.id,
        kind=s.kind,
        source=s.source,
        time=s.time,
        tags=s.tags,
        files=res.files,
        dirs=res.dirs,
        bytes_in=res.bytes_in,
        bytes_new=res.bytes_new,
        bytes_stored=res.bytes_stored,
    )
    ctx.emit(doc, text.snapshot_create)


@snapshot.command("list")
@click.option(
    "--kind",
    shell_complete=complete.snapshot_kinds,
    help="Only snapshots of this kind (files, basebackup, wal, dump...).",
)
@click.option("--tag", help="Only snapshots with this tag.")
@pass_ctx
def list_(ctx: CliContext, kind: str | None, tag: str | None) -> None:
    """List snapshots, oldest first."""
    repository = ctx.open_repo()
    with ctx.lock(repository, "snapshot list", read_only=True):
        snaps = [s for s in repository.snapshots() if (not kind or s.kind == kind) and (not tag or tag in s.tags)]
    rows = [
        {
            "id": s.id,
            "time": s.time,
            "kind": s.kind,
            "source": s.source,
            "host": s.host,
            "tags": s.tags,
            "bytes_in": s.stats.get("bytes_in"),
            "bytes_stored": s.stats.get("bytes_stored"),
        }
        for s in snaps
    ]
    ctx.emit(document("snapshot list", snapshots=rows), text.snapshot_list)


@snapshot.command()
@click.argument("snapshot_id", shell_complete=complete.file_set_id)
@click.argument("target", type=click.Path(file_okay=False, path_type=Path))
@pass_ctx
def restore(ctx: CliContext, snapshot_id: str, target: Path) -> None:
    """Restore a file-set snapshot into a new or empty directory."""
    repository = ctx.open_repo()
    with ctx.lock(repository, "snapshot restore", read_only=True):
        snap = repository.snapshot(snapshot_id)
        with ctx.progress(f"restoring {snap.short_id}", total=snap.stats.get("bytes_in")) as progress:
            files = restore_directory(repository, snap, target, progress=progress)
    ctx.emit(document("snapshot restore", snapshot_id=snap.id, target=target, files=files), text.snapshot_restore)
