"""``qfbackup restore``: point-in-time recovery of a cluster (and ``restore dump`` for logical dumps)."""

from __future__ import annotations

from pathlib import Path

import click

from qfbackup.catalog.plan import plan_restore
from qfbackup.cli import complete
from qfbackup.cli.context import CliContext
from qfbackup.errors import UsageError
from qfbackup.ops.restore.cluster import RestoreResult, restore_local, restore_remote
from qfbackup.output.document import document, jsonable
from qfbackup.output.text.restore import plan_text, restore_text
from qfbackup.pg.recovery import ACTIONS, Target


def _target(pitr, latest, lsn, xid, name, exclusive) -> Target:
    given = [(k, v) for k, v in (("time", pitr), ("lsn", lsn), ("xid", xid), ("name", name)) if v]
    if latest:
        given.append(("latest", ""))
    if len(given) != 1:
        raise UsageError("give exactly one of --pitr TIME, --latest, --target-lsn, --target-xid, --target-name")
    kind, value = given[0]
    return Target(kind, value, inclusive=not exclusive)


def _archive_dir(ctx: CliContext, opts: dict) -> str | None:
    if not opts["as_primary"]:
        if opts["archive_dir"]:
            raise UsageError("--archive-dir applies to --as-primary only")
        return None
    if opts["archive_dir"]:
        return opts["archive_dir"]
    policy = ctx.policy_or_none()
    cluster = policy.cluster(opts["cluster"]) if policy is not None else None
    if cluster is None or cluster.wal_archive_dir is None:
        raise UsageError(
            f"--as-primary needs an archive: cluster {opts['cluster']} has no wal_archive_dir in the policy",
            hint="pass --archive-dir DIR (a directory on the restored server's machine that `wal pull` reads)",
        )
    return str(cluster.wal_archive_dir)


