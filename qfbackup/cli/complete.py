"""Shell completion of what only the policy and the repository know: cluster and host names, snapshot ids, snapshot
kinds, key ids.

Commands and options complete through click itself (``_QFBACKUP_COMPLETE``, docs/cli.md); these are the
``shell_complete=`` callbacks of the options and arguments that name a cluster, a snapshot or a kind. Each TAB runs
them in a short process of its own while the shell owns the terminal, so they are quiet and bounded:

- nothing rather than an error: without a policy, a repository or a configured credential they offer no candidates
  and print nothing (no traceback, no warning, never a secret); a passphrase is never prompted for;
- no lock: snapshots are immutable and committed atomically, so reading them without one is safe (one removed
  meanwhile just drops out), and nothing can make completion wait for another job;
- a deadline of ``DEADLINE_S`` for everything the repository is asked (a slow or dead S3 endpoint retries with
  backoff; a hung mount never answers): what has not come back by then is not offered. The configuration, the keys
  and the snapshot listing come from the store itself (the local cache, named by the repository's id, holds only
  indexes and snapshots); snapshots are then read through that cache when the policy has one;
- snapshot ids are matched on the listing, and at most ``MAX_LOADED`` matching snapshots are read for their kind,
  source and time (a longer list means: type more of the id).
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable
from typing import TypeVar

import click
from click.shell_completion import CompletionItem

from qfbackup.catalog.kinds import BASEBACKUP, CLUSTER_KINDS, DUMP, FILES
from qfbackup.cli.context import CliContext

DEADLINE_S = 3.0
MAX_LOADED = 256

T = TypeVar("T")
Completer = Callable[[click.Context, click.Parameter, str], list[CompletionItem]]


def _cli_context(ctx: click.Context) -> CliContext:
    """The global options as typed (or from $QFBACKUP_POLICY / $QFBACKUP_REPO): completion never runs the group's
    callback, so click's parsed values are all there is."""
    params = ctx.find_root().params
    return CliContext(policy_path=params.get("policy_path"), repo_url=params.get("repo_url"))


def _open_repository(cli: CliContext):
    """The repository, opened as every command opens it, but only with a credential that needs no prompt."""
    from qfbackup.ops.access import resolve_credential

    resolve_credential(cli.policy_or_none(), prompt=False)  # raises when only a prompt could unlock
    return cli.open_repo()


def _gather(steps: list[Callable[[], T]]) -> list[T]:
    """What ``steps``, run in order in a daemon thread, have returned by the deadline; a step that fails gives
    nothing. Logging and warnings are silenced: the completion process exits right after, and anything on stderr
    would land in the middle of the user's command line."""
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    done: list[T] = []

    def run() -> None:
        for step in steps:
            try:
                done.append(step())
            except Exception:  # completion must never fail: a step that cannot answer offers nothing
                continue

    worker = threading.Thread(target=run, name="qfbackup-complete", daemon=True)
    worker.start()
    worker.join(DEADLINE_S)
    return list(done)


def clusters(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Cluster names from the policy and from the repository's snapshots (all that is left after a disaster); the
    help says where each name was found. The policy's names are offered even when the repository is too slow."""
    from qfbackup.catalog.kinds import cluster_names

    cli = _cli_context(ctx)

    def in_policy() -> dict[str, str]:
        policy = cli.policy_or_none()
        return dict.fromkeys(policy.clusters if policy is not None else (), "in the policy")

    def in_repository() -> dict[str, str]:
        return dict.fromkeys(cluster_names(_open_repository(cli).snapshots()), "in the repository")

    found: dict[str, list[str]] = {}
    for names in _gather([in_policy, in_repository]):
        for name, where in names.items():
            found.setdefault(name, []).append(where)
    return [CompletionItem(n, help=", ".join(w)) for n, w in sorted(found.items()) if n.startswith(incomplete)]


def hosts(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Host names from the policy, with their address as the help."""
    cli = _cli_context(ctx)

    def in_policy() -> list[CompletionItem]:
        policy = cli.policy_or_none()
        found = policy.hosts.items() if policy is not None else ()
        return [CompletionItem(n, help=h.address) for n, h in sorted(found) if n.startswith(incomplete)]

    return [item for items in _gather([in_policy]) for item in items]


def key_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """The repository's key ids that start with what was typed, with kind and label as the help."""
    from qfbackup.repo.keys import list_keys

    cli = _cli_context(ctx)

    def in_repository() -> list[CompletionItem]:
        keys = list_keys(_open_repository(cli).store)
        return [CompletionItem(k.id, help=f"{k.kind} {k.label}".strip()) for k in keys if k.id.startswith(incomplete)]

    return [item for items in _gather([in_repository]) for item in items]


def snapshot_ids(*kinds: str) -> Completer:
    """A completer of the ids of snapshots of ``kinds`` (any kind when none is given) that start with what was typed
    (a short id as ``list`` prints it, or less), newest first, with kind, source and time as the help."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        cli = _cli_context(ctx)
        return [item for items in _gather([lambda: _matching_snapshots(cli, incomplete, kinds)]) for item in items]

    return complete


def _matching_snapshots(cli: CliContext, prefix: str, kinds: tuple[str, ...]) -> list[CompletionItem]:
    from qfbackup.errors import QfError
    from qfbackup.output.humanize import when
    from qfbackup.output.words import kind_word
    from qfbackup.repo import catalog

    repository = _open_repository(cli)
    ids = [i for i in catalog.snapshot_ids(repository.store) if i.startswith(prefix)]
    if len(ids) > MAX_LOADED:
        return []
    snaps = []
    for snap_id in ids:
        try:
            snaps.append(catalog.load_snapshot(repository.store, repository.keys, snap_id))
        except QfError:  # damaged, or removed since the listing: not a candidate
            continue
    snaps.sort(key=lambda s: s.time, reverse=True)
    return [
        CompletionItem(s.id, help=f"{kind_word(s.kind)} of {s.source}, {when(s.time)}")
        for s in snaps
        if not kinds or s.kind in kinds
    ]


def snapshot_kinds(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """The kinds of snapshot (catalog/kinds.py), with the words text uses for them."""
    from qfbackup.output.words import kind_word

    return [CompletionItem(k, help=kind_word(k)) for k in sorted(CLUSTER_KINDS | {FILES}) if k.startswith(incomplete)]


any_snapshot_id = snapshot_ids()
base_backup_id = snapshot_ids(BASEBACKUP)
dump_id = snapshot_ids(DUMP)
file_set_id = snapshot_ids(FILES)
