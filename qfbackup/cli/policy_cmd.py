"""``qfbackup policy``: validate a policy and show what it means once every default is filled in."""

from __future__ import annotations

import click

from qfbackup.cli.context import CliContext, pass_ctx


@click.group()
def policy() -> None:
    """Inspect and validate the backup policy."""


@policy.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--show", is_flag=True, help="Also print the effective policy (defaults filled in, secrets redacted).")
@pass_ctx
def check(ctx: CliContext, file: str | None, show: bool) -> None:
    """Validate the policy (FILE, else --policy): the verdict, a summary and every warning, including each
    setting no command acts on yet.

    Exit 0 when valid (warnings go to stderr), 2 with every problem named by key when not.
    """
    from qfbackup.policy.render import check_report, check_text

    if file is not None:
        ctx.policy_path = file
    loaded = ctx.policy
    for warning in loaded.warnings:
        ctx.warn(warning)
    report = check_report(loaded, show=show)
    ctx.result(report, human=check_text(report))
