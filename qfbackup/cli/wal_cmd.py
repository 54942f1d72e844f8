"""``qfbackup wal pull|status``: continuous WAL archiving from the database host."""

from __future__ import annotations

from typing import Any

import click

from qfbackup.catalog.window import PathGap
from qfbackup.cli import complete
from qfbackup.cli.context import CliContext, pass_ctx
from qfbackup.errors import WalGapOpen, WalQuarantined, WalUnprotected
from qfbackup.ops.ingest.wal_pull import PullResult, pull
from qfbackup.ops.runlock import run_lock
from qfbackup.ops.status.wal import Problem, WalStatus, wal_status
from qfbackup.output.document import document
from qfbackup.output.text import ingest as text


def _clusters(ctx: CliContext, name: str | None) -> list[str]:
    if name:
        return [ctx.policy.cluster(name).name]
    return [c.name for c in ctx.policy.primaries() if c.wal_archive_dir is not None]


def _gaps(gaps: list[PathGap]) -> list[dict[str, Any]]:
    return [g.to_dict() for g in gaps]


@click.group()
def wal() -> None:
    """Pull archived WAL from the database host and report on it."""


def _pulled(r: PullResult) -> dict[str, Any]:
    return {
        "cluster": r.cluster,
        "pulled": r.pulled,
        "bytes_in": r.bytes_in,
        "bytes_stored": r.bytes_stored,
        "quarantined": list(r.quarantined.values()),
        "in_progress": r.in_progress,
        "ignored": r.ignored,
        "removed_from_host": r.removed_from_host,
        "gaps": _gaps(r.gaps),
        "reconnects": r.reconnects,
        "duration_s": round(r.seconds, 3),
    }


@wal.command("pull")
@click.option(
    "--cluster",
    shell_complete=complete.clusters,
    help="Only this cluster (default: every primary with a wal_archive_dir).",
)
@pass_ctx
def pull_cmd(ctx: CliContext, cluster: str | None) -> None:
    """Fetch new archived WAL files, validate them and store them (idempotent, resumable)."""
    repository = ctx.open_repo()
    results = []
    for name in _clusters(ctx, cluster):
        with run_lock(ctx.policy.repository.cache_dir, f"wal-pull-{name}"), ctx.lock(repository, "wal pull"):
            results.append(
                pull(repository, ctx.policy, name, warn=ctx.warn,
                     progress=lambda total, name=name: ctx.progress(f"pulling WAL of {name}", total))
            )  # fmt: skip
    ctx.emit(document("wal pull", clusters=[_pulled(r) for r in results]), text.wal_pull)
    bad = [r.cluster for r in results if r.quarantined or r.gaps]
    if bad:  # a quarantined file is the cause to inspect first; it usually leaves a gap too
        raise (WalQuarantined if any(r.quarantined for r in results) else WalGapOpen)(
            f"WAL problems on {', '.join(bad)}: quarantined files or gaps (see above)",
            hint="inspect the files in the host's archive directory; `qfbackup wal status` tracks the gap",
        )


def _status(st: WalStatus) -> dict[str, Any]:
    return {
        "cluster": st.cluster,
        "stored_files": st.stored_files,
        "newest_segment": st.newest_segment,
        "newest_archived_at": st.newest_archived_at,
        "current_lsn": st.current_lsn,
        "current_segment": st.current_segment,
        "server_timeline": st.server_timeline,
        "archive_mode": st.archive_mode,
        "lag_segments": st.lag_segments,
        "lag_bytes": st.lag_bytes,
        "lag_seconds": st.lag_seconds,
        "archiver": st.archiver,
        "gaps": _gaps(st.gaps),
        "superseded_gaps": _gaps(st.superseded_gaps),
        "timelines": st.timelines,
        "quarantined": st.quarantined,
        "problems": st.problems,
    }


def _sentence(p: Problem) -> str:
    return f"{p.message} (fix: {p.fix})" if p.fix else p.message


@wal.command("status")
@click.option("--cluster", shell_complete=complete.clusters, help="Only this cluster.")
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
    ctx.emit(document("wal status", clusters=[_status(r) for r in reports]), text.wal_status)
    problems = [p for r in reports for p in r.problems]
    if problems:
        raise WalUnprotected(
            "; ".join(_sentence(p) for p in problems),
            hint="run `qfbackup wal pull`; if the gap stays, see docs/runbooks/",
        )
