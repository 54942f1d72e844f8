"""``qfbackup copy --to offsite``: mirror missing objects to the off-site S3 copy."""

from __future__ import annotations

from dataclasses import asdict

import click

from qfbackup.cli.context import CliContext, pass_ctx
from qfbackup.errors import IntegrityError
from qfbackup.ops.access import offsite_store
from qfbackup.output.document import document
from qfbackup.output.text import repository as text
from qfbackup.repo.mirror import destination_lock, plan_copy, run_copy


@click.command()
@click.option(
    "--to",
    "target",
    default="offsite",
    show_default=True,
    help="'offsite' (the policy's [offsite]) or a URL such as s3://bucket/prefix.",
)
@pass_ctx
def copy(ctx: CliContext, target: str) -> None:
    """Copy everything the off-site copy lacks (idempotent, resumable)."""
    repository = ctx.open_repo()
    dst = offsite_store(ctx.policy_or_none(), target)
    src = repository.store
    with ctx.lock(repository, "copy"), destination_lock(src, dst, lock_wait=ctx.lock_wait, warn=ctx.warn):
        plan = plan_copy(src, dst)
        # Not the URL: a long one would squeeze the figures off a narrow terminal (the result names it).
        with ctx.progress("copying to the mirror", total=plan.bytes) as progress:
            report = run_copy(plan, progress=progress)
    ctx.emit(document("copy", to=dst.url, **asdict(report)), text.copy)
    if report.corrupt:
        raise IntegrityError(
            f"{len(report.corrupt)} local object(s) are corrupt and were not copied: {', '.join(report.corrupt[:5])}",
            hint="run `qfbackup verify --read-data`; the off-site copy has everything else",
        )
