"""What WAL the repository holds for a cluster, read from its ``wal`` snapshots.

Each ``wal pull`` run commits batches as snapshots of kind ``wal`` (source = cluster name): one stream per
archive file, named by its WAL file name, with ``meta["files"][name] = {kind, size, mtime}``. Files that failed
validation go to ``wal-quarantine`` snapshots instead, never into the catalogue of good WAL. This module merges
all of them into one view: the progress record of the pull lives in the repository, not in a local file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qfbackup.pg import wal
from qfbackup.repo.catalog import Snapshot, StreamRef

WAL_KIND = "wal"
QUARANTINE_KIND = "wal-quarantine"


@dataclass(frozen=True)
class StoredWal:
    name: str
    kind: str
    size: int
    mtime: float  # when PostgreSQL archived it (the file's mtime on the host)
    snapshot: str
    ref: StreamRef


@dataclass
class WalCatalog:
    cluster: str
    files: dict[str, StoredWal] = field(default_factory=dict)
    quarantined: dict[str, dict] = field(default_factory=dict)  # name -> {size, mtime, reason}
    system_identifier: int | None = None

    @classmethod
    def from_snapshots(cls, cluster: str, snapshots: list[Snapshot]) -> WalCatalog:
        cat = cls(cluster)
        for snap in sorted(snapshots, key=lambda s: s.time):
            if snap.source != cluster:
                continue
            if snap.kind == WAL_KIND:
                for name, info in snap.meta.get("files", {}).items():
                    cat.files.setdefault(
                        name, StoredWal(name, info["kind"], info["size"], info["mtime"], snap.id, snap.streams[name])
                    )
                    cat.quarantined.pop(name, None)
                if snap.meta.get("system_identifier") is not None:
                    cat.system_identifier = snap.meta["system_identifier"]
            elif snap.kind == QUARANTINE_KIND:
                for name, info in snap.meta.get("files", {}).items():
                    if name not in cat.files:
                        cat.quarantined[name] = info
        return cat

    @classmethod
    def load(cls, repo, cluster: str) -> WalCatalog:
        return cls.from_snapshots(cluster, [s for s in repo.snapshots() if s.kind in (WAL_KIND, QUARANTINE_KIND)])

    def segments(self) -> list[str]:
        return wal.sort_wal_names(n for n, f in self.files.items() if f.kind == wal.WalKind.SEGMENT)

    def newest_segment(self) -> StoredWal | None:
        segs = self.segments()
        return self.files[segs[-1]] if segs else None

    def gaps(self) -> list[wal.Gap]:
        return wal.find_gaps(self.segments())

    def open_gaps(self, newest_backup_start: int | None) -> tuple[list[wal.Gap], list[wal.Gap]]:
        """(gaps that still break recovery from the newest base backup, gaps a newer backup has superseded).

        A gap before the newest base backup only shortens the point-in-time window; it stops being an alarm
        once a backup after it exists, else ``wal status`` would alert forever about WAL that no longer exists.
        """
        gaps = self.gaps()
        if newest_backup_start is None:
            return gaps, []
        return (
            [g for g in gaps if g.last_segno >= newest_backup_start],
            [g for g in gaps if g.last_segno < newest_backup_start],
        )

    def timelines(self) -> dict[int, int]:
        """Timeline -> number of stored segments on it."""
        counts: dict[int, int] = {}
        for name in self.segments():
            tli = wal.classify(name).timeline
            counts[tli] = counts.get(tli, 0) + 1
        return counts
