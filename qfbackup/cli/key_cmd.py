"""``qfbackup key add|list|remove|passwd``: change how the master key is wrapped, never the data."""

from __future__ import annotations

import os
from pathlib import Path

import click

from qfbackup.cli import complete
from qfbackup.cli.context import CliContext, pass_ctx
from qfbackup.errors import UsageError
from qfbackup.ops.access import ask_passphrase, read_passphrase_file
from qfbackup.output.document import document
from qfbackup.output.text import repository as text
from qfbackup.repo.keys import Credential, list_keys, remove_key, write_keyfile


def _new_passphrase() -> Credential:
    """The new passphrase: from $QFBACKUP_NEW_PASSPHRASE_FILE (0600) or a confirmed prompt, never argv."""
    path = os.environ.get("QFBACKUP_NEW_PASSPHRASE_FILE")
    if path:
        return Credential.passphrase(read_passphrase_file(Path(path), "new passphrase file"))
    if not click.get_text_stream("stdin").isatty():
        raise UsageError("no new passphrase", hint="set QFBACKUP_NEW_PASSPHRASE_FILE to a 0600 file, or run on a TTY")
    return Credential.passphrase(ask_passphrase("New passphrase: ", confirm=True))


@click.group()
def key() -> None:
    """Manage the repository's keys (passphrases and key files)."""


@key.command("add")
@click.option("--keyfile", type=click.Path(dir_okay=False, path_type=Path), help="Create a new key file here.")
@click.option("--label", default="", help="A note to recognise this key by.")
@pass_ctx
def add(ctx: CliContext, keyfile: Path | None, label: str) -> None:
    """Add a passphrase or a new key file that also opens the repository."""
    repository = ctx.open_repo()
    cred = Credential("keyfile", write_keyfile(keyfile)) if keyfile else _new_passphrase()
    info = repository.add_key(cred, label=label)
    doc = document("key add", id=info.id, kind=info.kind, label=info.label, created=info.created)
    ctx.emit(doc, text.key_add)


@key.command("list")
@pass_ctx
def list_(ctx: CliContext) -> None:
    """List the keys (never their secrets)."""
    repository = ctx.open_repo()
    keys = list_keys(repository.store)
    rows = [
        {
            "id": k.id,
            "kind": k.kind,
            "label": k.label,
            "created": k.created,
            "host": k.host,
            "current": k.id == repository.key_id,
        }
        for k in keys
    ]
    ctx.emit(document("key list", keys=rows), text.key_list)


@key.command()
@click.argument("key_id", shell_complete=complete.key_ids)
@pass_ctx
def remove(ctx: CliContext, key_id: str) -> None:
    """Remove a key (not the one in use, not the last one)."""
    repository = ctx.open_repo()
    remove_key(repository.store, key_id, repository.key_id)
    ctx.emit(document("key remove", id=key_id), text.key_remove)


@key.command()
@pass_ctx
def passwd(ctx: CliContext) -> None:
    """Change the passphrase you unlocked with; the old one stops working."""
    repository = ctx.open_repo()
    old = repository.key_id
    info = repository.change_passphrase(_new_passphrase())
    ctx.emit(document("key passwd", id=info.id, replaced_key_id=old), text.key_passwd)
