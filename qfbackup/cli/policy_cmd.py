"""``qfbackup policy``: validate a policy and show what it means once every default is filled in."""

from __future__ import annotations

import click

from qfbackup.cli.context import CliContext, pass_ctx


@click.group()
def policy() -> None:
    """Inspect and validate the backup policy."""


@policy.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@pass_ctx
def check(ctx: CliContext, file: str | None) -> None:
    """Validate the policy (FILE, else --policy) and print it with defaults filled in and secrets redacted.

    Exit 0 when valid, 2 with every problem named by key when not.
    """
    from qfbackup.policy.render import policy_summary, render_policy

    if file is not None:
        ctx.policy_path = file
    loaded = ctx.policy
    data = loaded.redacted()
    for warning in loaded.warnings:
        ctx.warn(warning)
    ctx.result(
        {"valid": True, "source": loaded.source, "warnings": list(loaded.warnings), "policy": data},
        human=f"{render_policy(data)}\n# {policy_summary(loaded)}",
    )
