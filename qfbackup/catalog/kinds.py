"""The kinds of snapshot a repository holds, spelled once. A cluster's data is in four of them; file sets (model
and configuration files) are the fifth. Text names each kind apart (output/words.py): a base backup, a dump, a
WAL batch and a file-set snapshot are never all just "snapshots"."""

from __future__ import annotations

from collections.abc import Iterable

from qfbackup.repo.catalog import Snapshot

BASEBACKUP = "basebackup"
DUMP = "dump"
WAL = "wal"
WAL_QUARANTINE = "wal-quarantine"
FILES = "files"

#: kinds whose ``source`` is a PostgreSQL cluster's name
CLUSTER_KINDS = frozenset({BASEBACKUP, DUMP, WAL, WAL_QUARANTINE})
#: kinds that hold restorable cluster data (quarantined WAL is kept for inspection, not for restores)
RESTORABLE_KINDS = frozenset({BASEBACKUP, DUMP, WAL})


def cluster_names(snapshots: Iterable[Snapshot], kinds: frozenset[str] = CLUSTER_KINDS) -> set[str]:
    """The clusters the repository holds snapshots of (``kinds`` of them)."""
    return {s.source for s in snapshots if s.kind in kinds}
