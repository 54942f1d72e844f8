"""``qfbackup wal-get``: the restore_command PostgreSQL calls during recovery."""

from __future__ import annotations

from pathlib import Path

import click

from qfbackup.cli import complete
from qfbackup.cli.context import CliContext, pass_ctx
from qfbackup.ops.restore.wal_get import wal_get


@click.command("wal-get")
@click.option("--cluster", required=True, shell_complete=complete.clusters, help="Cluster whose WAL to serve.")
@click.option("--spool", type=click.Path(file_okay=False, path_type=Path), help="Staged WAL to serve first.")
@click.option("--prefetch", type=int, default=8, show_default=True, help="Segments to fetch ahead into the spool.")
@click.argument("name")
@click.argument("dest", type=click.Path(dir_okay=False, path_type=Path))
@pass_ctx
def wal_get_cmd(ctx: CliContext, cluster: str, spool: Path | None, prefetch: int, name: str, dest: Path) -> None:
    """Copy WAL file NAME to DEST (restore_command = '... wal-get --cluster C %f %p').

    Exit 0: copied. 1: no such file (recovery ends normally). 126: repository or data problem (recovery aborts).
    """
    code = wal_get(name, dest, cluster=cluster, spool=spool, open_repo=ctx.open_repo, prefetch=prefetch)
    raise click.exceptions.Exit(code)
