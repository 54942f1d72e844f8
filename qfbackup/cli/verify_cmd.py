"""``qfbackup verify [--read-data [--subset PCT]]``."""

from __future__ import annotations

from dataclasses import asdict

import click

from qfbackup.cli.context import CliContext, pass_ctx
from qfbackup.errors import IntegrityError
from qfbackup.repo.check import verify as run_verify


@click.command()
@click.option("--read-data", is_flag=True, help="Download, authenticate and decompress every referenced object.")
@click.option(
    "--subset",
    type=click.FloatRange(0.01, 100.0),
    default=100.0,
    show_default=True,
    help="With --read-data: percentage of packs to read, chosen at random.",
)
@pass_ctx
def verify(ctx: CliContext, read_data: bool, subset: float) -> None:
    """Check the repository; exit 4 and name every missing or corrupt object."""
    repository = ctx.open_repo(cache=False)  # verify looks at the repository itself, never at local copies
    with ctx.lock(repository, "verify", read_only=True), ctx.progress("reading packs") as progress:
        report = run_verify(repository, read_data=read_data, subset=subset, progress=progress)
    data = asdict(report)
    data["ok"] = report.ok
    lines = [
        f"{report.snapshots} snapshots, {report.indexes} indexes, {report.packs} packs checked"
        + (
            f"; read {report.packs_read} packs ({report.bytes_read} bytes, {report.blobs_checked} blobs)"
            if read_data
            else ""
        )
    ]
    if report.orphan_packs:
        lines.append(
            f"{len(report.orphan_packs)} unreferenced pack(s) from interrupted backups "
            "(harmless; `qfbackup repo cleanup` removes them)"
        )
    lines += [f"ERROR {p.describe()}" for p in report.errors]
    if report.ok:
        ctx.result(data, "\n".join([*lines, "repository OK"]))
        return
    ctx.result(data, None)
    if not ctx.as_json:
        for line in lines:
            click.echo(line, err=True)
    raise IntegrityError(
        f"{len(report.errors)} problem(s) found",
        hint="see the ERROR lines; restore affected data "
        "from the off-site copy (`qfbackup copy` goes the other way with --repo/--to)",
    )
