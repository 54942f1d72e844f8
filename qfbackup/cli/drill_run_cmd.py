"""``qfbackup drill run`` and ``qfbackup drill history``."""

from __future__ import annotations

from dataclasses import asdict

import click

from qfbackup.cli import complete
from qfbackup.cli.context import CliContext, pass_ctx
from qfbackup.drill.history import history as load_history
from qfbackup.drill.history import trend
from qfbackup.drill.run import Drill, DrillResult
from qfbackup.errors import DrillFailed, UsageError
from qfbackup.output.document import document
from qfbackup.output.progress import phase_display
from qfbackup.output.text import drill as text


def _messages(sentences: list[str]) -> list[dict[str, str]]:
    return [{"message": s} for s in sentences]


def _run_document(r: DrillResult) -> dict:
    checks = [
        {**{k: c[k] for k in ("name", "database", "value", "expect", "ok")},
         "failure": None if c["why"] is None else {"message": c["why"]}}
        for c in r.checks
    ]  # fmt: skip
    return document(
        "drill run",
        **{**asdict(r), "failures": _messages(r.failures), "proofs": _messages(r.proofs), "checks": checks},
    )


@click.command("run")
@click.option(
    "--cluster", shell_complete=complete.clusters, help="Cluster to drill (default: the policy's drill.cluster)."
)
@click.option(
    "--target", "target", default=None, help="random (default), latest, an ISO time, or an LSN. Ignored with --dump."
)
@click.option(
    "--dump",
    "dump_db",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[DB]",
    help="Drill the newest logical dump (of DB, default the cluster's first database) instead.",
)
@click.option("--seed", type=int, help="Seed for the random target (to repeat a drill).")
@click.option("--keep", is_flag=True, help="Keep the workspace (data, WAL, logs) for inspection.")
@pass_ctx
def run(
    ctx: CliContext, cluster: str | None, target: str | None, dump_db: str | None, seed: int | None, keep: bool
) -> None:
    """Restore into an isolated container, prove the target was reached, run the checks, measure RTO/RPO."""
    policy = ctx.policy
    if not (cluster or policy.drill.cluster):
        raise UsageError("no cluster to drill", hint="pass --cluster or set drill.cluster in the policy")
    # A drill proves the repository, not the local cache: every object it needs is read and authenticated from the
    # repository itself, so a damaged object is found even while the cache still holds a good copy.
    repository = ctx.open_repo(cache=False)
    with ctx.lock(repository, "drill run", read_only=True), phase_display(ctx.show_progress) as phase:
        drill = Drill(repository, policy, keep=keep, log=ctx.info, phase=phase)
        if dump_db is not None:
            result = drill.dump(cluster, dump_db or None)
        else:
            result = drill.pitr(cluster, target or policy.drill.target, seed=seed)
    ctx.emit(_run_document(result), text.run)
    if not result.passed:
        raise DrillFailed("; ".join(result.failures) or "nothing was proven")


@click.command("history")
@click.option("--cluster", shell_complete=complete.clusters, help="Only this cluster.")
@click.option("--limit", type=int, default=20, show_default=True)
@pass_ctx
def history(ctx: CliContext, cluster: str | None, limit: int) -> None:
    """Past drills with RTO and RPO, newest first, and the trend."""
    from qfbackup.drill.image import default_cache_dir

    repository = ctx.open_repo()
    if cluster:
        ctx.known_cluster(cluster, repository.snapshots())
    records = load_history(
        default_cache_dir(ctx.policy) / "history.sqlite", repository.config.id, cluster=cluster, limit=limit
    )
    drills = [{**asdict(r), "failures": _messages(r.failures)} for r in records]
    ctx.emit(document("drill history", drills=drills, trend=trend(records)), text.history)
