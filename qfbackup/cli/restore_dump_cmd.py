"""``qfbackup restore dump``: a logical dump back into a server (globals, then pg_restore), or out to files.

Thin on purpose: choosing the dump, the checks on the target and the restore itself are in
ops/restore/dump.py; this module holds the lock, shows progress and builds the document (docs/json.md) that
output/text/restore.py renders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from qfbackup.catalog.dumps import choose_dump
from qfbackup.cli import complete
from qfbackup.cli.context import CliContext, pass_ctx
from qfbackup.errors import UsageError
from qfbackup.ops.restore.dump import DumpRestorePlan, DumpRestoreResult, plan_dump_restore, restore_dump
from qfbackup.ops.restore.dump_files import DumpFilesResult, dump_files_plan, write_dump_files
from qfbackup.output.document import document
from qfbackup.output.text.restore import dump_plan_text, restore_dump_text

COMMAND = "restore dump"


@click.command("dump")
@click.option(
    "--cluster",
    "cluster_name",
    required=True,
    shell_complete=complete.clusters,
    help="The cluster the dump was taken from.",
)
@click.option("--db", "database", required=True, help="The database to restore.")
@click.option(
    "--to-dsn",
    "dsn",
    metavar="DSN",
    help="Target server as a libpq DSN or URI; its dbname is the database to restore into (default: --db). "
    "Keep the password in ~/.pgpass or PGPASSWORD rather than on the command line.",
)
@click.option(
    "--to-file",
    "to_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the custom-format dump to FILE (and globals to FILE.globals.sql) instead.",
)
@click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True, help="pg_restore --jobs.")
@click.option(
    "--tmpdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where --jobs > 1 stages the dump file (default: the policy's cache_dir, else the temp directory).",
)
@click.option(
    "--snapshot",
    "snapshot_id",
    metavar="ID",
    shell_complete=complete.dump_id,
    help="Restore the dump in this snapshot, not the newest.",
)
@click.option("--no-globals", is_flag=True, help="Do not restore roles/tablespaces (they already exist).")
@click.option("--dry-run", is_flag=True, help="Only print what would be done (the target is inspected, not changed).")
@pass_ctx
def restore_dump_cmd(
    ctx: CliContext,
    cluster_name: str,
    database: str,
    dsn: str | None,
    to_file: Path | None,
    jobs: int,
    tmpdir: Path | None,
    snapshot_id: str | None,
    no_globals: bool,
    dry_run: bool,
) -> None:
    """Restore a logical dump: globals first, then pg_restore (works against a fresh, empty server)."""
    if (dsn is None) == (to_file is None):
        raise UsageError("give exactly one of --to-dsn DSN or --to-file FILE")
    if to_file is not None and (jobs != 1 or tmpdir is not None or no_globals):
        raise UsageError("--jobs, --tmpdir and --no-globals apply to --to-dsn only")
    repository = ctx.open_repo()
    with ctx.lock(repository, "restore dump", read_only=True):
        ctx.known_cluster(cluster_name, repository.snapshots())
        if to_file is not None:
            _to_file(ctx, repository, cluster_name, database, to_file, snapshot_id, dry_run)
            return
        assert dsn is not None
        plan, choice, target, tools = plan_dump_restore(
            repository,
            ctx.policy_or_none(),
            cluster_name,
            database,
            dsn,
            jobs=jobs,
            snapshot_id=snapshot_id,
            tmpdir=tmpdir,
            apply_globals=not no_globals,
        )
        if dry_run:
            ctx.emit(_server_doc(plan, None), restore_dump_text)
            return
        ctx.info(dump_plan_text(_server_doc(plan, None), with_warnings=False))  # warnings: stderr, even with -q
        for w in plan.warnings:
            ctx.warn(w)
        with ctx.progress(f"restoring {database}", total=plan.dump_bytes) as progress:
            result = restore_dump(repository, plan, choice, target, tools, progress=progress, warn=ctx.warn)
    ctx.emit(_server_doc(plan, result), restore_dump_text)


def _messages(texts: list[str]) -> list[dict[str, str]]:
    return [{"message": t} for t in texts]


def _server_doc(plan: DumpRestorePlan, result: DumpRestoreResult | None) -> dict[str, Any]:
    """``restore dump --to-dsn``'s document: the plan, and what was done (None: a dry run)."""
    restored = None
    if result is not None:
        restored = {
            "bytes": result.bytes_restored,
            "seconds": result.globals_seconds + result.staging_seconds + result.restore_seconds,
            "globals_errors_ignored": _messages(result.globals_errors_ignored),
            "globals_seconds": result.globals_seconds,
            "staging_seconds": result.staging_seconds if plan.staging_dir else None,
            "pg_restore_seconds": result.restore_seconds,
        }
    return document(
        COMMAND,
        dry_run=result is None,
        cluster=plan.cluster,
        database=plan.db,
        snapshot_id=plan.snapshot,
        snapshot_time=plan.snapshot_time,
        dump_bytes=plan.dump_bytes,
        globals_snapshot_id=plan.globals_snapshot,
        globals_bytes=plan.globals_bytes,
        to_dsn={
            "target": plan.target,
            "target_db": plan.target_db,
            "create": plan.create,
            "apply_globals": plan.apply_globals,
            "jobs": plan.jobs,
            "staging_dir": plan.staging_dir,
            "pg_bin_dir": plan.pg_bin_dir,
            "pg_restore_version": plan.pg_restore_version,
            "target_server_version_num": plan.target_server_version_num,
        },
        to_file=None,
        warnings=_messages(plan.warnings),
        next_steps=[],
        restored=restored,
    )


def _files_doc(res: DumpFilesResult, *, dry_run: bool) -> dict[str, Any]:
    """``restore dump --to-file``'s document."""
    restored = None
    if not dry_run:
        restored = {
            "bytes": res.dump_bytes + (res.globals_bytes if res.globals_file else 0),
            "seconds": res.seconds,
            "globals_errors_ignored": [],
            "globals_seconds": None,
            "staging_seconds": None,
            "pg_restore_seconds": None,
        }
    return document(
        COMMAND,
        dry_run=dry_run,
        cluster=res.cluster,
        database=res.db,
        snapshot_id=res.snapshot,
        snapshot_time=res.snapshot_time,
        dump_bytes=res.dump_bytes,
        globals_snapshot_id=res.globals_snapshot,
        globals_bytes=res.globals_bytes,
        to_dsn=None,
        to_file={"dump_file": res.dump_file, "globals_file": res.globals_file},
        warnings=[],
        next_steps=_messages(res.next_steps),
        restored=restored,
    )


def _to_file(
    ctx: CliContext,
    repository,
    cluster_name: str,
    database: str,
    path: Path,
    snapshot_id: str | None,
    dry_run: bool,
) -> None:
    choice = choose_dump(repository, cluster_name, database, snapshot_id)
    if dry_run:
        ctx.emit(_files_doc(dump_files_plan(choice, path), dry_run=True), restore_dump_text)
        return
    with ctx.progress(f"writing {path.name}", total=choice.stream.size) as progress:
        res = write_dump_files(repository, choice, path, progress=progress)
    ctx.emit(_files_doc(res, dry_run=False), restore_dump_text)
