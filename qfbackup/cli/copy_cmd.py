"""``qfbackup copy --to offsite``: mirror missing objects to the off-site S3 copy."""

from __future__ import annotations

from dataclasses import asdict

import click

from qfbackup.cli.context import CliContext, pass_ctx
from qfbackup.errors import IntegrityError
from qfbackup.ops.access import offsite_store
from qfbackup.repo.mirror import copy_repository


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
    with ctx.lock(repository, "copy"), ctx.progress(f"copying to {dst.url}") as progress:
        report = copy_repository(repository.store, dst, progress=progress, lock_wait=ctx.lock_wait, warn=ctx.warn)
    ctx.result(
        {"to": dst.url, **asdict(report)},
        f"copied {report.copied} object(s), {report.bytes_copied} bytes to {dst.url}; {report.present} already there",
    )
    if report.corrupt:
        raise IntegrityError(
            f"{len(report.corrupt)} local object(s) are corrupt and were not copied: {', '.join(report.corrupt[:5])}",
            hint="run `qfbackup verify --read-data`; the off-site copy has everything else",
        )
