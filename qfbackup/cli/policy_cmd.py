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
    from qfbackup.output.document import document
    from qfbackup.output.text import policy as text
    from qfbackup.policy.summary import policy_summary

    if file is not None:
        ctx.policy_path = file
    loaded = ctx.policy
    for warning in loaded.warnings:
        ctx.warn(warning)
    shown = {"policy": loaded.redacted()} if show else {}
    doc = document(
        "policy check",
        valid=True,
        source=loaded.source,
        summary=policy_summary(loaded),
        warnings=[{"code": n.code, "key": n.key, "message": n.message} for n in loaded.notices],
        **shown,
    )
    ctx.emit(doc, text.check)
