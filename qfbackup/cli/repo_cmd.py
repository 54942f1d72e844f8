"""``qfbackup repo init|cleanup|info``."""

from __future__ import annotations

from pathlib import Path

import click

from qfbackup.cli.context import CliContext, pass_ctx
from qfbackup.ops.access import repo_url, resolve_credential, s3_options
from qfbackup.repo.cleanup import cleanup as run_cleanup
from qfbackup.repo.keys import Credential, write_keyfile
from qfbackup.repo.repository import Repository
from qfbackup.repo.store import open_store


@click.group()
def repo() -> None:
    """Create and maintain the repository."""


@repo.command()
@click.option(
    "--escrow-keyfile",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a new key file here (0600): the escrow copy to keep offline.",
)
@pass_ctx
def init(ctx: CliContext, escrow_keyfile: Path | None) -> None:
    """Create a new, empty, encrypted repository (its off-site mirror is made by `qfbackup copy`)."""
    policy = ctx.policy_or_none()
    url = repo_url(policy, ctx.repo_url)
    store = open_store(url, s3_options=s3_options(policy, url))
    cred = resolve_credential(policy, confirm=True)
    # The escrow file first (never overwriting): a repository whose escrow key could not be written is worse
    # than no repository, since the operator believes the escrow exists.
    escrow = write_keyfile(escrow_keyfile) if escrow_keyfile else None
    try:
        repository = Repository.init(store, cred, **_layout(policy))
    except BaseException:
        if escrow_keyfile:
            escrow_keyfile.unlink(missing_ok=True)
        raise
    result = {"repository": store.url, "id": repository.config.id, "key": repository.key_id}
    if escrow is not None:
        info = repository.add_key(Credential("keyfile", escrow), label="escrow key file")
        result["escrow_key"] = info.id
        result["escrow_keyfile"] = str(escrow_keyfile)
    ctx.result(result, f"created repository {repository.config.id} at {store.url}")


def _layout(policy) -> dict:
    if policy is None:
        return {}
    r = policy.repository
    return {"chunk_avg": r.chunk_avg_kib * 1024, "pack_size": r.pack_size_mib * 1024 * 1024}


@repo.command()
@click.option("--dry-run", is_flag=True, help="Only show what would be removed.")
@pass_ctx
def cleanup(ctx: CliContext, dry_run: bool) -> None:
    """Remove packs and temporary files left by interrupted backups (takes the exclusive lock)."""
    repository = ctx.open_repo()
    with ctx.lock(repository, "repo cleanup", exclusive=True):
        report = run_cleanup(repository, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    ctx.result(
        {
            "dry_run": dry_run,
            "packs": report.removed_packs,
            "bytes": report.removed_bytes,
            "temp_files": report.removed_temp,
        },
        f"{verb} {len(report.removed_packs)} unreferenced pack(s), {report.removed_bytes} bytes; "
        f"{report.removed_temp} temporary file(s)",
    )


@repo.command()
@pass_ctx
def info(ctx: CliContext) -> None:
    """Show the repository's format, layout and size."""
    repository = ctx.open_repo()
    cfg = repository.config
    packs = list(repository.store.list("data/"))
    data = {
        "repository": repository.store.url,
        "id": cfg.id,
        "format_version": cfg.version,
        "created": cfg.created,
        "chunk_avg": cfg.chunk_avg,
        "pack_size": cfg.pack_size,
        "packs": len(packs),
        "stored_bytes": sum(p.size for p in packs),
        "snapshots": len(repository.snapshots()),
    }
    ctx.result(data, "\n".join(f"{k:15} {v}" for k, v in data.items()))