@click.group(invoke_without_command=True)
@click.option("--cluster", shell_complete=complete.clusters, help="The cluster to restore (as named in the policy).")
@click.option("--pitr", metavar="TIME", help="Recover to this time (ISO 8601 with zone, e.g. 2026-11-26T03:14:00Z).")
@click.option("--latest", is_flag=True, help="Recover to the end of the stored WAL.")
@click.option("--target-lsn", metavar="LSN", help="Recover to this WAL position.")
@click.option("--target-xid", metavar="XID", help="Recover to this transaction id.")
@click.option(
    "--target-name",
    metavar="NAME",
    help="Recover to this restore point (pg_create_restore_point), planned from its position in the stored WAL "
    "(`list` shows them); an unknown name is refused.",
)
@click.option("--target-exclusive", is_flag=True, help="Stop just before the target instead of just after it.")
@click.option("--timeline", type=int, help="Recover along this timeline (default: the latest stored).")
@click.option(
    "--backup",
    "backup_id",
    metavar="ID",
    shell_complete=complete.base_backup_id,
    help="Use this base backup instead of the planned one.",
)
@click.option("--to", "to", metavar="DIR", help="The new data directory (empty or absent).")
@click.option(
    "--host",
    shell_complete=complete.hosts,
    help="Restore onto this host from the policy (over SSH) instead of this machine.",
)
@click.option("--action", type=click.Choice(ACTIONS), help="At the target: promote, pause (default) or shutdown.")
@click.option("--owner", default="postgres", show_default=True, help="Local user to own the restored files.")
@click.option(
    "--as-primary",
    is_flag=True,
    help="The restore becomes the new primary: it archives its WAL (and its new timeline's history) into the "
    "cluster's archive from the first moment. Without it the restore is a copy that never archives.",
)
@click.option(
    "--archive-dir",
    metavar="DIR",
    help="With --as-primary: archive into DIR on the restored server's machine (default: the cluster's "
    "wal_archive_dir from the policy).",
)
@click.option(
    "--accept-earlier",
    is_flag=True,
    help="Restore even though the plan stops short of what the repository holds (a WAL gap, or unreadable "
    "catalogue objects); without it such a --latest restore is refused.",
)
@click.option("--dry-run", is_flag=True, help="Only print the plan: backup, WAL and bytes needed, estimate.")
@click.option("--force", is_flag=True, help="Allow a non-empty target (files are added/overwritten, none deleted).")
@click.pass_context
def restore(click_ctx: click.Context, **opts) -> None:
    """Restore a cluster to a point in time (base backup + WAL replay).

    Plans along the target timeline's history (default the newest), from a base backup on that history, and
    writes nothing when the target cannot be reached. The restore is a copy that never archives, unless
    --as-primary: then it is the new primary and archives from its first moment.
    """
    if click_ctx.invoked_subcommand:
        return
    ctx: CliContext = click_ctx.obj
    if not opts["cluster"]:
        raise UsageError("--cluster is required")
    target = _target(
        opts["pitr"],
        opts["latest"],
        opts["target_lsn"],
        opts["target_xid"],
        opts["target_name"],
        opts["target_exclusive"],
    )
    if target.kind == "latest" and opts["action"] not in (None, "promote"):
        raise UsageError(
            "--action applies to a recovery target; with --latest the server promotes at the end of the WAL",
            hint="use --target-lsn/--pitr with --action pause to stop and inspect before promoting",
        )
    if not opts["to"] and not opts["dry_run"]:
        raise UsageError("--to DIR is required (the new data directory)")
    archive_dir = _archive_dir(ctx, opts)
    repository = ctx.open_repo()
    with ctx.lock(repository, "restore", read_only=True):
        snapshots = repository.snapshots()
        ctx.known_cluster(opts["cluster"], snapshots)
        plan = plan_restore(
            repository, opts["cluster"], target, timeline=opts["timeline"], backup_id=opts["backup_id"],
            snapshots=snapshots,
        )  # fmt: skip
        plan_doc = jsonable(plan.to_dict())
        if opts["dry_run"]:
            ctx.emit(document("restore", dry_run=True, plan=plan_doc, restored=None), restore_text)
            plan.check_complete(accept=opts["accept_earlier"])  # the dry run of a refused restore fails the same way
            return
        ctx.info(plan_text(plan_doc))
        plan.check_complete(accept=opts["accept_earlier"])  # before anything is written
        if plan.unreadable or plan.newer_elsewhere or (plan.degraded and target.kind == "latest"):
            ctx.warn(f"this restore may not be what the repository could give: {plan.shortfall()}")  # even with -q
        action = opts["action"] or ("promote" if target.kind == "latest" else "pause")
        # one bar for the base backup's tar, then the WAL staged as it is fetched: both sizes are in the plan
        with ctx.progress("restoring base backup + WAL", total=plan.base_bytes + plan.wal_bytes) as progress:
            if opts["host"]:
                result = restore_remote(
                    repository,
                    ctx.policy,
                    plan,
                    opts["host"],
                    opts["to"],
                    action=action,
                    force=opts["force"],
                    archive_dir=archive_dir,
                    progress=progress,
                )
            else:
                result = restore_local(
                    repository,
                    plan,
                    Path(opts["to"]),
                    action=action,
                    force=opts["force"],
                    owner=opts["owner"],
                    archive_dir=archive_dir,
                    progress=progress,
                )
    restored = _restored(result, action, archive_dir)
    ctx.emit(document("restore", dry_run=False, plan=plan_doc, restored=restored), restore_text)


def _restored(result: RestoreResult, action: str, archive_dir: str | None) -> dict:
    """What ``restore`` wrote, as its document says it (docs/json.md)."""
    return {
        "data_dir": result.data_dir,
        "host": result.host,
        "spool": result.spool,
        "restore_command": result.restore_command,
        "action": action,
        "archive_dir": archive_dir,
        "bytes_written": result.bytes_written,
        "write_seconds": result.write_seconds,
        "wal_files": result.wal_files,
        "fetch_seconds": result.fetch_seconds,
        "next_steps": [{"message": step} for step in result.next_steps],
    }


from qfbackup.cli.restore_dump_cmd import restore_dump_cmd  # noqa: E402

restore.add_command(restore_dump_cmd)
