"""``qfbackup list`` and ``qfbackup show``: what can be restored, per cluster."""

from __future__ import annotations

import click

from qfbackup.cli.context import CliContext, pass_ctx
from qfbackup.ops.status.inventory import cluster_inventory


@click.command("list")
@click.option("--cluster", help="Only this cluster.")
@pass_ctx
def list_(ctx: CliContext, cluster: str | None) -> None:
    """Base backups, dumps, WAL and the restorable window of each cluster."""
    repository = ctx.open_repo()
    with ctx.lock(repository, "list", read_only=True):
        snapshots = repository.snapshots()
    names = (
        [ctx.known_cluster(cluster, snapshots)]
        if cluster
        else sorted({s.source for s in snapshots if s.kind in ("basebackup", "dump", "wal")})
    )
    inventories = [cluster_inventory(repository, snapshots, name) for name in names]
    ctx.result([i.to_dict() for i in inventories], "\n\n".join(i.describe() for i in inventories) or "nothing stored")


@click.command()
@click.argument("snapshot_id")
@pass_ctx
def show(ctx: CliContext, snapshot_id: str) -> None:
    """Everything recorded about one backup, dump or snapshot."""
    repository = ctx.open_repo()
    with ctx.lock(repository, "show", read_only=True):
        snap = repository.snapshot(snapshot_id)
    doc = {"id": snap.id, **snap.to_doc()}
    doc["streams"] = {k: {"size": v.size, "chunks": v.chunks} for k, v in snap.streams.items()}
    meta = dict(doc.get("meta", {}))
    if "files" in meta:
        points = [f"{rp['name']} ({rp['lsn']})" for f in meta["files"].values() for rp in f.get("restore_points", ())]
        meta["files"] = f"{len(meta['files'])} file(s)"
        if points:
            meta["restore_points"] = ", ".join(points)
    lines = [f"{k:12} {v}" for k, v in doc.items() if k not in ("meta", "version")]
    lines += [f"  {k:22} {v}" for k, v in meta.items()]
    ctx.result(doc, "\n".join(lines))
