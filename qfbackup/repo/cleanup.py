"""``repo cleanup``: remove what interrupted writers left behind. Needs the exclusive lock.

An interrupted backup may leave packs that no index names, indexes whose data no snapshot references, and
temporary files. Only the first and last are removed here: such packs cannot be referenced by any snapshot
(snapshots only name indexed blobs), and the exclusive lock guarantees no writer is about to index them.
Unreferenced-but-indexed data stays until prune (a later issue) rewrites indexes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qfbackup.repo.index import pack_name


@dataclass
class CleanupReport:
    removed_packs: list[str] = field(default_factory=list)
    removed_bytes: int = 0
    removed_temp: int = 0


def cleanup(repo, *, dry_run: bool = False) -> CleanupReport:
    report = CleanupReport()
    repo.invalidate_index()
    indexed = {pack_name(p) for p in repo.index.packs()}
    for obj in repo.store.list("data/"):
        if obj.name not in indexed:
            report.removed_packs.append(obj.name)
            report.removed_bytes += obj.size
            if not dry_run:
                repo.store.delete(obj.name)
    cleanup_temp = getattr(repo.store, "cleanup_temp", None)
    if cleanup_temp and not dry_run:
        report.removed_temp = cleanup_temp()
    return report
