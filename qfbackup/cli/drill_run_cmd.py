"""``qfbackup drill run`` and ``qfbackup drill history``."""

from __future__ import annotations

import click

from qfbackup.cli.context import CliContext, pass_ctx
from qfbackup.drill.history import history as load_history
from qfbackup.drill.history import trend
from qfbackup.drill.run import Drill
from qfbackup.errors import DrillFailed, UsageError


def _describe(r: dict) -> str:
    verdict = "PASSED" if r["passed"] else "FAILED"
    t = r["target"]
    lines = [
        f"drill {r['id']} ({r['kind']}) of {r['cluster']}: {verdict}",
        f"  target      {t.get('kind', t.get('spec'))} {t.get('value', '')}",
        f"  backup      {(r.get('backup') or '-')[:12]}  WAL files staged: {r.get('wal_files', 0)}  engine: "
        f"{r.get('engine') or '-'}",
        "  RTO         "
        + (
            f"{r['rto_seconds']:.1f} s  (" + ", ".join(f"{k} {v:.1f} s" for k, v in r["phases"].items()) + ")"
            if r.get("rto_seconds") is not None
            else "-"
        ),
        "  RPO         "
        + (", ".join(f"{k.replace('_s', '')} {v:.0f} s" for k, v in r["rpo"].items() if v is not None) or "-"),
    ]
    lines += [f"  proof       {p}" for p in r["proofs"]]
    lines += [
        f"  check       {'ok  ' if c['ok'] else 'FAIL'} {c['name']}: {c['value']} (expect {c['expect']})"
        + (f" - {c['why']}" if c["why"] else "")
        for c in r["checks"]
    ]
    lines += [f"  FAILURE     {f}" for f in r["failures"]]
    if r.get("kept"):
        lines.append(f"  kept        {r['kept']}")
    return "\n".join(lines)


@click.command("run")
@click.option("--cluster", help="Cluster to drill (default: the policy's drill.cluster).")
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
    drill = Drill(repository, policy, keep=keep, log=ctx.info)
    with ctx.lock(repository, "drill run", read_only=True):
        if dump_db is not None:
            result = drill.dump(cluster, dump_db or None)
        else:
            result = drill.pitr(cluster, target or policy.drill.target, seed=seed)
    data = result.to_dict()
    ctx.result(data, _describe(data))
    if not result.passed:
        raise DrillFailed("; ".join(result.failures) or "nothing was proven")


@click.command("history")
@click.option("--cluster", help="Only this cluster.")
@click.option("--limit", type=int, default=20, show_default=True)
@pass_ctx
def history(ctx: CliContext, cluster: str | None, limit: int) -> None:
    """Past drills with RTO and RPO, newest first, and the trend."""
    from qfbackup.drill.image import default_cache_dir

    repository = ctx.open_repo()
    if cluster:
        ctx.known_cluster(cluster, repository.snapshots())
    rows = load_history(
        default_cache_dir(ctx.policy) / "history.sqlite", repository.config.id, cluster=cluster, limit=limit
    )
    summary = trend(rows)
    lines = [
        f"{r['started_at'][:19]}  {r['id']}  {r['cluster']:14} {r['kind']:5} "
        f"{'PASSED' if r['passed'] else 'FAILED'}  RTO "
        + (f"{r['rto_seconds']:.1f} s  " if r["rto_seconds"] is not None else "-  ")
        + "RPO "
        + (f"{rpo:.0f} s" if (rpo := r["rpo"].get("newest_wal_to_now_s")) is not None else "-")
        for r in rows
    ]
    if summary:
        lines.append(
            f"{summary['passed']}/{summary['drills']} passed; last RTO "
            + (f"{summary['last_rto_seconds']} s" if summary["last_rto_seconds"] is not None else "-")
            + (
                f"; recent mean {summary['rto_recent_mean_s']} s vs older {summary['rto_older_mean_s']} s"
                if "rto_recent_mean_s" in summary
                else ""
            )
        )
    ctx.result({"drills": rows, "trend": summary}, "\n".join(lines) or "no drills yet")
