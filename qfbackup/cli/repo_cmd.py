"""``qfbackup repo init|cleanup|info``."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import click

from qfbackup.cli.context import CliContext, pass_ctx
from qfbackup.ops.access import repo_url, resolve_credential, s3_options
from qfbackup.output.document import document
from qfbackup.output.text import repository as text
from qfbackup.repo.cleanup import cleanup as run_cleanup
from qfbackup.repo.keys import Credential, write_keyfile
from qfbackup.repo.lock import LockInfo, read_locks
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
    escrow_id = None
    if escrow is not None:
        escrow_id = repository.add_key(Credential("keyfile", escrow), label="escrow key file").id
    doc = document(
        "repo init",
        repository=store.url,
        id=repository.config.id,
        key_id=repository.key_id,
        escrow_key_id=escrow_id,
        escrow_keyfile=escrow_keyfile,
    )
    ctx.emit(doc, text.repo_init)


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
    doc = document(
        "repo cleanup",
        dry_run=dry_run,
        packs=report.removed_packs,
        bytes=report.removed_bytes,
        temp_files=report.removed_temp,
    )
    ctx.emit(doc, text.repo_cleanup)


@repo.command()
@pass_ctx
def info(ctx: CliContext) -> None:
    """Show the repository's format, layout, size, what it holds and its locks."""
    repository = ctx.open_repo()
    cfg = repository.config
    packs = list(repository.store.list("data/"))
    now = time.time()
    doc = document(
        "repo info",
        repository=repository.store.url,
        id=cfg.id,
        format_version=cfg.version,
        created=cfg.created,
        chunk_avg=cfg.chunk_avg,
        pack_size=cfg.pack_size,
        packs=len(packs),
        stored_bytes=sum(p.size for p in packs),
        snapshots=Counter(s.kind for s in repository.snapshots()),
        locks=[_lock(lock, now) for lock in sorted(read_locks(repository.store), key=lambda lock: lock.created)],
    )
    ctx.emit(doc, text.repo_info)


def _lock(lock: LockInfo, now: float) -> dict:
    """A lock as its document shows it: the id from its object name, the holder's epoch times as UTC times."""
    return {
        "id": lock.name.removeprefix("locks/"),
        "exclusive": lock.exclusive,
        "command": lock.command,
        "host": lock.host,
        "pid": lock.pid,
        "created": datetime.fromtimestamp(lock.created, UTC),
        "refreshed": datetime.fromtimestamp(lock.refreshed, UTC),
        "stale": lock.is_stale(now),
    }
