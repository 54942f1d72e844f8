"""``qfbackup backup base|dump``: database backups pulled from the database host over SSH.

Thin on purpose: the work is in ops/ingest/base_backup.py and ops/ingest/dump.py (callable from tests and the
scheduler); this module takes the locks, shows progress on a TTY and renders the result.
"""

from __future__ import annotations

import click

from qfbackup.cli.context import CliContext, pass_ctx
from qfbackup.errors import Failed
from qfbackup.ops.ingest.base_backup import take_base_backup
from qfbackup.ops.ingest.dump import take_dumps
from qfbackup.ops.runlock import run_lock

MB = 1_000_000


@click.group()
def backup() -> None:
    """Base backups and logical dumps of a PostgreSQL cluster."""


@backup.command("base")
@click.option("--cluster", "cluster_name", required=True, help="The (primary) cluster to back up.")
@click.option(
    "--from-standby/--from-primary",
    default=None,
    help="Read from the cluster's hot standby, or force the primary (default: the policy's base_backup_from).",
)
@click.option("--label", help="pg_basebackup label (default: qfbackup CLUSTER TIME).")
@pass_ctx
def base(ctx: CliContext, cluster_name: str, from_standby: bool | None, label: str | None) -> None:
    """Take a base backup with pg_basebackup, streamed into the repository."""
    policy = ctx.policy
    name = policy.cluster(cluster_name).name
    repository = ctx.open_repo()
    with run_lock(policy.repository.cache_dir, f"backup-base-{name}"), ctx.lock(repository, "backup base"):
        with ctx.progress(f"base backup of {name}") as progress:
            res = take_base_backup(
                repository, policy, name, from_standby=from_standby, label=label, progress=progress, warn=ctx.warn
            )
    p = res.position
    ctx.result(
        res.summary(),
        f"base backup {res.snapshot.short_id} of {name} (from {res.source_cluster}): "
        f"{res.bytes_in / MB:.1f} MB read, {res.bytes_stored / MB:.1f} MB stored (new) "
        f"in {res.seconds:.1f} s ({res.throughput_mb_s:.0f} MB/s); "
        f"WAL {p.first_segment}..{p.last_segment}, stop LSN {res.snapshot.meta['stop_lsn']}",
    )


@backup.command("dump")
@click.option("--cluster", "cluster_name", required=True, help="The cluster whose databases to dump.")
@click.option("--db", "databases", multiple=True, help="Only this database (repeatable; must be in the policy).")
@click.option("--globals/--no-globals", "dump_globals", default=None, help="Also pg_dumpall --globals-only.")
@pass_ctx
def dump(ctx: CliContext, cluster_name: str, databases: tuple[str, ...], dump_globals: bool | None) -> None:
    """Dump databases with pg_dump -Fc (and globals), streamed into one snapshot."""
    policy = ctx.policy
    name = policy.cluster(cluster_name).name
    repository = ctx.open_repo()
    with run_lock(policy.repository.cache_dir, f"backup-dump-{name}"), ctx.lock(repository, "backup dump"):
        with ctx.progress(f"dumps of {name}") as progress:
            res = take_dumps(
                repository, policy, name, databases=databases or None, dump_globals=dump_globals, progress=progress
            )
    lines = [
        f"dump snapshot {res.snapshot.short_id} of {name}: {res.bytes_in / MB:.1f} MB read, "
        f"{res.bytes_stored / MB:.1f} MB stored (new) in {res.seconds:.1f} s"
    ]
    for o in res.outcomes:
        what = "globals" if o.is_globals else o.name
        if o.ok:
            lines.append(f"  {what}: {o.size / MB:.1f} MB in {o.seconds:.1f} s")
        else:
            lines.append(f"  {what}: FAILED: {o.error}")
    ctx.result(res.summary(), "\n".join(lines))
    if res.failed:
        errors = "; ".join(f"{o.name}: {_first_line(o.error)}" for o in res.outcomes if not o.ok)
        raise Failed(
            f"dump of {', '.join(res.failed)} on cluster {name} failed ({errors}); "
            f"the other dumps are stored in snapshot {res.snapshot.short_id}",
        )


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "failed"
