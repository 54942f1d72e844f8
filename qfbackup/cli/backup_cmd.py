"""``qfbackup backup base|dump``: database backups pulled from the database host over SSH.

Thin on purpose: the work is in ops/ingest/base_backup.py and ops/ingest/dump.py (callable from tests and the
scheduler); this module takes the locks, shows progress on a TTY and renders the result.
"""

from __future__ import annotations

from typing import Any

import click

from qfbackup.cli import complete
from qfbackup.cli.context import CliContext, pass_ctx
from qfbackup.errors import Failed
from qfbackup.ops.ingest.base_backup import BaseBackupResult, take_base_backup
from qfbackup.ops.ingest.dump import DumpOutcome, DumpResult, take_dumps
from qfbackup.ops.runlock import run_lock
from qfbackup.output.document import document
from qfbackup.output.text import ingest as text


@click.group()
def backup() -> None:
    """Base backups and logical dumps of a PostgreSQL cluster."""


def _run(result: BaseBackupResult | DumpResult) -> dict[str, Any]:
    """What every backup run reports (the contract's ``_run_keys``)."""
    snapshot, meta = result.snapshot, result.snapshot.meta
    return {
        "id": snapshot.id,
        "kind": snapshot.kind,
        "cluster": result.cluster,
        "streams": {name: ref.size for name, ref in snapshot.streams.items()},
        "bytes_in": result.bytes_in,
        "bytes_new": result.bytes_new,
        "bytes_stored": result.bytes_stored,
        "duration_s": round(result.seconds, 3),
        "started_at": meta["started_at"],
        "stopped_at": meta["stopped_at"],
        "server_version": result.facts.version,
    }


@backup.command("base")
@click.option(
    "--cluster",
    "cluster_name",
    required=True,
    shell_complete=complete.clusters,
    help="The (primary) cluster to back up.",
)
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
        res = take_base_backup(
            repository, policy, name, from_standby=from_standby, label=label, warn=ctx.warn,
            progress=lambda total: ctx.progress(f"base backup of {name}", total),
        )  # fmt: skip
    meta = res.snapshot.meta
    doc = document(
        "backup base",
        **_run(res),
        source_cluster=res.source_cluster,
        from_standby=res.from_standby,
        **{k: meta[k] for k in ("start_lsn", "stop_lsn", "start_timeline", "stop_timeline", "end_time")},
        wal_first_segment=res.position.first_segment,
        wal_last_segment=res.position.last_segment,
        system_identifier=res.facts.system_identifier,
    )
    ctx.emit(doc, text.backup_base)


def _outcome(o: DumpOutcome) -> dict[str, Any]:
    error = None if o.ok else {"message": o.error, "exit_status": o.exit_status, "stderr": o.stderr}
    return {"status": o.status, "stream": o.stream, "size": o.size, "duration_s": round(o.seconds, 3), "error": error}


@backup.command("dump")
@click.option(
    "--cluster",
    "cluster_name",
    required=True,
    shell_complete=complete.clusters,
    help="The cluster whose databases to dump.",
)
@click.option("--db", "databases", multiple=True, help="Only this database (repeatable; must be in the policy).")
@click.option("--globals/--no-globals", "dump_globals", default=None, help="Also pg_dumpall --globals-only.")
@pass_ctx
def dump(ctx: CliContext, cluster_name: str, databases: tuple[str, ...], dump_globals: bool | None) -> None:
    """Dump databases with pg_dump -Fc (and globals), streamed into one snapshot."""
    policy = ctx.policy
    name = policy.cluster(cluster_name).name
    repository = ctx.open_repo()
    with run_lock(policy.repository.cache_dir, f"backup-dump-{name}"), ctx.lock(repository, "backup dump"):
        res = take_dumps(
            repository, policy, name, databases=databases or None, dump_globals=dump_globals,
            progress=lambda total: ctx.progress(f"dumps of {name}", total),
        )  # fmt: skip
    doc = document(
        "backup dump",
        **_run(res),
        status=res.snapshot.meta["status"],
        databases={o.name: _outcome(o) for o in res.outcomes if not o.is_globals},
        globals=next((_outcome(o) for o in res.outcomes if o.is_globals), None),
        failed=res.failed,
    )
    ctx.emit(doc, text.backup_dump)
    if res.failed:
        errors = "; ".join(f"{o.name}: {_first_line(o.error)}" for o in res.outcomes if not o.ok)
        raise Failed(
            f"dump of {', '.join(res.failed)} on cluster {name} failed ({errors}); "
            f"the other dumps are stored in snapshot {res.snapshot.short_id}",
        )


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "failed"
