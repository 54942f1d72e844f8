"""``qfbackup list`` and ``qfbackup show``: what can be restored, per cluster."""

from __future__ import annotations

import click

from qfbackup.catalog.kinds import RESTORABLE_KINDS, cluster_names
from qfbackup.cli import complete
from qfbackup.cli.context import CliContext, pass_ctx
from qfbackup.ops.status.inventory import cluster_inventory, snapshot_record
from qfbackup.output.document import document
from qfbackup.output.text.catalog import list_text, show_text


@click.command("list")
@click.option("--cluster", shell_complete=complete.clusters, help="Only this cluster.")
@pass_ctx
def list_(ctx: CliContext, cluster: str | None) -> None:
    """Base backups, dumps, WAL and the restorable window of each cluster."""
    repository = ctx.open_repo()
    with ctx.lock(repository, "list", read_only=True):
        snapshots = repository.snapshots()
    names = [ctx.known_cluster(cluster, snapshots)] if cluster else sorted(cluster_names(snapshots, RESTORABLE_KINDS))
    ctx.emit(document("list", clusters=[cluster_inventory(repository, snapshots, n) for n in names]), list_text)


@click.command()
@click.argument("snapshot_id", shell_complete=complete.any_snapshot_id)
@pass_ctx
def show(ctx: CliContext, snapshot_id: str) -> None:
    """Everything recorded about one backup, dump or snapshot."""
    repository = ctx.open_repo()
    with ctx.lock(repository, "show", read_only=True):
        snap = repository.snapshot(snapshot_id)
    ctx.emit(document("show", **snapshot_record(snap)), show_text)
