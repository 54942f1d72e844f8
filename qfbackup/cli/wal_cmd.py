"""``qfbackup wal pull|status``: continuous WAL archiving from the database host."""

from __future__ import annotations

from dataclasses import asdict

import click

from qfbackup.cli.context import CliContext, pass_ctx
from qfbackup.errors import WalGapOpen, WalQuarantined, WalUnprotected
from qfbackup.ops.ingest.wal_pull import pull
from qfbackup.ops.runlock import run_lock
from qfbackup.ops.status.wal import wal_status


def _clusters(ctx: CliContext, name: str | None) -> list[str]:
    if name:
        return [ctx.policy.cluster(name).name]
    return [c.name for c in ctx.policy.primaries() if c.wal_archive_dir is not None]


@click.group()
def wal() -> None:
    """Pull archived WAL from the database host and report on it."""


@wal.command("pull")
@click.option("--cluster", help="Only this cluster (default: every primary with a wal_archive_dir).")
@pass_ctx
def pull_cmd(ctx: CliContext, cluster: str | None) -> None:
    """Fetch new archived WAL files, validate them and store them (idempotent, resumable)."""
    repository = ctx.open_repo()
    results = []
    for name in _clusters(ctx, cluster):
        with run_lock(ctx.policy.repository.cache_dir, f"wal-pull-{name}"), ctx.lock(repository, "wal pull"):
            with ctx.progress(f"pulling WAL of {name}") as progress:
                results.append(pull(repository, ctx.policy, name, progress=progress, warn=ctx.warn))
    lines = []
    for r in results:
        lines.append(
            f"{r.cluster}: stored {len(r.pulled)} file(s), {r.bytes} bytes ({r.bytes_stored} new stored) "
            f"in {r.seconds:.1f}s" + (f"; {len(r.in_progress)} still being archived" if r.in_progress else "")
        )
        lines += [f"  QUARANTINED {n}: {why}" for n, why in r.quarantined.items()]
        lines += [f"  GAP {g}" for g in r.gaps]
    ctx.result([asdict(r) for r in results], "\n".join(lines))
    bad = [r.cluster for r in results if r.quarantined or r.gaps]
    if bad:  # a quarantined file is the cause to inspect first; it usually leaves a gap too
        raise (WalQuarantined if any(r.quarantined for r in results) else WalGapOpen)(
            f"WAL problems on {', '.join(bad)}: quarantined files or gaps (see above)",
            hint="inspect the files in the host's archive directory; `qfbackup wal status` tracks the gap",
        )


@wal.command("status")
@click.option("--cluster", help="Only this cluster.")
@pass_ctx
def status_cmd(ctx: CliContext, cluster: str | None) -> None:
    """Newest stored WAL, the primary's position, lag, gaps and timelines, and whether the primary is protected.

    Exit 19 naming each problem and its fix: a gap, quarantined files, lag over the limit, the primary not
    reachable, archive_mode off or archive_command failing on it (pg_stat_archiver), or a timeline whose history
    file is not in the repository (on the server, or one that stored WAL or backups are on).
    """
    repository = ctx.open_repo()
    with ctx.lock(repository, "wal status", read_only=True):
        reports = [wal_status(repository, ctx.policy, name) for name in _clusters(ctx, cluster)]
    ctx.result([asdict(r) for r in reports], "\n\n".join(r.describe() for r in reports))
    problems = [p for r in reports for p in r.problems]
    if problems:
        raise WalUnprotected("; ".join(problems), hint="run `qfbackup wal pull`; if the gap stays, see docs/runbooks/")
