"""``qfbackup restore dump``: a logical dump back into a server (globals, then pg_restore), or out to files.

Thin on purpose: choosing the dump, the checks on the target and the restore itself are in
ops/restore/dump.py; this module holds the lock, shows progress and renders the result.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from qfbackup.catalog.dumps import choose_dump
from qfbackup.cli.context import CliContext, pass_ctx
from qfbackup.errors import UsageError
from qfbackup.ops.restore.dump import plan_dump_restore, restore_dump
from qfbackup.ops.restore.dump_files import dump_files_plan, write_dump_files

MB = 1_000_000


@click.command("dump")
@click.option("--cluster", "cluster_name", required=True, help="The cluster the dump was taken from.")
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
@click.option("--snapshot", "snapshot_id", metavar="ID", help="Restore the dump in this snapshot, not the newest.")
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
            ctx.result({**plan.to_dict(), "dry_run": True}, plan.describe() + "\n(dry run: nothing was changed)")
            return
        ctx.info(plan.describe(with_warnings=False))  # warnings go to stderr, even under --quiet
        for w in plan.warnings:
            ctx.warn(w)
        with ctx.progress(f"restoring {database}", total=plan.dump_bytes) as progress:
            result = restore_dump(repository, plan, choice, target, tools, progress=progress, warn=ctx.warn)
    human = [
        f"restored {database} from dump snapshot {plan.snapshot[:12]} into database {plan.target_db} "
        f"({plan.dump_bytes / MB:.1f} MB, pg_restore {result.restore_seconds:.1f} s"
        + (f", staging {result.staging_seconds:.1f} s" if plan.staging_dir else "")
        + ")",
    ]
    if result.globals_errors_ignored:
        human.append(f"globals: {len(result.globals_errors_ignored)} expected error(s) ignored (objects exist):")
        human += [f"  {e}" for e in result.globals_errors_ignored]
    ctx.result(asdict(result), "\n".join(human))


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
        res = dump_files_plan(choice, path)
        ctx.result(
            {**asdict(res), "dry_run": True},
            f"would write {res.dump_file} ({res.dump_bytes} bytes) from snapshot {res.snapshot[:12]}"
            + (f" and {res.globals_file}" if res.globals_file else "")
            + "\n(dry run: nothing was changed)",
        )
        return
    with ctx.progress(f"writing {path.name}", total=choice.stream.size) as progress:
        res = write_dump_files(repository, choice, path, progress=progress)
    lines = [
        f"wrote {res.dump_file} ({res.dump_bytes / MB:.1f} MB, pg_dump custom format) from dump snapshot "
        f"{res.snapshot[:12]} ({res.snapshot_time[:19]} UTC)",
    ]
    if res.globals_file:
        lines.append(f"wrote {res.globals_file} (roles and tablespaces)")
    lines += ["to restore:", *(f"  {s}" for s in res.next_steps)]
    ctx.result(asdict(res), "\n".join(lines))
