"""``qfbackup verify [--read-data [--subset PCT]]``."""

from __future__ import annotations

import click

from qfbackup.cli.context import CliContext, pass_ctx
from qfbackup.errors import IntegrityError
from qfbackup.output.document import document
from qfbackup.output.text import repository as text
from qfbackup.repo.check import Verifier


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
    with ctx.lock(repository, "verify", read_only=True):
        verifier = Verifier(repository)
        if read_data:
            plan = verifier.plan_read(subset)
            with ctx.progress("reading packs", total=plan.bytes) as progress:
                verifier.read_data(plan, progress=progress)
    report = verifier.report
    doc = document(
        "verify",
        ok=report.ok,
        snapshots=report.snapshots,
        indexes=report.indexes,
        packs=report.packs,
        read_data=read_data,
        subset=subset,
        packs_read=report.packs_read,
        bytes_read=report.bytes_read,
        blobs_checked=report.blobs_checked,
        errors=report.errors,
        orphan_packs=report.orphan_packs,
    )
    if report.ok:
        ctx.emit(doc, text.verify)
        return
    # The problems are the failure: in words on stderr (even under -q, as cron mails it), JSON on stdout.
    if ctx.as_json:
        ctx.emit(doc)
    else:
        click.echo(text.verify(doc), err=True)
    raise IntegrityError(
        f"{len(report.errors)} problem(s) found",
        hint="see the ERROR lines; restore affected data "
        "from the off-site copy (`qfbackup copy` goes the other way with --repo/--to)",
    )
